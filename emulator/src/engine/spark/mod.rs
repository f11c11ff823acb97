//! Apache Spark Declarative Pipelines as the emulator's engine. One Spark Connect server per
//! engine (`server.rs`), started at the first update and kept warm; each update writes the
//! pipeline's (dialect-mapped) files into the pipeline's private directory (`prepare.rs`) and
//! runs `driver.py` there against the server, as `spark-pipelines dry-run|run` would run its
//! `cli.py`, then reads the driver's JSON lines back.
//!
//! Pipelines share the server but nothing else: each has its own directory (spec, files,
//! checkpoints, its tables' files) and its own databases (`names.rs`), and every emulator
//! given the engine numbers its pipelines in a namespace of its own ([`SparkEngine::for_emulator`]).

mod driver_output;
mod graph;
mod prepare;
mod query;
mod server;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context;

use driver_output::read_lines;
use prepare::{Prepared, prepare};
pub use query::{Column, LocalSchema, Parameter, Rows};
use server::Server;

use super::names::Names;
use super::sources::SourceFile;
use super::structure::{STREAMING_FROM_MATERIALIZED_VIEW, Target, check};
use super::{Problem, Verdict};

/// The driver and the modules it imports, and the SQL warehouse's query runner, written once
/// beside the pipelines' directories.
const DRIVER_FILES: &[(&str, &str)] = &[
    ("driver.py", include_str!("driver.py")),
    // Databricks-only features: `/Volumes` paths, read_files, Auto Loader.
    ("sdp_local.py", include_str!("sdp_local.py")),
    // The pipelines API as Databricks has it (expectations, @table, AUTO CDC).
    ("sdp_api.py", include_str!("sdp_api.py")),
    // AUTO CDC into a materialized view (Parquet tables cannot MERGE).
    ("sdp_cdc.py", include_str!("sdp_cdc.py")),
    // Three-part names and the `--data` tables.
    ("sdp_names.py", include_str!("sdp_names.py")),
    // The data-quality counts after a run.
    ("sdp_quality.py", include_str!("sdp_quality.py")),
    // The flows' inputs as the engine reads them.
    ("sdp_graph.py", include_str!("sdp_graph.py")),
    // `import dlt`: the same API under its Databricks name.
    ("dlt.py", include_str!("dlt.py")),
    // A Databricks SQL statement over the tables pipelines wrote (query.rs).
    ("query.py", include_str!("query.py")),
];
/// A local pyspark install (`scripts/setup --spark`), its server and where pipelines get their
/// directories. Clones share the server.
#[derive(Clone, Debug)]
pub struct SparkEngine {
    /// The virtual environment holding `pyspark[pipelines]` (`bin/spark-submit`, `bin/python`).
    venv: PathBuf,
    shared: Arc<Shared>,
    /// The emulator whose pipelines these are: pipeline ids repeat across emulators.
    namespace: String,
}

