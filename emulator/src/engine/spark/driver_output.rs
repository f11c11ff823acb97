//! What the driver prints: its `@@sdp {json}` lines read into the verdict (problems with their
//! class, flow and file; table row counts; whether it finished).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use crate::engine::expectations::VIOLATION_MARK;
use crate::engine::names::Names;
use crate::engine::{ANALYSIS_EXCEPTION, PARSE_EXCEPTION, Problem, Quality, TableShape, Verdict};

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
        #[serde(default)]
        columns: Vec<String>,
        #[serde(default)]
        distinct: BTreeMap<String, u64>,
    },
    Quality {
        dataset: String,
        #[serde(flatten)]
        quality: Quality,
    },
    /// A flow as the engine read it (`sdp_graph.py`), in the engine's names.
    Flow(super::graph::EngineFlow),
    Error {
        class_name: String,
        message: String,
        condition: Option<String>,
    },
    Done,
}

/// What a failed Spark job raises (a flow that failed while it ran).
const SPARK_EXCEPTION: &str = "org.apache.spark.SparkException";

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
pub(super) fn headline(message: &str) -> String {
    let line = message.trim().lines().next().unwrap_or("").trim();
    line.chars().take(1000).collect()
}

/// A Spark error message as a problem, its class read from its `[CLASS]` prefix.
pub(super) fn problem_from(
    message: &str,
    condition: Option<&str>,
    exception: impl Into<String>,
) -> Problem {
    let message = message.trim();
    let class = condition
        .map(str::to_string)
        .or_else(|| CLASS.captures(message).map(|c| c[1].to_string()))
        .unwrap_or_default();
    let text = CLASS.replace(message, "").trim().to_string();
    Problem::new(&class, text, exception)
}

static VIOLATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"{VIOLATION_MARK}([^:'\s]*):([^'\s]*)")).expect("valid regex")
});

/// A violated FAIL UPDATE expectation (Spark reports the `assert_true` that stands for it) as
/// the error Databricks gives: `EXPECTATION_VIOLATION`, naming the expectation.
fn expectation_violation(mut problem: Problem) -> Problem {
    let Some(found) = VIOLATION.captures(&problem.message) else {
        return problem;
    };
    let (dataset, name) = (found[1].to_string(), found[2].to_string());
    problem.class = "EXPECTATION_VIOLATION".to_string();
    problem.message = format!(
        "[EXPECTATION_VIOLATION] Flow '{dataset}' failed to meet the expectation. Violated \
         expectations: '{name}'. SQLSTATE: 22000"
    );
    if problem.flow.is_none() {
        problem.flow = Some(dataset);
    }
    problem
}

