//! SQL Statement Execution API: one statement on a SQL warehouse, its small result inline.
//! `POST /api/2.0/sql/statements` waits up to 30 s and cancels the statement then
//! (`on_wait_timeout: CANCEL`), so nothing keeps running on the warehouse after the answer.
//! Shapes as databricks-sdk's `ExecuteStatement` and `StatementResponse` (service/sql.py).

use super::client::{Retry, WorkspaceClient};
use crate::error::Error;
use serde::{Deserialize, Serialize};

const PATH: &str = "/api/2.0/sql/statements";

/// The request: `JSON_ARRAY` values in the answer itself (`INLINE`).
#[derive(Debug, Serialize)]
pub struct ExecuteStatement<'a> {
    pub warehouse_id: &'a str,
    pub statement: &'a str,
    pub wait_timeout: &'static str,
    pub on_wait_timeout: &'static str,
    pub format: &'static str,
    pub disposition: &'static str,
}

impl<'a> ExecuteStatement<'a> {
    pub fn inline(warehouse_id: &'a str, statement: &'a str) -> Self {
        ExecuteStatement {
            warehouse_id,
            statement,
            wait_timeout: "30s",
            on_wait_timeout: "CANCEL",
            format: "JSON_ARRAY",
            disposition: "INLINE",
        }
    }
}

/// The answer (a statement that failed to run is a 200 with `status.state` FAILED).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatementResponse {
    pub statement_id: Option<String>,
    pub status: StatementStatus,
    pub manifest: Option<ResultManifest>,
    pub result: Option<ResultData>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StatementStatus {
    /// PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, CLOSED.
    pub state: Option<String>,
    pub error: Option<ServiceError>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceError {
    pub error_code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResultManifest {
    pub schema: ResultSchema,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResultSchema {
    pub columns: Vec<ColumnInfo>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ColumnInfo {
    pub name: String,
    pub position: Option<usize>,
    pub type_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResultData {
    /// Each value as a string, NULL as null.
    pub data_array: Vec<Vec<Option<String>>>,
}

/// A statement's result: its columns' names in order, and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

impl Table {
    /// The value of `column` in the first row.
    pub fn first(&self, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.rows.first()?.get(i)?.as_deref()
    }
}

/// Why a statement gave no result.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    /// The request itself failed (the warehouse id, a permission, the network).
    #[error("{0}")]
    Request(Error),
    /// The statement ran and did not succeed.
    #[error("statement {id} ended {state}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Ended {
        id: String,
        state: String,
        message: Option<String>,
    },
}

/// Runs `statement` on `warehouse_id` and answers its rows. A lost answer is asked again
/// (`Retry::Safe`): the statements sent here only read.
pub async fn execute(
    ws: &WorkspaceClient,
    warehouse_id: &str,
    statement: &str,
) -> Result<Table, StatementError> {
    let body = serde_json::to_value(ExecuteStatement::inline(warehouse_id, statement))
        .expect("a request serialises");
    let answer = ws
        .post(PATH, &body, Retry::Safe)
        .await
        .map_err(StatementError::Request)?;
    let response: StatementResponse = serde_json::from_value(answer).map_err(|e| {
        StatementError::Request(Error::Transport(format!(
            "POST {PATH}: not a statement response: {e}"
        )))
    })?;
    read(response)
}

fn read(response: StatementResponse) -> Result<Table, StatementError> {
    let state = response.status.state.unwrap_or_default();
    if state != "SUCCEEDED" {
        let error = response.status.error.unwrap_or_default();
        let message = match (error.error_code, error.message) {
            (Some(code), Some(m)) => Some(format!("{code}: {m}")),
            (None, Some(m)) => Some(m),
            (Some(code), None) => Some(code),
            (None, None) if state == "CANCELED" => {
                Some("not finished within 30 s (wait_timeout), so canceled".into())
            }
            (None, None) => None,
        };
        return Err(StatementError::Ended {
            id: response.statement_id.unwrap_or_default(),
            state,
            message,
        });
    }
    let mut columns = response.manifest.unwrap_or_default().schema.columns;
    columns.sort_by_key(|c| c.position);
    Ok(Table {
        columns: columns.into_iter().map(|c| c.name).collect(),
        rows: response.result.unwrap_or_default().data_array,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_request_asks_for_an_inline_answer_canceled_after_30_s() {
        assert_eq!(
            serde_json::to_value(ExecuteStatement::inline("abc", "SELECT 1")).unwrap(),
            json!({"warehouse_id": "abc", "statement": "SELECT 1", "wait_timeout": "30s",
                   "on_wait_timeout": "CANCEL", "format": "JSON_ARRAY", "disposition": "INLINE"})
        );
    }

    fn response(v: serde_json::Value) -> Result<Table, StatementError> {
        read(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn columns_by_position_values_as_strings_and_failures_in_words() {
        let table = response(json!({
            "statement_id": "s1", "status": {"state": "SUCCEEDED"},
            "manifest": {"format": "JSON_ARRAY", "schema": {"column_count": 2, "columns": [
                {"name": "b", "type_name": "LONG", "position": 1},
                {"name": "a", "type_name": "STRING", "position": 0}]}},
            "result": {"chunk_index": 0, "row_offset": 0, "row_count": 1, "data_array": [["x", null]]}
        }))
        .unwrap();
        assert_eq!(table.columns, ["a", "b"]);
        assert_eq!((table.first("a"), table.first("b")), (Some("x"), None));
        let failed = response(json!({"statement_id": "s2", "status": {"state": "FAILED",
            "error": {"error_code": "BAD_REQUEST", "message": "[TABLE_OR_VIEW_NOT_FOUND] t"}}}));
        assert_eq!(
            failed.unwrap_err().to_string(),
            "statement s2 ended FAILED: BAD_REQUEST: [TABLE_OR_VIEW_NOT_FOUND] t"
        );
        let canceled = response(json!({"statement_id": "s3", "status": {"state": "CANCELED"}}));
        assert!(canceled.unwrap_err().to_string().contains("within 30 s"));
    }
}
