//! What the demo shows of the data: the workspace's SQL warehouse (`GET /api/2.0/sql/warehouses`,
//! named to `run` as `warehouse_id` so its data checks count NULL and duplicate keys), each
//! table's checks from `run`'s answer, and 5 sample rows per table through the Statement
//! Execution API, as a user's SQL editor would read them. Nothing here fails the demo: what
//! cannot be read is one line saying why.

use crate::deploy::rest::{Rest, Retry};
use crate::outcome::Failure;
use crate::workspace::Workspace;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

const SAMPLE_ROWS: usize = 5;
const STATEMENTS: &str = "/api/2.0/sql/statements";

/// `GET /api/2.0/sql/warehouses`: `{warehouses: [{id, name, state}]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Warehouses {
    warehouses: Vec<Warehouse>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Warehouse {
    id: String,
}

/// The answer to `POST /api/2.0/sql/statements` (databricks-sdk's `StatementResponse`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatementResponse {
    status: Status,
    manifest: Manifest,
    result: ResultData,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Status {
    state: String,
    error: Option<ServiceError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceError {
    message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Manifest {
    schema: Schema,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Schema {
    columns: Vec<Column>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Column {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResultData {
    data_array: Vec<Vec<Option<String>>>,
}

/// The workspace's REST calls, with the session's credentials.
pub struct Sql {
    rest: Rest,
}

impl Sql {
    pub fn new(workspace: &Workspace) -> Result<Sql, Failure> {
        Ok(Sql {
            rest: Rest::for_workspace(workspace, false)?,
        })
    }

    /// The first SQL warehouse the workspace lists, or why there is none.
    pub async fn warehouse(&self) -> Result<String, String> {
        let answer = self
            .rest
            .get("/api/2.0/sql/warehouses")
            .await
            .map_err(|e| e.to_string())?;
        let listed: Warehouses = serde_json::from_value(answer).map_err(|e| e.to_string())?;
        listed
            .warehouses
            .into_iter()
            .map(|w| w.id)
            .find(|id| !id.is_empty())
            .ok_or_else(|| "the workspace lists no SQL warehouse".into())
    }

    /// The first rows of `table` as lines: a header of column names, then one line per row.
    pub async fn sample(&self, warehouse: &str, table: &str) -> Result<Vec<String>, String> {
        let quoted: Vec<String> = table
            .split('.')
            .map(|p| format!("`{}`", p.trim_matches('`').replace('`', "``")))
            .collect();
        let body = json!({
            "warehouse_id": warehouse,
            "statement": format!("SELECT * FROM {} LIMIT {SAMPLE_ROWS}", quoted.join(".")),
            "wait_timeout": "30s",
            "on_wait_timeout": "CANCEL",
            "format": "JSON_ARRAY",
            "disposition": "INLINE",
        });
        let answer = self
            .rest
            .write(Method::POST, STATEMENTS, &body, Retry::Safe)
            .await
            .map_err(|e| e.to_string())?
            .unwrap_or(Value::Null);
        let response: StatementResponse =
            serde_json::from_value(answer).map_err(|e| e.to_string())?;
        lines(response)
    }
}

fn lines(response: StatementResponse) -> Result<Vec<String>, String> {
    if response.status.state != "SUCCEEDED" {
        let why = response.status.error.map(|e| e.message).unwrap_or_default();
        return Err(format!("statement {}: {why}", response.status.state));
    }
    let header: Vec<String> = response
        .manifest
        .schema
        .columns
        .into_iter()
        .map(|c| c.name)
        .collect();
    let mut out = vec![header.join(" | ")];
    for row in response.result.data_array {
        let values: Vec<&str> = row.iter().map(|v| v.as_deref().unwrap_or("NULL")).collect();
        out.push(values.join(" | "));
    }
    Ok(out)
}

/// One line per table of `run`'s `checks`: `rows, duplicate keys, NULL keys, expectations`.
pub fn check_lines(checks: &Value) -> Vec<String> {
    let Some(tables) = checks.as_object() else {
        return Vec::new();
    };
    tables
        .iter()
        .map(|(table, c)| {
            let mut parts = Vec::new();
            if let Some(rows) = c["rows"].as_u64() {
                parts.push(format!("{rows} rows"));
            }
            if let Some(d) = c["duplicate_keys"].as_u64() {
                parts.push(format!("{d} duplicate keys"));
            }
            for (column, n) in c["null_keys"].as_object().into_iter().flatten() {
                parts.push(format!("{n} NULL {column}"));
            }
            for (name, e) in c["expectations"].as_object().into_iter().flatten() {
                parts.push(format!(
                    "{name}: {} passed, {} failed, {} dropped",
                    e["passed"],
                    e["failed"],
                    e.get("dropped").map_or("?".into(), Value::to_string)
                ));
            }
            if parts.is_empty() {
                parts.push("nothing counted".into());
            }
            format!("{table}: {}", parts.join(", "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_lines_and_failures_in_words() {
        let ok: StatementResponse = serde_json::from_value(json!({
            "status": {"state": "SUCCEEDED"},
            "manifest": {"schema": {"columns": [{"name": "id"}, {"name": "email"}]}},
            "result": {"data_array": [["1", null], ["2", "b@x"]]},
        }))
        .unwrap();
        assert_eq!(lines(ok).unwrap(), ["id | email", "1 | NULL", "2 | b@x"]);
        let failed: StatementResponse = serde_json::from_value(json!({
            "status": {"state": "FAILED", "error": {"message": "the structural engine holds no data"}},
        }))
        .unwrap();
        assert_eq!(
            lines(failed).unwrap_err(),
            "statement FAILED: the structural engine holds no data"
        );
        assert_eq!(
            check_lines(&json!({"m.s.t": {"rows": 3, "null_keys": {"id": 0},
                "expectations": {"v": {"passed": 2, "failed": 1, "dropped": 1}}}, "m.s.v": {}})),
            [
                "m.s.t: 3 rows, 0 NULL id, v: 2 passed, 1 failed, 1 dropped",
                "m.s.v: nothing counted"
            ]
        );
    }
}
