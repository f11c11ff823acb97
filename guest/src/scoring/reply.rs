//! JSON answers in the Databricks error shape.

use serde_json::{Value, json};
use wstd::http::{Body, Response};

pub fn json_reply(status: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(value.to_string()))
        .expect("a static status and header are valid")
}

pub fn error_reply(status: u16, code: &str, message: &str) -> Response<Body> {
    json_reply(status, &json!({"error_code": code, "message": message}))
}

pub fn with_details(status: u16, code: &str, message: &str, details: Value) -> Response<Body> {
    json_reply(
        status,
        &json!({"error_code": code, "message": message, "details": details}),
    )
}