/// What every clone of an engine shares: its directory and its server.
#[derive(Debug)]
struct Shared {
    /// `<work dir>/<engine id>`: `server/` and each emulator's pipelines' directories.
    dir: PathBuf,
    server: tokio::sync::Mutex<Option<Server>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The server first (dropping it stops it), then its files and the pipelines'.
        drop(self.server.get_mut().take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SparkEngine {
    /// Checks that `venv` has pyspark's launchers and creates this engine's directory under
    /// `work_dir` (removed with the engine). The server starts at the first update.
    pub fn new(venv: &Path, work_dir: &Path) -> anyhow::Result<SparkEngine> {
        let venv = std::path::absolute(venv)?;
        for needed in ["bin/spark-submit", "bin/python"] {
            anyhow::ensure!(
                venv.join(needed).exists(),
                "{} is missing: install the engine with scripts/setup --spark (or point --spark-venv at a venv with pyspark[pipelines])",
                venv.join(needed).display()
            );
        }
        let dir = std::path::absolute(work_dir)?.join(short_id());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // Written once: updates running side by side read them while others start.
        for (name, text) in DRIVER_FILES {
            std::fs::write(dir.join(name), text)
                .with_context(|| format!("writing {}", dir.join(name).display()))?;
        }
        Ok(SparkEngine {
            venv,
            shared: Arc::new(Shared {
                dir,
                server: tokio::sync::Mutex::new(None),
            }),
            namespace: short_id(),
        })
    }

    /// The same engine (and server) for another emulator: its pipelines get directories and
    /// databases of their own even where their ids equal another emulator's.
    pub fn for_emulator(&self) -> SparkEngine {
        SparkEngine {
            namespace: short_id(),
            ..self.clone()
        }
    }

    /// What makes a pipeline's databases on the server its own: the emulator's namespace and
    /// the pipeline's id.
    pub fn tag(&self, pipeline_id: &str) -> String {
        format!("{}{pipeline_id}", self.namespace)
    }

    /// The Spark database holding the tables pipeline `pipeline_id` (of this emulator)
    /// publishes to `catalog.schema`.
    pub fn database_of(&self, pipeline_id: &str, catalog: &str, schema: &str) -> String {
        Names::new(catalog, schema, &self.tag(pipeline_id), &[]).own(schema)
    }

    /// The server's address, starting it (again, if it stopped) when needed.
    async fn remote(&self) -> anyhow::Result<String> {
        let mut server = self.shared.server.lock().await;
        if let Some(running) = server.as_ref().filter(|s| s.alive()) {
            return Ok(running.remote());
        }
        let started = Server::start(&self.venv, &self.shared.dir.join("server")).await?;
        let remote = started.remote();
        *server = Some(started);
        Ok(remote)
    }

    /// The running server's `sc://` address, if one is running (for tests and benchmarks: the
    /// engine's clones share it).
    pub async fn server_address(&self) -> Option<String> {
        let server = self.shared.server.lock().await;
        server.as_ref().filter(|s| s.alive()).map(Server::remote)
    }

    /// Starts the server now, in the background, so that the first update finds it warm.
    pub fn warm_up(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.remote().await {
                tracing::warn!("the local Spark engine did not start: {e:#}");
            }
        });
    }
}

/// Eight hex digits, unique enough for the engines and emulators of one machine.
fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

impl SparkEngine {
    /// The installed pyspark's version (`pyspark/version.py`), when it can be read.
    pub fn version(&self) -> Option<String> {
        let lib = std::fs::read_dir(self.venv.join("lib")).ok()?;
        for entry in lib.flatten() {
            let file = entry.path().join("site-packages/pyspark/version.py");
            if let Ok(text) = std::fs::read_to_string(file) {
                let quoted = text.lines().find(|l| l.starts_with("__version__"))?;
                let version = quoted.rsplit('=').next()?.trim().trim_matches(['\'', '"']);
                return Some(version.to_string());
            }
        }
        None
    }
}

/// What an update asks of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `validate_only`: analyse the graph, write nothing.
    DryRun,
    Run,
    FullRefresh,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::DryRun => "dry-run",
            Mode::Run => "run",
            Mode::FullRefresh => "full-refresh",
        }
    }
}

/// One update's work.
#[derive(Clone, Debug)]
pub struct Job {
    pub pipeline_id: String,
    pub name: String,
    pub catalog: String,
    pub schema: String,
    pub files: Vec<SourceFile>,
    pub mode: Mode,
    /// The Unity Catalog volumes the sources name (by `/Volumes/...` path).
    pub volumes: Vec<Volume>,
    /// The pipeline's `configuration` (Spark confs, `${key}` parameters).
    pub configuration: std::collections::BTreeMap<String, String>,
    /// Tables from `--data` files, readable by their three-part names.
    pub tables: Vec<crate::data::DataTable>,
    /// `refresh_selection` and `full_refresh_selection` (dataset names).
    pub refresh: Vec<String>,
    pub full_refresh_selection: Vec<String>,
}

