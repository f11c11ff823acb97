//! Data checks after a waited update that COMPLETED: for each table of `datasets` its rows,
//! the NULLs in each column named as a key (primary key, AUTO CDC keys, `<col> IS NOT NULL`
//! expectations: see `declared`), its duplicate keys and its expectations' records.
//!
//! Rows and expectations come from the update's `flow_progress` events (`flows`); with a SQL
//! warehouse (payload `warehouse_id`) one statement per table counts the NULL keys and the
//! duplicates, and the rows the events lack (`count`). Nothing here fails the run: the pipeline
//! did run, so whatever cannot be counted is a note in the run's message.

mod count;
pub mod declared;
mod flows;

use super::progress::Progress;
use crate::databricks::WorkspaceClient;
use crate::databricks::events::Dataset;
use crate::databricks::statements::{self, StatementError};
use declared::{Action, Declared, Rules};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// What the checks found in one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableChecks {
    /// As `datasets` names it.
    pub table: String,
    /// None when neither the events nor a warehouse said.
    pub rows: Option<u64>,
    /// NULLs in each key column (a warehouse's count; None without one).
    pub null_keys: Option<BTreeMap<String, u64>>,
    /// Key values held by more than one row (a warehouse's count, for a table with a key).
    pub duplicate_keys: Option<u64>,
    /// Each expectation's records, when the events reported data quality for the table.
    pub expectations: Option<BTreeMap<String, Expectation>>,
}

/// One expectation's records in the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expectation {
    pub passed: u64,
    pub failed: u64,
    /// Rows it removed: its failed records when it is `DROP ROW`, 0 when it warns (or fails
    /// the update); None when its action is unknown and the table dropped rows.
    pub dropped: Option<u64>,
}

/// What the checks need of the run.
pub struct Run<'a> {
    /// The datasets of the update, as `run` reports them.
    pub datasets: &'a [Dataset],
    /// The update's INFO events (its `flow_progress` among them).
    pub events: &'a [Value],
    /// The source files the run wrote, path → text.
    pub sources: &'a BTreeMap<String, String>,
    pub warehouse_id: Option<&'a str>,
    pub progress: &'a Progress,
}

/// The checks of every dataset, in `datasets` order, and what could not be counted, in words.
pub async fn check(ws: &WorkspaceClient, run: &Run<'_>) -> (Vec<TableChecks>, Vec<String>) {
    let (declared, mut notes) = Declared::read(run.sources);
    let counted = flows::read(run.events);
    let mut warehouse = run.warehouse_id;
    let mut out = Vec::new();
    for dataset in run.datasets {
        let rules = declared.of(&dataset.name);
        let from_events = flows::of(&counted, &dataset.name)
            .cloned()
            .unwrap_or_default();
        let mut checks = TableChecks {
            table: dataset.name.clone(),
            rows: from_events.rows,
            null_keys: None,
            duplicate_keys: None,
            expectations: expectations(&from_events, &rules),
        };
        if let Some(id) = warehouse {
            let count = count::statement(&dataset.name, &rules);
            let answer = statements::execute(ws, id, &count.statement).await;
            match answer.map(|table| count.read(&table)) {
                Ok(Ok(c)) => {
                    checks.rows = checks.rows.or(Some(c.rows));
                    checks.null_keys = Some(c.null_keys);
                    checks.duplicate_keys = c.duplicate_keys;
                }
                Ok(Err(why)) => notes.push(format!("checks of {}: {why}", dataset.name)),
                Err(StatementError::Request(e)) => {
                    // The warehouse itself (its id, a permission) would fail every table alike.
                    notes.push(format!(
                        "checks: SQL warehouse {id} could not be asked ({e}); no statement sent \
                         for the tables after {}",
                        dataset.name
                    ));
                    warehouse = None;
                }
                Err(ended) => notes.push(format!("checks of {}: {ended}", dataset.name)),
            }
        }
        run.progress.say(&checks);
        out.push(checks);
    }
    for note in &notes {
        run.progress.say(note);
    }
    (out, notes)
}

/// The expectations' records from the events, each with the rows it dropped.
fn expectations(counted: &flows::Counted, rules: &Rules) -> Option<BTreeMap<String, Expectation>> {
    if counted.expectations.is_empty() {
        return None;
    }
    let out = counted
        .expectations
        .iter()
        .map(|(name, &(passed, failed))| {
            let dropped = match rules.actions.get(name) {
                Some(Action::Drop) => Some(failed),
                Some(Action::Warn | Action::Fail) => Some(0),
                // Not in the sources the run wrote: only a table that dropped nothing says.
                None => (counted.dropped == Some(0)).then_some(0),
            };
            let e = Expectation {
                passed,
                failed,
                dropped,
            };
            (name.clone(), e)
        });
    Some(out.collect())
}

/// The progress line: `checks main.s.t: 10 rows, 0 duplicate keys, NULL keys: id 0; expectations: valid 9 passed / 1 failed / 1 dropped`.
impl fmt::Display for TableChecks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(rows) = self.rows {
            parts.push(format!("{rows} rows"));
        }
        if let Some(d) = self.duplicate_keys {
            parts.push(format!("{d} duplicate keys"));
        }
        if let Some(nulls) = self.null_keys.as_ref().filter(|n| !n.is_empty()) {
            let each: Vec<String> = nulls.iter().map(|(c, n)| format!("{c} {n}")).collect();
            parts.push(format!("NULL keys: {}", each.join(", ")));
        }
        if let Some(expectations) = &self.expectations {
            let each: Vec<String> = expectations
                .iter()
                .map(|(name, e)| {
                    let dropped = e.dropped.map_or("?".to_string(), |d| d.to_string());
                    format!(
                        "{name} {} passed / {} failed / {dropped} dropped",
                        e.passed, e.failed
                    )
                })
                .collect();
            parts.push(format!("expectations: {}", each.join(", ")));
        }
        if parts.is_empty() {
            parts.push("nothing counted".into());
        }
        write!(f, "checks {}: {}", self.table, parts.join("; "))
    }
}

#[cfg(test)]
mod tests;
