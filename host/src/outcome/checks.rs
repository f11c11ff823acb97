//! `"checks"` of a run's answer: `{"<table>": {"rows", "null_keys": {"<column>": n},
//! "duplicate_keys", "expectations": {"<name>": {"passed", "failed", "dropped"}}}}`, each
//! count absent when nothing could say it (see the WIT's `table-checks`).

use crate::component::TableChecks;
use serde::Serialize;
use std::collections::BTreeMap;

/// One table's checks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_keys: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_keys: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expectations: Option<BTreeMap<String, ExpectationRecords>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExpectationRecords {
    pub passed: u64,
    pub failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
}

/// The component's list as the answer's map, by table name.
pub fn by_table(all: Vec<TableChecks>) -> BTreeMap<String, Checked> {
    all.into_iter()
        .map(|t| {
            let checked = Checked {
                rows: t.rows,
                null_keys: t
                    .null_keys
                    .map(|n| n.into_iter().map(|c| (c.column, c.count)).collect()),
                duplicate_keys: t.duplicate_keys,
                expectations: t.expectations.map(|all| {
                    all.into_iter()
                        .map(|e| {
                            let records = ExpectationRecords {
                                passed: e.passed,
                                failed: e.failed,
                                dropped: e.dropped,
                            };
                            (e.name, records)
                        })
                        .collect()
                }),
            };
            (t.table, checked)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::{ColumnCount, ExpectationCount};
    use serde_json::json;

    #[test]
    fn a_map_by_table_without_the_unknown_counts() {
        let checks = by_table(vec![
            TableChecks {
                table: "main.s.orders".into(),
                rows: Some(10),
                null_keys: Some(vec![ColumnCount {
                    column: "id".into(),
                    count: 0,
                }]),
                duplicate_keys: Some(1),
                expectations: Some(vec![ExpectationCount {
                    name: "valid".into(),
                    passed: 9,
                    failed: 1,
                    dropped: Some(1),
                }]),
            },
            TableChecks {
                table: "main.s.view".into(),
                rows: None,
                null_keys: None,
                duplicate_keys: None,
                expectations: None,
            },
        ]);
        assert_eq!(
            serde_json::to_value(&checks).unwrap(),
            json!({
                "main.s.orders": {"rows": 10, "null_keys": {"id": 0}, "duplicate_keys": 1,
                                  "expectations": {"valid": {"passed": 9, "failed": 1, "dropped": 1}}},
                "main.s.view": {},
            })
        );
    }
}
