//! `sql.StatementResponse`: status, manifest and the INLINE JSON_ARRAY result.

use serde_json::{Value, json};

use crate::engine::spark::Rows;

/// How a statement ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    Succeeded(Rows),
    /// `error_code` (a `ServiceErrorCode`) and message.
    Failed(String, String),
    Canceled,
}

impl Outcome {
    pub fn failed(code: &str, message: &str) -> Outcome {
        Outcome::Failed(code.to_string(), message.to_string())
    }
}

/// The answer for statement `id`; None = still running.
pub fn body(id: &str, outcome: Option<&Outcome>) -> Value {
    match outcome {
        None => json!({"statement_id": id, "status": {"state": "RUNNING"}}),
        Some(Outcome::Canceled) => json!({"statement_id": id, "status": {"state": "CANCELED"}}),
        Some(Outcome::Failed(code, message)) => json!({
            "statement_id": id,
            "status": {"state": "FAILED", "error": {"error_code": code, "message": message}},
        }),
        Some(Outcome::Succeeded(rows)) => {
            let columns: Vec<Value> = rows
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    json!({"name": c.name, "position": i, "type_name": c.type_name,
                           "type_text": c.type_text})
                })
                .collect();
            let count = rows.rows.len();
            json!({
                "statement_id": id,
                "status": {"state": "SUCCEEDED"},
                "manifest": {
                    "format": "JSON_ARRAY",
                    "schema": {"column_count": columns.len(), "columns": columns},
                    "total_chunk_count": 1,
                    "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": count}],
                    "total_row_count": count,
                    "truncated": rows.truncated,
                },
                "result": {"chunk_index": 0, "row_offset": 0, "row_count": count,
                           "data_array": rows.rows},
            })
        }
    }
}
