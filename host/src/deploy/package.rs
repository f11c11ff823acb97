//! `sdp-agent package-model DIR`: the agent as an MLflow pyfunc model directory, which Model
//! Serving can host. No pickle and no MLflow at build time: `MLmodel` is written here and
//! names a loader module (`code/sdp_agent_pyfunc.py`, see `host/launcher/`), whose `predict`
//! runs the static binary for the machine's CPU from `data/`. `deploy --serve model-serving`
//! uploads the same files to a Unity Catalog model version.
//!
//! The YAML files are written as JSON (a YAML 1.2 document; PyYAML reads it), so no YAML is
//! written by hand.

use super::binaries::{self, Binary};
use crate::outcome::Failure;
use bytes::Bytes;
use clap::Args;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The loader module (`host/launcher/sdp_agent_pyfunc.py`).
const LOADER: &str = include_str!("../../launcher/sdp_agent_pyfunc.py");
const LOADER_MODULE: &str = "sdp_agent_pyfunc";
/// Python of the serving container; the loader needs only the standard library.
const PYTHON_VERSION: &str = "3.11";
/// What the serving container installs: MLflow's scoring server needs pandas with it.
const REQUIREMENTS: &str = "mlflow-skinny>=2.19\npandas\n";

/// Every key a payload may carry: the guest's own list, included as source (the host cannot
/// depend on the wasm-only guest crate). MLflow's schema enforcement drops columns its
/// signature does not name, so each is named; all are `any` (MLflow's `any` keeps nested
/// values), since a DataFrame cell of a missing key must stay possible. The binary validates
/// types itself, naming the field.
mod payload_keys {
    include!("../../../guest/src/payload/keys.rs");
}
use payload_keys::KNOWN_KEYS as PAYLOAD_KEYS;

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Directory to write the model into (created; must be empty when it exists).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Folder with the release binaries (sdp-agent-<arch>-unknown-linux-musl)
    /// [default: ./dist, then the folder of this binary].
    #[arg(long, value_name = "DIR")]
    pub dist: Option<PathBuf>,
}

/// One file of the model: its path relative to the model root, and its bytes.
pub struct ModelFile {
    pub path: String,
    pub bytes: Bytes,
}

/// `MLmodel`: the pyfunc flavor with its loader module, code and data, the environment,
/// and the signature Unity Catalog requires (inputs and outputs).
fn mlmodel() -> String {
    let inputs: Vec<Value> = PAYLOAD_KEYS
        .iter()
        .map(|k| json!({"type": "any", "name": k, "required": false}))
        .collect();
    let outputs = json!([
        {"type": "long", "name": "run_id", "required": true},
        {"type": "string", "name": "run_url", "required": true},
    ]);
    let doc = json!({
        "artifact_path": "sdp-agent",
        "flavors": {
            "python_function": {
                "loader_module": LOADER_MODULE,
                "code": "code",
                "data": "data",
                "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
                "python_version": PYTHON_VERSION,
            },
        },
        "signature": {
            "inputs": Value::Array(inputs).to_string(),
            "outputs": outputs.to_string(),
            "params": null,
        },
        "metadata": {"sdp_agent_version": env!("CARGO_PKG_VERSION")},
    });
    format!("# Written by `sdp-agent package-model`.\n{doc:#}\n")
}

/// `conda.yaml`, for servers that build the environment with conda (the same packages).
fn conda_env() -> String {
    let pip: Vec<&str> = REQUIREMENTS.lines().collect();
    let doc = json!({
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [format!("python={PYTHON_VERSION}"), "pip", {"pip": pip}],
    });
    format!("{doc:#}\n")
}

fn python_env() -> String {
    let doc = json!({
        "python": PYTHON_VERSION,
        "build_dependencies": ["pip"],
        "dependencies": ["-r requirements.txt"],
    });
    format!("{doc:#}\n")
}

/// The model's files for these binaries, in a fixed order (metadata first, binaries last).
pub fn files(found: &[Binary]) -> Result<Vec<ModelFile>, Failure> {
    let text = |path: &str, content: String| ModelFile {
        path: path.to_string(),
        bytes: Bytes::from(content),
    };
    let mut out = vec![
        text("MLmodel", mlmodel()),
        text("conda.yaml", conda_env()),
        text("python_env.yaml", python_env()),
        text("requirements.txt", REQUIREMENTS.to_string()),
        text(&format!("code/{LOADER_MODULE}.py"), LOADER.to_string()),
    ];
    for binary in found {
        let bytes = binary.read()?;
        out.push(ModelFile {
            path: format!("data/{}", binary.volume_name()),
            bytes: Bytes::from(bytes),
        });
    }
    Ok(out)
}

fn write(dir: &Path, files: &[ModelFile]) -> Result<(), Failure> {
    let fail = |what: &Path, e: std::io::Error| {
        Failure::Config(format!("{}: cannot write: {e}", what.display()))
    };
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).map_err(|e| fail(dir, e))?;
        if entries.next().is_some() {
            return Err(Failure::Config(format!(
                "{}: not empty (package-model writes a new model directory)",
                dir.display()
            )));
        }
    }
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        std::fs::write(&path, &file.bytes).map_err(|e| fail(&path, e))?;
    }
    Ok(())
}

/// Writes the model directory; answers what it wrote.
pub fn run(args: &PackageArgs) -> Result<Value, Failure> {
    let found = binaries::find(args.dist.as_deref())?;
    binaries::require_static(&found, "Model Serving")?;
    let files = files(&found)?;
    write(&args.dir, &files)?;
    let listed: Vec<Value> = files
        .iter()
        .map(|f| json!({"path": f.path, "bytes": f.bytes.len()}))
        .collect();
    Ok(json!({
        "model_dir": args.dir.display().to_string(),
        "files": listed,
        "binaries": found.iter().map(|b| b.arch).collect::<Vec<_>>(),
    }))
}
