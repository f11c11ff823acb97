//! Apache Spark Declarative Pipelines as the emulator's engine: each update copies the
//! pipeline's (dialect-mapped) files into the pipeline's private directory and runs
//! `driver.py` there through `spark-class org.apache.spark.deploy.SparkPipelines`, as
//! `spark-pipelines dry-run|run` would, then reads the driver's JSON lines back.
//!
//! The private directory holds the spec, the files, the checkpoints, a Hive (Derby) metastore
//! and the warehouse, so re-runs find their tables. Spark's local Connect server always binds
//! port 15002, so one update runs at a time on the machine (a lock file in the temp dir).

mod driver_output;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use serde_json::json;

use driver_output::read_lines;

use super::sources::SourceFile;
use super::structure::{Target, check};
use super::{Problem, Verdict, dialect};

const DRIVER: &str = include_str!("driver.py");
/// Serialises Spark runs machine-wide: they all need port 15002.
const LOCK_FILE: &str = "sdp-emulator-spark-15002.lock";

/// A local pyspark install (`scripts/setup --spark`) and where pipelines get their directories.
#[derive(Clone, Debug)]
pub struct SparkEngine {
    /// The virtual environment holding `pyspark[pipelines]` (`bin/spark-class`, `bin/python`).
    venv: PathBuf,
    /// Parent of every pipeline's private directory.
    work_dir: PathBuf,
}

impl SparkEngine {
    /// Checks that `venv` has pyspark's launcher and creates `work_dir`.
    pub fn new(venv: &Path, work_dir: &Path) -> anyhow::Result<SparkEngine> {
        let venv = std::path::absolute(venv)?;
        for needed in ["bin/spark-class", "bin/python"] {
            anyhow::ensure!(
                venv.join(needed).exists(),
                "{} is missing: install the engine with scripts/setup --spark (or point --spark-venv at a venv with pyspark[pipelines])",
                venv.join(needed).display()
            );
        }
        std::fs::create_dir_all(work_dir)
            .with_context(|| format!("creating {}", work_dir.display()))?;
        Ok(SparkEngine {
            venv,
            work_dir: std::path::absolute(work_dir)?,
        })
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
        let mut verdict = Verdict {
            graph: check(&job.files, &target).graph,
            ..Verdict::default()
        };
        // Emulators share pipeline directories (ids repeat across instances): hold the lock
        // from writing the directory until Spark is done with it.
        let _lock = match lock_port().await {
            Ok(lock) => lock,
            Err(e) => {
                verdict.problems.push(Problem::new(
                    "",
                    format!("The local Spark engine could not take its lock: {e:#}"),
                    "java.io.IOException",
                ));
                return verdict;
            }
        };
        match self.prepare(&job, &mut verdict) {
            Ok(Some(files)) => self.run(&job, files, &mut verdict).await,
            Ok(None) => {}
            Err(e) => verdict.problems.push(Problem::new(
                "",
                format!("The local Spark engine could not prepare the update: {e:#}"),
                "java.io.IOException",
            )),
        }
        verdict
    }

    /// Writes the pipeline's directory; returns the local path → workspace path of each file,
    /// or None when the dialect mapping already found a problem.
    fn prepare(
        &self,
        job: &Job,
        verdict: &mut Verdict,
    ) -> anyhow::Result<Option<Vec<(PathBuf, String)>>> {
        let mut mapped = Vec::new();
        for file in &job.files {
            match dialect::map(file) {
                Ok(m) => {
                    verdict.warnings.extend(m.warnings);
                    mapped.push((file, m.text));
                }
                Err(problem) => verdict.problems.push(problem),
            }
        }
        if verdict.failed() {
            return Ok(None);
        }
        let dir = self.work_dir.join(&job.pipeline_id);
        let code = dir.join("transformations");
        if code.exists() {
            std::fs::remove_dir_all(&code)?;
        }
        std::fs::create_dir_all(&code)?;
        let mut files = Vec::new();
        for (i, (file, text)) in mapped.into_iter().enumerate() {
            let base = file.path.rsplit('/').next().unwrap_or("source");
            let local = code.join(format!("{i:02}_{base}"));
            std::fs::write(&local, text)?;
            files.push((local, file.path.clone()));
        }
        // YAML is a superset of JSON: the spec is written with serde_json.
        let spec = json!({
            "name": job.name,
            "storage": format!("file://{}", dir.join("storage").display()),
            "database": job.schema,
            "libraries": [{"glob": {"include": "transformations/**"}}],
        });
        std::fs::write(
            dir.join("spark-pipeline.yml"),
            serde_json::to_string_pretty(&spec)?,
        )?;
        std::fs::write(self.work_dir.join("driver.py"), DRIVER)?;
        Ok(Some(files))
    }

    async fn run(&self, job: &Job, files: Vec<(PathBuf, String)>, verdict: &mut Verdict) {
        let dir = self.work_dir.join(&job.pipeline_id);
        let bin = self.venv.join("bin");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.clone()];
        paths.extend(std::env::split_paths(&path));
        // Spark's JVMs (the driver and its local Connect server) put scratch files in
        // java.io.tmpdir, Hive a `<session>_resources` folder per session: a folder of this
        // run's, removed after it, rather than /tmp.
        let scratch = dir.join("jvm-tmp");
        let _ = std::fs::create_dir_all(&scratch);
        let mut java_options = std::env::var("JAVA_TOOL_OPTIONS").unwrap_or_default();
        java_options.push_str(&format!(" -Djava.io.tmpdir={}", scratch.display()));
        let output = tokio::process::Command::new(bin.join("spark-class"))
            .arg("org.apache.spark.deploy.SparkPipelines")
            .arg(self.work_dir.join("driver.py"))
            .args(["--conf", "spark.ui.enabled=false"])
            .args(["--conf", "spark.ui.showConsoleProgress=false"])
            .args(["--conf", "spark.sql.catalogImplementation=hive"])
            .arg("--conf")
            .arg(format!(
                "spark.sql.warehouse.dir={}",
                dir.join("warehouse").display()
            ))
            .arg(job.mode.arg())
            .current_dir(&dir)
            .env("PATH", std::env::join_paths(paths).unwrap_or(path))
            .env("PYSPARK_PYTHON", bin.join("python"))
            .env("SPARK_LOCAL_IP", "127.0.0.1")
            .env("JAVA_TOOL_OPTIONS", java_options.trim_start())
            .env_remove("SPARK_REMOTE")
            .env_remove("SPARK_LOCAL_CONNECT_REUSE")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
        let _ = std::fs::remove_dir_all(&scratch);
        let output = match output {
            Ok(output) => output,
            Err(e) => {
                verdict.problems.push(Problem::new(
                    "",
                    format!("The local Spark engine did not start: {e}"),
                    "java.io.IOException",
                ));
                return;
            }
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let finished = read_lines(&stdout, &files, verdict);
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

/// Waits for the machine-wide lock; it is released when the file is dropped.
async fn lock_port() -> anyhow::Result<File> {
    let path = std::env::temp_dir().join(LOCK_FILE);
    tokio::task::spawn_blocking(move || {
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(file)
    })
    .await?
}
