//! The Python launcher on a (fake) Databricks runtime: workspace URL and token come from the
//! runtime context as the SDK's runtime auth reads them, never from the control-plane
//! `apiUrl`, and reach the binary through the metadata-service protocol (re-read on demand).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A folder of fake runtime modules, removed on drop.
struct FakeRuntime {
    dir: PathBuf,
}

impl FakeRuntime {
    fn new(name: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sdp-agent-fake-runtime-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        FakeRuntime { dir }
    }

    fn reads(&self) -> usize {
        std::fs::read_to_string(self.dir.join("token-reads"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for FakeRuntime {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `dbruntime.databricks_repl_context.get_context()`: what the SDK's runtime auth reads.
const REPL_CONTEXT: &str = r#"
import os

class _Context:
    workspaceUrl = os.environ["FAKE_WORKSPACE_URL"]

    @property
    def apiToken(self):
        with open(os.path.join(os.environ["FAKE_RUNTIME_DIR"], "token-reads"), "a") as f:
            f.write("read\n")
        return os.environ["FAKE_API_TOKEN"]

def get_context():
    return _Context()
"#;

/// `pyspark.dbutils.DBUtils(spark).notebook.entry_point.getDbutils().notebook().getContext()`
/// of an older runtime, whose `apiUrl` is a control-plane address the workspace API is not on.
const DBUTILS: &str = r#"
import os

class _Option:
    def __init__(self, value):
        self.value = value
    def getOrElse(self, default):
        return self.value if self.value is not None else default

class _Context:
    def apiUrl(self):
        return _Option("http://127.0.0.1:9")
    def browserHostName(self):
        return _Option(os.environ["FAKE_WORKSPACE_URL"])
    def apiToken(self):
        return _Option(os.environ["FAKE_API_TOKEN"])

class _Notebook:
    def getContext(self):
        return _Context()

class _Dbutils:
    def notebook(self):
        return _Notebook()

class _EntryPoint:
    def getDbutils(self):
        return _Dbutils()

class _NotebookHandle:
    entry_point = _EntryPoint()

class DBUtils:
    def __init__(self, spark):
        self.notebook = _NotebookHandle()
"#;

const SPARK_SQL: &str = r#"
class _Builder:
    def getOrCreate(self):
        return object()

class SparkSession:
    builder = _Builder()
"#;

fn launch(fake: &FakeRuntime, emu: &sdp_emulator::Emulator, payload_arg: &str) -> Output {
    let mut cmd = Command::new("python3");
    cmd.arg(launcher())
        .arg(payload_arg)
        .env("SDP_AGENT_BIN", agent_bin())
        .env("PYTHONPATH", &fake.dir)
        .env("DATABRICKS_RUNTIME_VERSION", "15.4")
        .env("FAKE_RUNTIME_DIR", &fake.dir)
        .env("FAKE_WORKSPACE_URL", emu.url())
        .env("FAKE_API_TOKEN", emu.token().unwrap())
        // Stale settings in the job's environment lose to the runtime's own.
        .env("DATABRICKS_HOST", "http://127.0.0.1:9")
        .env("DATABRICKS_TOKEN", "dapi-stale")
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .env("DATABRICKS_CONFIG_FILE", "/nonexistent/.databrickscfg");
    cmd.output().expect("python3 runs")
}

fn assert_ran(out: &Output, emu: &sdp_emulator::Emulator, name: &str) {
    stdout_of_success(out);
    assert_eq!(pipelines_named(emu, name).len(), 1);
    let bearer = format!("Bearer {}", emu.token().unwrap());
    for r in emu.requests() {
        assert_eq!(
            r.authorization.as_deref(),
            Some(bearer.as_str()),
            "{}",
            r.path
        );
    }
}

#[test]
fn the_repl_context_gives_the_workspace_and_its_token() {
    let fake = FakeRuntime::new(
        "repl",
        &[
            ("dbruntime/__init__.py", ""),
            ("dbruntime/databricks_repl_context.py", REPL_CONTEXT),
        ],
    );
    let emu = emulator();
    let payload = full_payload(&emu, "from_runtime");
    let out = launch(&fake, &emu, &b64(&payload));
    assert_ran(&out, &emu, "from_runtime");
    assert!(
        fake.reads() >= 2,
        "read to check it, then served from the context"
    );
}

#[test]
fn the_notebook_context_gives_the_browser_host_not_the_api_url() {
    let fake = FakeRuntime::new(
        "notebook",
        &[
            ("pyspark/__init__.py", ""),
            ("pyspark/dbutils.py", DBUTILS),
            ("pyspark/sql.py", SPARK_SQL),
        ],
    );
    let emu = emulator();
    let payload = full_payload(&emu, "from_notebook");
    let out = launch(&fake, &emu, &b64(&payload));
    assert_ran(&out, &emu, "from_notebook");
}

/// The CA bundle Python uses reaches the binary as SSL_CERT_FILE, and the binary uses it.
#[test]
fn the_ca_bundle_is_passed_on_as_ssl_cert_file() {
    let emu = emulator();
    let payload = full_payload(&emu, "ca_bundle");
    let missing = Path::new("/nonexistent/corporate-ca.pem");
    let out = Command::new("python3")
        .arg(launcher())
        .arg(b64(&payload))
        .env("SDP_AGENT_BIN", agent_bin())
        .env_remove("DATABRICKS_RUNTIME_VERSION")
        .env_remove("SSL_CERT_FILE")
        .env("REQUESTS_CA_BUNDLE", missing)
        .env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_TOKEN", emu.token().unwrap())
        .output()
        .expect("python3 runs");
    assert_eq!(out.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["kind"], "config", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("SSL_CERT_FILE") && message.contains("corporate-ca.pem"),
        "{message}"
    );
    assert!(emu.requests().is_empty());
}
