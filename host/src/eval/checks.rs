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
