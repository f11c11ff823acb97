//! Apache Spark Declarative Pipelines as the emulator's engine: each update copies the
//! pipeline's (dialect-mapped) files into the pipeline's private directory and runs
//! `driver.py` there through `spark-class org.apache.spark.deploy.SparkPipelines`, as
//! `spark-pipelines dry-run|run` would, then reads the driver's JSON lines back.
//!
//! The private directory holds the spec, the files, the checkpoints, a Hive (Derby) metastore
//! and the warehouse, so re-runs find their tables. Spark's local Connect server always binds
//! port 15002, so one update runs at a time on the machine (a lock file in the temp dir).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;

use anyhow::Context;
use regex::Regex;
use serde::Deserialize;
use serde_json::json;

use super::sources::SourceFile;
use super::structure::{Target, check};
use super::{ANALYSIS_EXCEPTION, PARSE_EXCEPTION, Problem, Verdict, dialect};

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

/// One line the driver prints (after `@@sdp `).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Line {
    Log {
        message: String,
    },
    Event {
        message: String,
    },
    Table {
        name: String,
        rows: u64,
    },
    Error {
        class_name: String,
        message: String,
        condition: Option<String>,
    },
    Done,
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
            .env_remove("SPARK_REMOTE")
            .env_remove("SPARK_LOCAL_CONNECT_REUSE")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await;
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

static FLOW_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)^Failed to resolve flow: '([^']+)'\.\s*Error: (.*)$").expect("valid regex")
});
static FLOW_RUN_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)^Flow '?([^' ]+)'? has FAILED[^:]*:?\s*(.*)$").expect("valid regex")
});
static CLASS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[([A-Z][A-Z0-9_.]*)\]").expect("valid regex"));
static LOADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:Registering SQL file|Importing) (.+?)\.\.\.$").expect("valid regex")
});

/// The first line of an engine message (the rest is a query plan or a traceback), bounded.
fn headline(message: &str) -> String {
    let line = message.trim().lines().next().unwrap_or("").trim();
    line.chars().take(1000).collect()
}

/// A Spark error message as a problem, its class read from its `[CLASS]` prefix.
fn problem_from(message: &str, condition: Option<&str>, exception: &'static str) -> Problem {
    let message = message.trim();
    let class = condition
        .map(str::to_string)
        .or_else(|| CLASS.captures(message).map(|c| c[1].to_string()))
        .unwrap_or_default();
    let text = CLASS.replace(message, "").trim().to_string();
    Problem::new(&class, text, exception)
}

/// The driver's output into the verdict; true when it reported `done`.
fn read_lines(stdout: &str, files: &[(PathBuf, String)], verdict: &mut Verdict) -> bool {
    let mut loading: Option<String> = None;
    let mut done = false;
    let mut flow_problems = 0;
    for line in stdout.lines() {
        // Spark may print without a newline before ours (a progress bar, a warning).
        let Some((_, json)) = line.split_once("@@sdp ") else {
            continue;
        };
        let Ok(line) = serde_json::from_str::<Line>(json) else {
            continue;
        };
        match line {
            Line::Log { message } => {
                if let Some(found) = LOADING.captures(&message) {
                    let local = PathBuf::from(&found[1]);
                    loading = files
                        .iter()
                        .find(|(l, _)| *l == local)
                        .map(|(_, ws)| ws.clone());
                }
            }
            Line::Event { message } => {
                if let Some(found) = FLOW_FAILED
                    .captures(&message)
                    .or_else(|| FLOW_RUN_FAILED.captures(&message))
                {
                    let flow = found[1].rsplit('.').next().unwrap_or(&found[1]).to_string();
                    verdict.problems.push(
                        problem_from(&headline(&found[2]), None, ANALYSIS_EXCEPTION).in_flow(&flow),
                    );
                    flow_problems += 1;
                }
                verdict.messages.push(message);
            }
            Line::Table { name, rows } => {
                verdict.tables.insert(name, rows);
            }
            Line::Error {
                class_name,
                message,
                condition,
            } => {
                // The summary after per-flow errors ("Failed to resolve flows in the
                // pipeline") repeats them.
                if flow_problems > 0 && condition.is_none() {
                    continue;
                }
                let exception = if class_name.ends_with("ParseException") {
                    PARSE_EXCEPTION
                } else {
                    ANALYSIS_EXCEPTION
                };
                let mut problem =
                    problem_from(&headline(&message), condition.as_deref(), exception);
                // A parse error's next lines show the SQL with a caret under the error.
                let detail: Vec<&str> = message.trim().lines().skip(1).take(12).collect();
                if !detail.is_empty() {
                    problem.message = format!("{}\n{}", problem.message, detail.join("\n"));
                }
                problem.file = loading.clone();
                verdict.problems.push(problem);
            }
            Line::Done => done = true,
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_lines_become_problems_and_tables() {
        let files = vec![(
            PathBuf::from("/w/p/transformations/00_a.sql"),
            "/Workspace/x/a.sql".to_string(),
        )];
        let out = r#"noise
@@sdp {"kind": "log", "message": "Registering SQL file /w/p/transformations/00_a.sql..."}
@@sdp {"kind": "event", "timestamp": "t", "message": "Failed to resolve flow: 'spark_catalog.clicks.silver'.\nError: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `acton` cannot be resolved. SQLSTATE: 42703; line 2 pos 46;\n'Project [id#6L]"}
@@sdp {"kind": "error", "class_name": "pyspark.errors.exceptions.connect.AnalysisException", "message": "\nFailed to resolve flows in the pipeline.\n"}
"#;
        let mut verdict = Verdict::default();
        assert!(!read_lines(out, &files, &mut verdict));
        assert_eq!(verdict.problems.len(), 1, "{:?}", verdict.problems);
        let p = &verdict.problems[0];
        assert_eq!(p.class, "UNRESOLVED_COLUMN.WITH_SUGGESTION");
        assert_eq!(p.flow.as_deref(), Some("silver"));
        assert_eq!(
            p.message,
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `acton` cannot be resolved. SQLSTATE: 42703; line 2 pos 46;"
        );

        let out = r#"@@sdp {"kind": "log", "message": "Registering SQL file /w/p/transformations/00_a.sql..."}
@@sdp {"kind": "error", "class_name": "pyspark.errors.exceptions.connect.ParseException", "message": "\n[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'. SQLSTATE: 42601 (line 2, pos 0)\n\n== SQL ==\nSELEC\n^^^\n", "condition": "PARSE_SYNTAX_ERROR", "sql_state": "42601"}
"#;
        let mut verdict = Verdict::default();
        read_lines(out, &files, &mut verdict);
        let p = &verdict.problems[0];
        assert_eq!(p.class, "PARSE_SYNTAX_ERROR");
        assert_eq!(p.exception, PARSE_EXCEPTION);
        assert_eq!(p.file.as_deref(), Some("/Workspace/x/a.sql"));
        assert!(
            p.message
                .starts_with("[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'.")
        );
        assert!(p.message.contains("== SQL =="), "{}", p.message);

        let out = "x@@sdp {\"kind\": \"table\", \"name\": \"bronze\", \"rows\": 100}\n@@sdp {\"kind\": \"done\"}\n";
        let mut verdict = Verdict::default();
        assert!(read_lines(out, &files, &mut verdict));
        assert!(!verdict.failed());
        assert_eq!(verdict.tables["bronze"], 100);
    }
}
