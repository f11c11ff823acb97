//! The case's expectations against what the run wrote: each expected table exists with rows in
//! bounds, has the columns named, and its key columns are unique (as many distinct non-null
//! values as rows).

use super::case::TableExpect;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// A table the run wrote, as the engine reported it.
#[derive(Debug, Default, Clone)]
pub struct Written {
    pub rows: u64,
    pub columns: Vec<String>,
    pub distinct: BTreeMap<String, u64>,
}

/// Written tables by qualified name (`catalog.schema.table`), from the pipeline's last update
/// as the emulator recorded it.
pub fn written(pipeline: &Value) -> BTreeMap<String, Written> {
    let spec = &pipeline["spec"];
    let prefix = format!(
        "{}.{}",
        spec["catalog"].as_str().unwrap_or(""),
        spec["schema"].as_str().unwrap_or("")
    );
    let last = pipeline["updates"]
        .as_array()
        .and_then(|u| u.last())
        .cloned()
        .unwrap_or_default();
    let mut tables = BTreeMap::new();
    for (name, rows) in last["tables"].as_object().into_iter().flatten() {
        let shape = &last["shapes"][name];
        let columns = shape["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        let distinct = shape["distinct"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(c, n)| n.as_u64().map(|n| (c.clone(), n)))
            .collect();
        tables.insert(
            format!("{prefix}.{name}"),
            Written {
                rows: rows.as_u64().unwrap_or(0),
                columns,
                distinct,
            },
        );
    }
    tables
}

/// The tables an update's dataset graph defines (its `flow_definition` events), with nothing
/// known of their rows: what the structural engine, which writes no data, can say.
pub fn defined(events: &[Value], update_id: &str) -> BTreeMap<String, Written> {
    events
        .iter()
        .filter(|e| e["event_type"] == "flow_definition" && e["origin"]["update_id"] == update_id)
        .filter_map(|e| e["details"]["flow_definition"]["output_dataset"].as_str())
        .map(|name| (name.to_string(), Written::default()))
        .collect()
}

/// Only whether each expected table is defined: the structural engine's checks.
pub fn exist(
    expected: &BTreeMap<String, TableExpect>,
    tables: &BTreeMap<String, Written>,
) -> Vec<Check> {
    let names: BTreeMap<String, TableExpect> = expected
        .keys()
        .map(|name| (name.clone(), TableExpect::default()))
        .collect();
    check(&names, tables)
}

/// One check and whether it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub table: String,
    /// What was checked, in words (`exists`, `rows >= 10`, `column order_id`, `unique day`).
    pub check: String,
    pub ok: bool,
    /// What was found, when it did not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
}

/// The written table `expected` names: a qualified name exactly, else by its last part.
fn find<'a>(tables: &'a BTreeMap<String, Written>, expected: &str) -> Option<&'a Written> {
    if expected.contains('.') {
        return tables.get(expected);
    }
    tables
        .iter()
        .find(|(name, _)| name.rsplit('.').next() == Some(expected))
        .map(|(_, t)| t)
}

pub fn check(
    expected: &BTreeMap<String, TableExpect>,
    tables: &BTreeMap<String, Written>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for (name, expect) in expected {
        let mut add = |check: String, ok: bool, found: Option<String>| {
            checks.push(Check {
                table: name.clone(),
                check,
                ok,
                found: if ok { None } else { found },
            })
        };
        let Some(table) = find(tables, name) else {
            let written: Vec<&String> = tables.keys().collect();
            add(
                "exists".into(),
                false,
                Some(format!("written: {written:?}")),
            );
            continue;
        };
        add("exists".into(), true, None);
        let rows = Some(format!("{} rows", table.rows));
        if let Some(min) = expect.min_rows {
            add(format!("rows >= {min}"), table.rows >= min, rows.clone());
        }
        if let Some(max) = expect.max_rows {
            add(format!("rows <= {max}"), table.rows <= max, rows.clone());
        }
        for column in &expect.columns {
            let ok = table.columns.iter().any(|c| c.eq_ignore_ascii_case(column));
            add(
                format!("column {column}"),
                ok,
                Some(format!("columns {:?}", table.columns)),
            );
        }
        for key in &expect.unique {
            let distinct = table
                .distinct
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(key))
                .map(|(_, n)| *n);
            let (ok, found) = match distinct {
                Some(n) => (
                    n == table.rows,
                    format!("{n} distinct values in {} rows", table.rows),
                ),
                None => (false, format!("no column {key} of a plain type")),
            };
            add(format!("unique {key}"), ok, Some(found));
        }
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_structural_engine_checks_only_that_each_table_is_defined() {
        let events = vec![
            json!({"event_type": "flow_definition", "origin": {"update_id": "u1"},
                   "details": {"flow_definition": {"output_dataset": "main.sales.stale"}}}),
            json!({"event_type": "flow_definition", "origin": {"update_id": "u2"},
                   "details": {"flow_definition": {"output_dataset": "main.sales.orders"}}}),
            json!({"event_type": "update_progress", "origin": {"update_id": "u2"}}),
        ];
        let tables = defined(&events, "u2");
        assert_eq!(tables.keys().collect::<Vec<_>>(), ["main.sales.orders"]);
        let expected: BTreeMap<String, TableExpect> = serde_json::from_value(json!({
            "orders": {"min_rows": 5, "columns": ["order_id"], "unique": ["order_id"]},
            "stale": {},
        }))
        .unwrap();
        let checks: Vec<(String, String, bool)> = exist(&expected, &tables)
            .into_iter()
            .map(|c| (c.table, c.check, c.ok))
            .collect();
        assert_eq!(
            checks,
            [
                ("orders".to_string(), "exists".to_string(), true),
                ("stale".to_string(), "exists".to_string(), false),
            ]
        );
    }

    #[test]
    fn expectations_hold_or_say_what_was_found() {
        let pipeline = json!({
            "spec": {"catalog": "main", "schema": "sales"},
            "updates": [{"tables": {}}, {
                "tables": {"orders": 10, "daily": 3},
                "shapes": {
                    "orders": {"columns": ["order_id", "day"], "distinct": {"order_id": 10, "day": 3}},
                    "daily": {"columns": ["day", "n"], "distinct": {"day": 3, "n": 2}},
                },
            }],
        });
        let tables = written(&pipeline);
        assert_eq!(tables["main.sales.orders"].rows, 10);
        let expected: BTreeMap<String, TableExpect> = serde_json::from_value(json!({
            "orders": {"min_rows": 5, "max_rows": 9, "columns": ["ORDER_ID", "amount"], "unique": ["order_id", "day"]},
            "main.sales.daily": {"unique": ["day"]},
            "other.sales.daily": {},
        }))
        .unwrap();
        let failed: Vec<(String, String)> = check(&expected, &tables)
            .into_iter()
            .filter(|c| !c.ok)
            .map(|c| (c.table, c.check))
            .collect();
        assert_eq!(
            failed,
            [
                ("orders".to_string(), "rows <= 9".to_string()),
                ("orders".to_string(), "column amount".to_string()),
                ("orders".to_string(), "unique day".to_string()),
                ("other.sales.daily".to_string(), "exists".to_string()),
            ]
        );
    }
}
