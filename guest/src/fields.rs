//! Typed reads of JSON values (the payload's and the model's answer), each reporting a wrong
//! type or an empty string under the field's path.

use crate::error::FieldError;
use serde_json::{Map, Value};

pub fn object(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m.clone()),
        other => {
            errors.push(FieldError::new(
                path,
                format!("must be an object, got {}", kind(other)),
            ));
            None
        }
    }
}

pub fn boolean(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<bool> {
    v.as_bool().or_else(|| {
        errors.push(FieldError::new(
            path,
            format!("must be true or false, got {}", kind(v)),
        ));
        None
    })
}

pub fn count(
    path: &str,
    v: &Value,
    min: u64,
    max: u64,
    errors: &mut Vec<FieldError>,
) -> Option<u64> {
    match v.as_u64() {
        Some(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            errors.push(FieldError::new(
                path,
                format!("must be a whole number from {min} to {max}"),
            ));
            None
        }
    }
}

pub fn string(path: &str, v: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    match v {
        Value::String(s) if s.trim().is_empty() => {
            errors.push(FieldError::new(path, "must not be empty"));
            None
        }
        Value::String(s) => Some(s.clone()),
        other => {
            errors.push(FieldError::new(
                path,
                format!("must be a string, got {}", kind(other)),
            ));
            None
        }
    }
}

/// A JSON type name for error messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
