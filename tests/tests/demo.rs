//! `sdp-agent demo`: the whole flow offline on its embedded emulator. It prints its steps, the
//! pipeline's updates and dataset graph, and ends with `run`'s JSON; with `--engine spark` the
//! pipeline really runs on local Apache Spark and the JSON names its tables and row counts.
//!
//! The Spark case needs `scripts/setup --spark` (which `scripts/setup --test` runs): without
//! it the test skips with a message, unless `SDP_REQUIRE_SPARK` is set (as `scripts/test`, hence
//! CI, does), which makes a missing engine a failure.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::agent_bin;
use serde_json::Value;

/// Runs `sdp-agent demo ARGS`; returns (exit code, stdout lines, the final JSON).
fn demo(args: &[&str]) -> (i32, Vec<String>, Value) {
    let out = Command::new(agent_bin())
        .arg("demo")
        .args(args)
        .env_remove("SDP_AGENT_DEMO_FLAW")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("sdp-agent runs");
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    let last = lines.last().cloned().unwrap_or_default();
    let json = serde_json::from_str(&last)
        .unwrap_or_else(|e| panic!("the last line is not JSON ({e}): {stdout}\nstderr:\n{stderr}"));
    (out.status.code().unwrap_or(-1), lines, json)
}

#[test]
fn the_demo_builds_a_pipeline_that_passes_the_check() {
    let (code, lines, json) = demo(&[]);
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(json["state"], "COMPLETED", "{json}");
    assert!(
        lines
            .iter()
            .any(|l| l.trim().starts_with("update full refresh COMPLETED")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim() == "flow   bronze_clickstream → silver_clickstream"),
        "{lines:#?}"
    );
    assert!(json.get("tables").is_none(), "no tables without an engine");
    // The data checks: one entry and one line per table (the structural engine counts none).
    for table in ["bronze_clickstream", "silver_clickstream"] {
        let name = format!("main.clickstream_demo.{table}");
        assert!(json["checks"].get(&name).is_some(), "{json}");
        let line = format!("checks {name}: nothing counted");
        assert!(lines.iter().any(|l| l.trim() == line), "{lines:#?}");
    }
    // The emulator's warehouse has no data to sample: one line says so for both tables.
    let unread = "sample main.clickstream_demo.bronze_clickstream, \
                  main.clickstream_demo.silver_clickstream: statement FAILED";
    assert!(
        lines.iter().any(|l| l.trim().starts_with(unread)),
        "{lines:#?}"
    );
}

/// `--flaw`: the model's first pipeline fails validation, one repair round fixes it, and the
/// graph printed is the one `run` reported in its `datasets`.
#[test]
fn the_flawed_demo_is_repaired_in_one_round() {
    let (code, lines, json) = demo(&["--flaw"]);
    assert_eq!(code, 0, "{lines:#?}");
    let message = json["message"].as_str().unwrap_or_default();
    assert!(message.contains("after 1 repair round"), "{json}");
    let kinds: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("update "))
        .collect();
    assert!(
        kinds.len() == 3 && kinds[0].starts_with("validate") && kinds[0].contains("FAILED"),
        "{lines:#?}"
    );
    let datasets = json["datasets"]
        .as_array()
        .expect("the graph in the result");
    assert_eq!(
        datasets[1]["inputs"][0], datasets[0]["name"],
        "silver reads bronze: {json}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim() == "flow   bronze_clickstream → silver_clickstream"),
        "{lines:#?}"
    );
}

#[test]
fn on_spark_the_flawed_demo_is_repaired_then_ends_with_the_tables_and_their_rows() {
    let venv = std::env::var_os("SDP_SPARK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-spark"));
    if !venv.join("bin/spark-class").exists() {
        assert!(
            std::env::var_os("SDP_REQUIRE_SPARK").is_none(),
            "SDP_REQUIRE_SPARK is set but the Spark engine is missing at {}",
            venv.display()
        );
        eprintln!(
            "SKIPPED: the Spark engine is not installed at {} (scripts/setup --spark)",
            venv.display()
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("sdp-demo-spark-test-{}", std::process::id()));
    let (venv, spark_dir) = (venv.to_string_lossy(), dir.to_string_lossy());
    // Flawed first: the repair round runs against Spark's own error, not the structural check's.
    let (code, lines, json) = demo(&[
        "--flaw",
        "--engine",
        "spark",
        "--spark-venv",
        &venv,
        "--spark-dir",
        &spark_dir,
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{lines:#?}");
    assert_eq!(json["state"], "COMPLETED", "{json}");
    let message = json["message"].as_str().unwrap_or_default();
    assert!(message.contains("after 1 repair round"), "{json}");
    let tables = json["tables"]
        .as_object()
        .expect("tables in the final JSON");
    assert_eq!(
        tables["main.clickstream_demo.bronze_clickstream"], 10000,
        "{tables:?}"
    );
    let silver = tables["main.clickstream_demo.silver_clickstream"]
        .as_u64()
        .unwrap();
    assert!(silver > 0, "{tables:?}");
    assert!(
        lines.iter().any(|l| l
            .trim()
            .starts_with("table  main.clickstream_demo.silver_clickstream: ")),
        "{lines:#?}"
    );
    // The data checks: the warehouse counted the silver table's key columns, and 5 sample
    // rows (a header, then the rows) follow each table's name.
    let checked = &json["checks"]["main.clickstream_demo.silver_clickstream"];
    assert_eq!(checked["rows"], silver, "{json}");
    assert_eq!(
        checked["null_keys"],
        serde_json::json!({"event_id": 0, "event_ts": 0}),
        "{json}"
    );
    let at = lines
        .iter()
        .position(|l| l.trim() == "sample main.clickstream_demo.silver_clickstream")
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(
        lines[at + 1].trim().starts_with("event_id | "),
        "{lines:#?}"
    );
    assert_eq!(
        lines[at + 2..]
            .iter()
            .take_while(|l| l.starts_with("             "))
            .count(),
        5,
        "{lines:#?}"
    );
}
