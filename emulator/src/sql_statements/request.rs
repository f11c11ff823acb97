//! `sql.ExecuteStatementRequest` read and checked as the service checks it.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::engine::spark::Parameter;
use crate::error::{ApiError, ApiResult};
use crate::fields::{known_keys, opt_enum, opt_str, req_str};

const KEYS: &[&str] = &[
    "statement",
    "warehouse_id",
    "catalog",
    "schema",
    "parameters",
    "row_limit",
    "byte_limit",
    "disposition",
    "format",
    "wait_timeout",
    "on_wait_timeout",
    "query_tags",
];
const CTX: &str = "ExecuteStatementRequest";
/// Rows returned at most when the request sets no `row_limit` (the API's INLINE results are
/// bounded by size, 25 MiB; rows are what the emulator can bound cheaply).
const DEFAULT_ROW_LIMIT: usize = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnWaitTimeout {
    Continue,
    Cancel,
}

#[derive(Clone, Debug)]
pub struct StatementRequest {
    pub statement: String,
    pub warehouse_id: String,
    pub catalog: Option<String>,
    pub schema: Option<String>,
    /// Named parameter markers (`:name`).
    pub parameters: Vec<Parameter>,
    pub row_limit: usize,
    /// None = `0s`: answer at once, the statement runs on.
    pub wait: Option<Duration>,
    pub on_wait_timeout: OnWaitTimeout,
}

impl StatementRequest {
    pub fn read(body: &Map<String, Value>) -> ApiResult<StatementRequest> {
        known_keys(body, KEYS, CTX)?;
        let statement = req_str(body, "statement", CTX)?.to_string();
        let warehouse_id = req_str(body, "warehouse_id", CTX)?.to_string();
        let text = |key: &str| -> ApiResult<Option<String>> {
            Ok(opt_str(body, key, CTX)?.map(str::to_string))
        };
        opt_enum(body, "disposition", CTX, &["INLINE", "EXTERNAL_LINKS"])?;
        opt_enum(body, "format", CTX, &["JSON_ARRAY", "ARROW_STREAM", "CSV"])?;
        opt_enum(body, "on_wait_timeout", CTX, &["CONTINUE", "CANCEL"])?;
        let disposition = opt_str(body, "disposition", CTX)?;
        let format = opt_str(body, "format", CTX)?;
        if disposition == Some("EXTERNAL_LINKS") {
            return Err(ApiError::invalid(
                "disposition EXTERNAL_LINKS is not available on this emulated warehouse: use INLINE",
            ));
        }
        if format.is_some_and(|f| f != "JSON_ARRAY") {
            return Err(ApiError::invalid(
                "format ARROW_STREAM and CSV need disposition EXTERNAL_LINKS; INLINE results are JSON_ARRAY",
            ));
        }
        let on_wait_timeout = match opt_str(body, "on_wait_timeout", CTX)? {
            Some("CANCEL") => OnWaitTimeout::Cancel,
            _ => OnWaitTimeout::Continue,
        };
        let wait = wait_timeout(text("wait_timeout")?.as_deref().unwrap_or("10s"))?;
        let row_limit = match body.get("row_limit") {
            None | Some(Value::Null) => DEFAULT_ROW_LIMIT,
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| ApiError::invalid("row_limit must be a positive integer"))?,
        };
        Ok(StatementRequest {
            statement,
            warehouse_id,
            catalog: text("catalog")?,
            schema: text("schema")?,
            parameters: parameters(body.get("parameters"))?,
            row_limit,
            wait,
            on_wait_timeout,
        })
    }
}

/// `wait_timeout`: `0s`, or 5 to 50 seconds (`"<n>s"`), as the API accepts it.
fn wait_timeout(text: &str) -> ApiResult<Option<Duration>> {
    let seconds = text
        .strip_suffix('s')
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n == 0 || (5..=50).contains(n))
        .ok_or_else(|| {
            ApiError::invalid(format!(
                "wait_timeout must be 0s or between 5s and 50s, got '{text}'"
            ))
        })?;
    Ok((seconds > 0).then(|| Duration::from_secs(seconds)))
}

fn parameters(value: Option<&Value>) -> ApiResult<Vec<Parameter>> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::invalid("parameters must be an array"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let item = item
                .as_object()
                .ok_or_else(|| ApiError::invalid(format!("parameters[{i}] must be an object")))?;
            let ctx = format!("parameters[{i}]");
            known_keys(item, &["name", "value", "type"], &ctx)?;
            Ok(Parameter {
                name: req_str(item, "name", &ctx)?.to_string(),
                value: opt_str(item, "value", &ctx)?.map(str::to_string),
                kind: opt_str(item, "type", &ctx)?.map(str::to_string),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value) -> ApiResult<StatementRequest> {
        StatementRequest::read(body.as_object().unwrap())
    }

    #[test]
    fn requests_are_checked_as_the_service_checks_them() {
        let ok = read(json!({"statement": "SELECT 1", "warehouse_id": "w",
            "wait_timeout": "30s", "on_wait_timeout": "CANCEL", "row_limit": 5,
            "parameters": [{"name": "n", "value": "3", "type": "INT"}]}))
        .unwrap();
        assert_eq!(ok.wait, Some(Duration::from_secs(30)));
        assert_eq!(ok.on_wait_timeout, OnWaitTimeout::Cancel);
        assert_eq!(ok.row_limit, 5);
        assert_eq!(ok.parameters[0].name, "n");
        assert_eq!(
            read(json!({"statement": "x", "warehouse_id": "w", "wait_timeout": "0s"}))
                .unwrap()
                .wait,
            None
        );
        for (body, field) in [
            (json!({"warehouse_id": "w"}), "statement"),
            (
                json!({"statement": "x", "warehouse_id": "w", "wait_timeout": "60s"}),
                "wait_timeout",
            ),
            (
                json!({"statement": "x", "warehouse_id": "w", "wait_timeout": "3s"}),
                "wait_timeout",
            ),
            (
                json!({"statement": "x", "warehouse_id": "w", "disposition": "EXTERNAL_LINKS"}),
                "EXTERNAL_LINKS",
            ),
            (
                json!({"statement": "x", "warehouse_id": "w", "format": "CSV"}),
                "CSV",
            ),
            (
                json!({"statement": "x", "warehouse_id": "w", "row_limit": 0}),
                "row_limit",
            ),
            (
                json!({"statement": "x", "warehouse_id": "w", "bogus": 1}),
                "bogus",
            ),
        ] {
            let refused = read(body).unwrap_err();
            assert!(
                format!("{refused:?}").contains(field),
                "{field}: {refused:?}"
            );
        }
    }
}
