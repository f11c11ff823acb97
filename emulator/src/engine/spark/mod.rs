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

use super::names::Names;
use super::sources::SourceFile;
use super::structure::{STREAMING_FROM_MATERIALIZED_VIEW, Target, check};
use super::{Problem, Verdict, dialect};

/// The driver and the modules it imports, written beside the pipelines' directories.
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
    // `import dlt`: the same API under its Databricks name.
    ("dlt.py", include_str!("dlt.py")),
];
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
        let names = Names::new(&job.catalog, &job.tables);
        let context = dialect::Context::of(&job.files, names);
        let mut mapped = Vec::new();
        let mut checks = Vec::new();
        let mut views = Vec::new();
        for file in &job.files {
            match dialect::map(file, &context) {
                Ok(m) => {
                    verdict.warnings.extend(m.warnings);
                    checks.extend(m.checks);
                    views.extend(m.views);
                    mapped.push((file, m.text, m.python));
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
        for (i, (file, text, python)) in mapped.into_iter().enumerate() {
            let base = file.path.rsplit('/').next().unwrap_or("source");
            let local = code.join(format!("{i:02}_{base}"));
            std::fs::write(&local, text)?;
            files.push((local, file.path.clone()));
            if let Some(python) = python {
                // Errors in the companion belong to the SQL file it stands for.
                let local = code.join(format!("{i:02}_{base}_sources.py"));
                std::fs::write(&local, python)?;
                files.push((local, file.path.clone()));
            }
        }
        write_volumes(&dir, &job.volumes)?;
        // What the driver counts expectations on after a run.
        let quality = json!({"checks": checks, "views": views});
        std::fs::write(
            dir.join("checks.json"),
            serde_json::to_string_pretty(&quality)?,
        )?;
        // The --data tables it registers, and how Python's table names map.
        let names = json!({
            "catalog": context.names.catalog,
            "others": context.names.others,
            "tables": context.names.local_tables(&job.tables),
        });
        std::fs::write(
            dir.join("names.json"),
            serde_json::to_string_pretty(&names)?,
        )?;
        // YAML is a superset of JSON: the spec is written with serde_json.
        let spec = json!({
            "name": job.name,
            "storage": format!("file://{}", dir.join("storage").display()),
            "database": job.schema,
            "configuration": job.configuration,
            "libraries": [{"glob": {"include": "transformations/**"}}],
        });
        std::fs::write(
            dir.join("spark-pipeline.yml"),
            serde_json::to_string_pretty(&spec)?,
        )?;
        for (name, text) in DRIVER_FILES {
            std::fs::write(self.work_dir.join(name), text)?;
        }
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
            .arg(job.refresh.join(","))
            .arg(job.full_refresh_selection.join(","))
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

/// Makes the volumes readable where the pipeline runs: stored files are written under
/// `volumes/` of the pipeline's directory, and `volumes.json` maps each `/Volumes/c/s/v` to
/// its local directory (what `sdp_local.py` reads).
fn write_volumes(dir: &Path, volumes: &[Volume]) -> anyhow::Result<()> {
    let stored = dir.join("volumes");
    if stored.exists() {
        std::fs::remove_dir_all(&stored)?;
    }
    let mut map = serde_json::Map::new();
    for volume in volumes {
        let [c, s, v] = &volume.names;
        let local = match &volume.files {
            VolumeFiles::Dir(local) => local.clone(),
            VolumeFiles::Stored(files) => {
                let root = stored.join(c).join(s).join(v);
                std::fs::create_dir_all(&root)?;
                for (path, bytes) in files {
                    let target = path.split('/').fold(root.clone(), |p, part| p.join(part));
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(target, bytes)?;
                }
                root
            }
        };
        map.insert(
            format!("/volumes/{c}/{s}/{v}"),
            json!(local.display().to_string()),
        );
    }
    std::fs::write(
        dir.join("volumes.json"),
        serde_json::to_string_pretty(&map)?,
    )?;
    Ok(())
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
