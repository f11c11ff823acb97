//! What an update's `flow_progress` events say of each dataset: the rows its COMPLETED flows
//! wrote (`metrics.num_output_rows`, summed over the flows) and the expectations' records
//! (`data_quality`: `dropped_records`, `expectations[{name, dataset, passed_records,
//! failed_records}]`), as the Databricks event log carries them.

use serde_json::Value;
use std::collections::BTreeMap;

/// One dataset's counts from the events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Rows written, when some COMPLETED event of the dataset said.
    pub rows: Option<u64>,
    /// Records DROP ROW expectations removed (`dropped_records`), when data quality was reported.
    pub dropped: Option<u64>,
    /// Each expectation's (passed, failed) records, by name.
    pub expectations: BTreeMap<String, (u64, u64)>,
}

/// The counts by dataset name (unquoted, lower case: see [`key`]).
pub fn read(events: &[Value]) -> BTreeMap<String, Counted> {
    let mut out: BTreeMap<String, Counted> = BTreeMap::new();
    let completed = events
        .iter()
        .filter(|e| e.get("event_type").and_then(Value::as_str) == Some("flow_progress"))
        .filter_map(|e| Some((e, e.pointer("/details/flow_progress")?)))
        .filter(|(_, p)| p.get("status").and_then(Value::as_str) == Some("COMPLETED"));
    for (event, progress) in completed {
        let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
        let Some(dataset) = text("/origin/dataset_name").or_else(|| text("/origin/flow_name"))
        else {
            continue;
        };
        let counted = out.entry(key(dataset)).or_default();
        if let Some(rows) = progress
            .pointer("/metrics/num_output_rows")
            .and_then(Value::as_u64)
        {
            *counted.rows.get_or_insert(0) += rows;
        }
        let Some(quality) = progress.get("data_quality") else {
            continue;
        };
        let dropped = quality.get("dropped_records").and_then(Value::as_u64);
        *counted.dropped.get_or_insert(0) += dropped.unwrap_or(0);
        let expectations = quality.get("expectations").and_then(Value::as_array);
        for e in expectations.into_iter().flatten() {
            let Some(name) = e.get("name").and_then(Value::as_str) else {
                continue;
            };
            let count = |k: &str| e.get(k).and_then(Value::as_u64).unwrap_or(0);
            // Its `dataset` is the one the flow writes (maybe named otherwise qualified).
            let (passed, failed) = counted.expectations.entry(name.to_string()).or_default();
            *passed += count("passed_records");
            *failed += count("failed_records");
        }
    }
    out
}

/// The counts of `dataset` (as `datasets` names it): its own entry, else one the events named
/// by its last parts only (`orders` or `sales.orders` for `main.sales.orders`).
pub fn of<'a>(counted: &'a BTreeMap<String, Counted>, dataset: &str) -> Option<&'a Counted> {
    let full = key(dataset);
    counted.get(&full).or_else(|| {
        counted
            .iter()
            .find(|(name, _)| full.ends_with(&format!(".{name}")))
            .map(|(_, c)| c)
    })
}

/// A dataset name to compare by: parts unquoted, lower case (Unity Catalog ignores case).
pub fn key(name: &str) -> String {
    name.split('.')
        .map(|p| p.trim_matches('`').to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn progress(dataset: &str, status: &str, details: Value) -> Value {
        let mut p = details;
        p["status"] = json!(status);
        json!({"event_type": "flow_progress", "level": "INFO",
               "origin": {"flow_name": dataset, "dataset_name": dataset},
               "details": {"flow_progress": p}})
    }

    #[test]
    fn completed_flows_are_summed_per_dataset() {
        let quality = |passed, failed, dropped| {
            json!({"metrics": {"num_output_rows": passed},
                   "data_quality": {"dropped_records": dropped, "expectations": [
                       {"name": "valid_id", "dataset": "main.s.orders", "passed_records": passed,
                        "failed_records": failed}]}})
        };
        let events = [
            progress("main.s.orders", "RUNNING", quality(5, 5, 5)),
            progress("main.s.orders", "COMPLETED", quality(8, 2, 2)),
            // A second flow into the same table (an append flow).
            progress("`main`.`s`.`Orders`", "COMPLETED", quality(1, 0, 0)),
            progress(
                "main.s.plain",
                "COMPLETED",
                json!({"metrics": {"num_output_rows": 3}}),
            ),
            progress("main.s.silent", "COMPLETED", json!({})),
            json!({"event_type": "flow_definition", "origin": {"dataset_name": "main.s.x"}}),
        ];
        let counted = read(&events);
        let orders = &counted["main.s.orders"];
        assert_eq!(orders.rows, Some(9));
        assert_eq!(orders.dropped, Some(2));
        assert_eq!(orders.expectations["valid_id"], (9, 2));
        assert_eq!(counted["main.s.plain"].rows, Some(3));
        assert_eq!(counted["main.s.plain"].dropped, None);
        assert_eq!(counted["main.s.silent"], Counted::default());
        assert!(!counted.contains_key("main.s.x"));
        assert_eq!(of(&counted, "MAIN.s.Orders"), Some(orders));
        let short = read(&[progress("orders", "COMPLETED", quality(2, 0, 0))]);
        assert_eq!(of(&short, "main.s.orders").and_then(|c| c.rows), Some(2));
        assert_eq!(of(&short, "main.s.x_orders"), None);
    }
}
