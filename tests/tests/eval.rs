//! `sdp-agent eval`: a folder of cases, each run through the whole loop offline; a table of
//! how each ended (and the same numbers as JSON with `--json`), exit 1 when any case fails.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::agent_bin;
use common::credentials::TempDir;
use serde_json::{Value, json};

/// Three cases: two the demo model answers (the second expecting the gold table it defines),
/// one whose own (payload) sources read a table defined nowhere, so validation fails it on
/// purpose.
fn three_cases(dir: &Path) {
    let write = |name: &str, case: Value| {
        std::fs::write(dir.join(format!("{name}.json")), case.to_string()).unwrap();
    };
    write(
        "a_clickstream",
        json!({"question": "Bronze and silver clickstream tables from synthetic page views"}),
    );
    write(
        "b_orders",
        json!({"question": "Orders: bronze, silver and a gold table of revenue per day",
               "expect": {"tables": {"gold_orders_daily": {"min_rows": 1}}}}),
    );
    let file = "/Workspace/Shared/eval_broken/broken.sql";
    write(
        "c_broken",
        json!({
            "question": "A view over a table that does not exist",
            "payload": {
                "pipelineName": "eval_broken", "catalog": "main", "schema": "broken",
                "root_path": "/Workspace/Shared/eval_broken",
                "workspace_file_paths": [file],
                "sources": {file: "CREATE OR REFRESH MATERIALIZED VIEW v AS SELECT * FROM nowhere_defined;"},
            },
        }),
    );
}

fn eval(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(agent_bin())
        .arg("eval")
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("sdp-agent runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The table's CHECKS cell for a case of the JSON: held/all, or `-` when none ran.
fn checks_cell(case: &Value) -> String {
    let checks = case["checks"].as_array().expect("checks");
    if checks.is_empty() {
        return "-".into();
    }
    let held = checks.iter().filter(|c| c["ok"] == true).count();
    format!("{held}/{}", checks.len())
}

#[test]
fn eval_reports_each_case_in_a_table_and_the_same_as_json() {
    let cases = TempDir::new("eval-three");
    three_cases(cases.path());

    let (code, table, stderr) = eval(cases.path(), &[]);
    assert_eq!(code, 1, "one case fails, so eval does:\n{table}\n{stderr}");
    let (code, json, stderr) = eval(cases.path(), &["--json"]);
    assert_eq!(code, 1, "{json}\n{stderr}");
    let report: Value = serde_json::from_str(json.trim()).expect("one JSON document");

    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "CASE",
            "RESULT",
            "OUTCOME",
            "TABLES",
            "CHECKS",
            "REPAIRS",
            "CALLS",
            "PROMPT_TOK",
            "COMPL_TOK",
            "SECONDS"
        ],
        "{table}"
    );
    let cases = report["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 3, "{report}");
    for (row, case) in rows[1..4].iter().zip(cases) {
        // Every number of the table is the JSON's (seconds aside: a separate run).
        let expected = [
            case["case"].as_str().unwrap().to_string(),
            if case["passed"] == true {
                "pass"
            } else {
                "FAIL"
            }
            .to_string(),
            case["outcome"].as_str().unwrap().to_string(),
            match case["tables"].as_bool() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
            .to_string(),
            checks_cell(case),
            case["repair_rounds"].to_string(),
            case["model"]["calls"].to_string(),
            case["model"]["prompt_tokens"].to_string(),
            case["model"]["completion_tokens"].to_string(),
        ];
        assert_eq!(row[..9], expected, "{table}\n{report}");
    }
    let outcomes: Vec<(&str, bool, &str)> = cases
        .iter()
        .map(|c| {
            (
                c["case"].as_str().unwrap(),
                c["passed"] == true,
                c["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("a_clickstream", true, "completed"),
            ("b_orders", true, "completed"),
            ("c_broken", false, "validation_failed"),
        ]
    );
    // The demo model was asked for the first two; the broken case's sources were its own.
    assert!(cases[0]["model"]["calls"].as_u64() >= Some(1), "{report}");
    assert!(
        cases[0]["model"]["prompt_tokens"].as_u64() > Some(0),
        "{report}"
    );
    assert_eq!(cases[2]["model"]["calls"], 0, "{report}");
    // No data on the structural engine: only whether the graph defines the expected table.
    assert_eq!(
        cases[1]["checks"],
        json!([{"table": "gold_orders_daily", "check": "exists", "ok": true}]),
        "{report}"
    );
    assert_eq!(cases[1]["tables"], true, "{report}");
    assert_eq!(report["engine"], "structural");
    assert_eq!(report["model_source"], "demo");
    let total = &report["total"];
    assert_eq!(
        (total["cases"].as_u64(), total["passed"].as_u64()),
        (Some(3), Some(2))
    );
    let calls: u64 = cases
        .iter()
        .map(|c| c["model"]["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(total["model"]["calls"], calls);
    let last = rows
        .iter()
        .find(|r| r.first() == Some(&"TOTAL"))
        .expect("a total row");
    assert_eq!(last[1], "2/3", "{table}");
    assert_eq!(last[3], calls.to_string(), "{table}");
    assert!(
        table.contains("c_broken: ") && table.contains("nowhere_defined"),
        "why the case failed is said under the table:\n{table}"
    );
}

#[test]
fn a_case_with_a_typo_stops_eval_before_anything_runs() {
    let cases = TempDir::new("eval-typo");
    std::fs::write(
        cases.path().join("typo.json"),
        r#"{"question": "q", "expect": {"tables": {"t": {"min_row": 1}}}}"#,
    )
    .unwrap();
    let (code, out, _) = eval(cases.path(), &[]);
    assert_eq!(code, 1);
    let error: Value = serde_json::from_str(out.trim()).expect("the error JSON");
    assert_eq!(error["error"]["kind"], "config", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("typo.json") && message.contains("min_row"),
        "{message}"
    );
}
