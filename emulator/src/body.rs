//! Extractors that turn bodies and query strings into Databricks-shaped errors instead of
//! axum's plain-text rejections.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The request body, parsed once by the gate and handed to the route through extensions.
#[derive(Clone, Debug)]
pub enum ParsedBody {
    Empty,
    Json(Value),
    Invalid,
}

impl ParsedBody {
    pub fn parse(bytes: &[u8]) -> Self {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Self::Empty;
        }
        serde_json::from_slice(bytes).map_or(Self::Invalid, Self::Json)
    }

    /// What `requests()` shows: the JSON, or Null when empty or not JSON.
    pub fn recorded(&self) -> Value {
        match self {
            Self::Json(value) => value.clone(),
            _ => Value::Null,
        }
    }
}

/// A JSON object body. An empty body counts as `{}` (as on Databricks); anything that is not a
/// JSON object is MALFORMED_REQUEST.
pub struct JsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequestParts<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.remove::<ParsedBody>() {
            None | Some(ParsedBody::Empty) => Ok(Self(Map::new())),
            Some(ParsedBody::Json(Value::Object(map))) => Ok(Self(map)),
            Some(ParsedBody::Json(_)) => Err(ApiError::malformed(
                "Invalid JSON given in the body of the request - expected a map",
            )),
            Some(ParsedBody::Invalid) => Err(ApiError::malformed(
                "Invalid JSON given in the body of the request - failed to parse given JSON",
            )),
        }
    }
}

/// Query-string parameters (last value wins).
pub struct Params(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(map)| Self(map))
            .map_err(|e| ApiError::malformed(format!("Invalid query string: {e}")))
    }
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}