/// A volume's files as the engine gets them.
#[derive(Clone, Debug)]
pub struct Volume {
    /// `[catalog, schema, volume]`, lower case.
    pub names: [String; 3],
    pub files: VolumeFiles,
}

#[derive(Clone, Debug)]
pub enum VolumeFiles {
    /// A mounted volume's directory (`--data`), read in place.
    Dir(PathBuf),
    /// Files kept in the emulator's memory: (path inside the volume, bytes), written into the
    /// pipeline's directory for the update.
    Stored(Vec<(String, Vec<u8>)>),
}

impl SparkEngine {
    /// Runs the job; never fails: whatever goes wrong is a problem of the verdict.
    pub async fn execute(&self, job: Job) -> Verdict {
        let target = Target {
            catalog: &job.catalog,
            schema: &job.schema,
        };
        // The graph (for flow_definition events) comes from the structural reading; the
        // problems from Spark alone.
        let structural = check(&job.files, &target);
        let mut verdict = Verdict {
            graph: structural.graph,
            ..Verdict::default()
        };
        // Open-source Spark streams from a materialized view; Databricks refuses it.
        verdict.problems = structural
            .problems
            .into_iter()
            .filter(|p| p.class == STREAMING_FROM_MATERIALIZED_VIEW)
            .collect();
        if verdict.failed() {
            return verdict;
        }
        let dir = self.shared.dir.join(&self.namespace).join(&job.pipeline_id);
        let prepared = std::fs::create_dir_all(&dir)
            .map_err(anyhow::Error::from)
            .and_then(|()| prepare(&job, &self.tag(&job.pipeline_id), &dir, &mut verdict));
        match prepared {
            Ok(Some(prepared)) => self.run(&job, &dir, prepared, &mut verdict).await,
            Ok(None) => {}
            Err(e) => verdict.problems.push(Problem::new(
                "",
                format!("The local Spark engine could not prepare the update: {e:#}"),
                "java.io.IOException",
            )),
        }
        verdict
    }

    /// `python <script>` (one of [`DRIVER_FILES`]) in `dir`, a client of the warm server
    /// (started when needed).
    async fn python(&self, script: &str, dir: &Path) -> Result<tokio::process::Command, Problem> {
        let remote = self.remote().await.map_err(|e| {
            Problem::new(
                "",
                format!("The local Spark engine did not start: {e:#}"),
                "java.io.IOException",
            )
        })?;
        let mut command = tokio::process::Command::new(self.venv.join("bin/python"));
        command
            .arg(self.shared.dir.join(script))
            .current_dir(dir)
            .env("SPARK_REMOTE", remote)
            .env_remove("SPARK_LOCAL_CONNECT_REUSE")
            .env_remove("PYTHONPATH")
            .kill_on_drop(true);
        Ok(command)
    }

    async fn run(&self, job: &Job, dir: &Path, prepared: Prepared, verdict: &mut Verdict) {
        let mut command = match self.python("driver.py", dir).await {
            Ok(command) => command,
            Err(problem) => {
                verdict.problems.push(problem);
                return;
            }
        };
        let output = command
            .arg(job.mode.arg())
            .arg(job.refresh.join(","))
            .arg(job.full_refresh_selection.join(","))
            .stdin(Stdio::null())
            .output()
            .await;
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                verdict.problems.push(Problem::new(
                    "",
                    format!("The local Spark engine's driver did not start: {e}"),
                    "java.io.IOException",
                ));
                return;
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let finished = read_lines(&stdout, &prepared.files, &prepared.names, verdict);
        if !finished && !verdict.failed() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            verdict.problems.push(Problem::new(
                "",
                format!(
                    "The local Spark engine stopped ({}) without a result:\n{}",
                    output.status,
                    tail.join("\n")
                ),
                "java.lang.RuntimeException",
            ));
        }
    }
}
