//! Typed reads of payload values, each reporting a wrong type under the field's path.

use crate::error::FieldError;
use crate::pipeline_config::kind;
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
