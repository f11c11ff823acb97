//! What `eval` reports: one row per case and a total, as a table or as JSON (`--json`); the
//! two carry the same numbers.

use super::checks::Check;
use sdp_emulator::ModelUsage;
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub case: String,
    pub passed: bool,
    /// `completed`, the error kind of `run` (`validation_failed`, `llm_unusable`, ...), or
    /// `update_failed` / `update_canceled`.
    pub outcome: String,
    /// Whether every expected table was written (Spark) or is defined by the pipeline's graph
    /// (structural, which writes no data); null when the case expects none.
    pub tables: Option<bool>,
    /// Every check of the case's `expect`, in order; empty when none could run.
    pub checks: Vec<Check>,
    pub repair_rounds: u32,
    pub model: ModelUsage,
    pub seconds: f64,
    /// Why it failed, when the outcome says little (the error message, the first failed check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl CaseReport {
    fn checks_cell(&self) -> String {
        if self.checks.is_empty() {
            return "-".into();
        }
        let held = self.checks.iter().filter(|c| c.ok).count();
        format!("{held}/{}", self.checks.len())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Total {
    pub cases: usize,
    pub passed: usize,
    pub failed: usize,
    pub repair_rounds: u32,
    pub model: ModelUsage,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub engine: String,
    /// `reference`, `demo`, `url`, or `replay`.
    pub model_source: String,
    pub cases: Vec<CaseReport>,
    pub total: Total,
}

impl Report {
    pub fn new(engine: &str, model_source: &str, cases: Vec<CaseReport>) -> Report {
        let passed = cases.iter().filter(|c| c.passed).count();
        let mut model = ModelUsage::default();
        for c in &cases {
            model.calls += c.model.calls;
            model.prompt_tokens += c.model.prompt_tokens;
            model.completion_tokens += c.model.completion_tokens;
        }
        let total = Total {
            cases: cases.len(),
            passed,
            failed: cases.len() - passed,
            repair_rounds: cases.iter().map(|c| c.repair_rounds).sum(),
            model,
            seconds: cases.iter().map(|c| c.seconds).sum(),
        };
        Report {
            engine: engine.to_string(),
            model_source: model_source.to_string(),
            cases,
            total,
        }
    }

    pub fn all_passed(&self) -> bool {
        self.total.failed == 0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the report serialises")
    }

    /// The table: one row per case, then the total; failed cases' details below it.
    pub fn table(&self) -> String {
        let yes_no = |v: Option<bool>| match v {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let rows: Vec<[String; 10]> = self
            .cases
            .iter()
            .map(|c| {
                [
                    c.case.clone(),
                    if c.passed { "pass" } else { "FAIL" }.into(),
                    c.outcome.clone(),
                    yes_no(c.tables).into(),
                    c.checks_cell(),
                    c.repair_rounds.to_string(),
                    c.model.calls.to_string(),
                    c.model.prompt_tokens.to_string(),
                    c.model.completion_tokens.to_string(),
                    format!("{:.1}", c.seconds),
                ]
            })
            .collect();
        let t = &self.total;
        let total = [
            "TOTAL".to_string(),
            format!("{}/{}", t.passed, t.cases),
            String::new(),
            String::new(),
            String::new(),
            t.repair_rounds.to_string(),
            t.model.calls.to_string(),
            t.model.prompt_tokens.to_string(),
            t.model.completion_tokens.to_string(),
            format!("{:.1}", t.seconds),
        ];
        let header = [
            "CASE",
            "RESULT",
            "OUTCOME",
            "TABLES",
            "CHECKS",
            "REPAIRS",
            "CALLS",
            "PROMPT_TOK",
            "COMPL_TOK",
            "SECONDS",
        ]
        .map(String::from);
        let all: Vec<&[String; 10]> = std::iter::once(&header)
            .chain(rows.iter())
            .chain(std::iter::once(&total))
            .collect();
        let widths: Vec<usize> = (0..10)
            .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in all {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                // Names and words to the left, numbers to the right.
                .map(|(i, (cell, w))| match i {
                    0..=4 => format!("{cell:<w$}"),
                    _ => format!("{cell:>w$}"),
                })
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
        for c in self.cases.iter().filter(|c| !c.passed) {
            if let Some(detail) = &c.detail {
                let _ = writeln!(out, "{}: {detail}", c.case);
            }
        }
        out
    }
}