/// The driver's output into the verdict, in the pipeline's own names; true when it reported
/// `done`.
pub(super) fn read_lines(
    stdout: &str,
    files: &[(PathBuf, String)],
    names: &Names,
    verdict: &mut Verdict,
) -> bool {
    let mut loading: Option<String> = None;
    let mut done = false;
    let mut flow_problems = 0;
    let mut engine_flows = Vec::new();
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
                let message = names.public(&message);
                if let Some(found) = FLOW_FAILED
                    .captures(&message)
                    .or_else(|| FLOW_RUN_FAILED.captures(&message))
                {
                    let flow = found[1].rsplit('.').next().unwrap_or(&found[1]).to_string();
                    // The engine's events carry text only: a flow it could not resolve failed
                    // its analysis; one that failed running failed a Spark job.
                    let exception = if FLOW_FAILED.is_match(&message) {
                        ANALYSIS_EXCEPTION
                    } else {
                        SPARK_EXCEPTION
                    };
                    let problem =
                        problem_from(&headline(&found[2]), None, exception).in_flow(&flow);
                    verdict.problems.push(expectation_violation(problem));
                    flow_problems += 1;
                }
                verdict.messages.push(message);
            }
            Line::Table {
                name,
                rows,
                columns,
                distinct,
            } => {
                verdict.tables.insert(name.clone(), rows);
                verdict
                    .shapes
                    .insert(name, TableShape { columns, distinct });
            }
            Line::Quality { dataset, quality } => {
                let name = dataset.rsplit('.').next().unwrap_or(&dataset).to_string();
                let entry = verdict.quality.entry(name).or_default();
                // Several flows into one table: their counts add up.
                entry.input_rows += quality.input_rows;
                entry.dropped += quality.dropped;
                for e in quality.expectations {
                    match entry.expectations.iter_mut().find(|x| x.name == e.name) {
                        Some(x) => {
                            x.passed += e.passed;
                            x.failed += e.failed;
                        }
                        None => entry.expectations.push(e),
                    }
                }
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
                // The server's class when the driver had it; a client-side Connect class
                // stands for the server's of the same name.
                let exception = match class_name.strip_prefix("pyspark.errors.exceptions.connect.")
                {
                    Some("ParseException") => PARSE_EXCEPTION.to_string(),
                    Some(_) => ANALYSIS_EXCEPTION.to_string(),
                    None => class_name,
                };
                let message = names.public(&message);
                let mut problem =
                    problem_from(&headline(&message), condition.as_deref(), exception);
                // A parse error's next lines show the SQL with a caret under the error.
                let detail: Vec<&str> = message.trim().lines().skip(1).take(12).collect();
                if !detail.is_empty() {
                    problem.message = format!("{}\n{}", problem.message, detail.join("\n"));
                }
                problem.file = loading.clone();
                verdict.problems.push(expectation_violation(problem));
            }
            Line::Flow(flow) => engine_flows.push(flow),
            Line::Done => done = true,
        }
    }
    super::graph::merge(&mut verdict.graph, engine_flows, names);
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
@@sdp {"kind": "event", "timestamp": "t", "message": "Failed to resolve flow: 'spark_catalog.clicks__1.silver'.\nError: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `acton` cannot be resolved. SQLSTATE: 42703; line 2 pos 46;\n'Project [id#6L]"}
@@sdp {"kind": "error", "class_name": "pyspark.errors.exceptions.connect.AnalysisException", "message": "\nFailed to resolve flows in the pipeline.\n"}
"#;
        let names = Names::new("main", "sales", "1", &[]);
        let mut verdict = Verdict::default();
        assert!(!read_lines(out, &files, &names, &mut verdict));
        assert_eq!(verdict.problems.len(), 1, "{:?}", verdict.problems);
        let p = &verdict.problems[0];
        assert_eq!(p.class, "UNRESOLVED_COLUMN.WITH_SUGGESTION");
        assert_eq!(p.flow.as_deref(), Some("silver"));
        // The pipeline's own database is named as the user names it.
        assert!(
            verdict.messages[0].starts_with("Failed to resolve flow: 'main.clicks.silver'."),
            "{}",
            verdict.messages[0]
        );
        assert_eq!(
            p.message,
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `acton` cannot be resolved. SQLSTATE: 42703; line 2 pos 46;"
        );

        let out = r#"@@sdp {"kind": "log", "message": "Registering SQL file /w/p/transformations/00_a.sql..."}
@@sdp {"kind": "error", "class_name": "pyspark.errors.exceptions.connect.ParseException", "message": "\n[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'. SQLSTATE: 42601 (line 2, pos 0)\n\n== SQL ==\nSELEC\n^^^\n", "condition": "PARSE_SYNTAX_ERROR", "sql_state": "42601"}
"#;
        let mut verdict = Verdict::default();
        read_lines(out, &files, &names, &mut verdict);
        let p = &verdict.problems[0];
        assert_eq!(p.class, "PARSE_SYNTAX_ERROR");
        assert_eq!(p.exception, PARSE_EXCEPTION);
        assert_eq!(p.file.as_deref(), Some("/Workspace/x/a.sql"));
        assert!(
            p.message
                .starts_with("[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'.")
        );
        assert!(p.message.contains("== SQL =="), "{}", p.message);

        // The server's class when the driver kept it; Python's own for the user's code.
        for (class_name, exception) in [
            (
                "org.apache.spark.sql.catalyst.parser.ParseException",
                PARSE_EXCEPTION,
            ),
            ("NameError", "NameError"),
            (
                "pyspark.errors.exceptions.connect.AnalysisException",
                ANALYSIS_EXCEPTION,
            ),
        ] {
            let out = format!(
                "@@sdp {}\n",
                serde_json::json!({"kind": "error", "class_name": class_name, "message": "boom"})
            );
            let mut verdict = Verdict::default();
            read_lines(&out, &files, &names, &mut verdict);
            assert_eq!(verdict.problems[0].exception, exception);
        }

        let out = "x@@sdp {\"kind\": \"table\", \"name\": \"bronze\", \"rows\": 100, \"columns\": [\"id\", \"tags\"], \"distinct\": {\"id\": 100}}\n@@sdp {\"kind\": \"done\"}\n";
        let mut verdict = Verdict::default();
        assert!(read_lines(out, &files, &names, &mut verdict));
        assert!(!verdict.failed());
        assert_eq!(verdict.tables["bronze"], 100);
        assert_eq!(verdict.shapes["bronze"].columns, ["id", "tags"]);
        assert_eq!(verdict.shapes["bronze"].distinct["id"], 100);
    }
}
