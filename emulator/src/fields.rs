//! Small typed accessors for request validation; each error names the offending field the way
//! a client developer needs to see it (`tasks[0].spark_python_task.python_file`).

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Rejects any key not in `known`; `context` is the field path prefix ("" at top level).
pub fn known_keys(obj: &Map<String, Value>, known: &[&str], context: &str) -> ApiResult<()> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(key) => Err(unknown_field(context, key)),
        None => Ok(()),
    }
}

pub fn unknown_field(context: &str, key: &str) -> ApiError {
    let owner = if context.is_empty() {
        "the request".to_string()
    } else {
        context.to_string()
    };
    ApiError::invalid(format!(
        "Unknown field '{}': it is not a valid parameter of {owner}",
        field(context, key)
    ))
}

/// `a.b` / `b` — how nested field names are shown in messages.
pub fn field(context: &str, key: &str) -> String {
    if context.is_empty() {
        key.to_string()
    } else {
        format!("{context}.{key}")
    }
}

fn wrong_type(name: &str, expected: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid value for field '{name}': expected {expected}"
    ))
}

pub fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    ctx: &str,
) -> ApiResult<Option<&'a str>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(&field(ctx, key), "a string")),
    }
}

/// A present, non-empty string.
pub fn req_str<'a>(obj: &'a Map<String, Value>, key: &str, ctx: &str) -> ApiResult<&'a str> {
    match opt_str(obj, key, ctx)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(ApiError::invalid(format!(
            "Missing required field: {}",
            field(ctx, key)
        ))),
    }
}

pub fn opt_bool(obj: &Map<String, Value>, key: &str, ctx: &str) -> ApiResult<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong_type(&field(ctx, key), "a boolean")),
    }
}

pub fn opt_int(obj: &Map<String, Value>, key: &str, ctx: &str) -> ApiResult<Option<i64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(_) => Err(wrong_type(&field(ctx, key), "an integer")),
    }
}

pub fn opt_obj<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    ctx: &str,
) -> ApiResult<Option<&'a Map<String, Value>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(wrong_type(&field(ctx, key), "an object")),
    }
}

pub fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    ctx: &str,
) -> ApiResult<Option<&'a Vec<Value>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(wrong_type(&field(ctx, key), "an array")),
    }
}

/// An optional array whose items must all be strings.
pub fn opt_str_array(obj: &Map<String, Value>, key: &str, ctx: &str) -> ApiResult<()> {
    if let Some(items) = opt_array(obj, key, ctx)?
        && let Some(i) = items.iter().position(|v| !v.is_string())
    {
        return Err(wrong_type(&format!("{}[{i}]", field(ctx, key)), "a string"));
    }
    Ok(())
}

/// Item `i` of an array that must hold objects.
pub fn item_obj<'a>(item: &'a Value, name: &str) -> ApiResult<&'a Map<String, Value>> {
    item.as_object()
        .ok_or_else(|| wrong_type(name, "an object"))
}

/// An optional string restricted to a fixed set of values.
pub fn opt_enum(obj: &Map<String, Value>, key: &str, ctx: &str, allowed: &[&str]) -> ApiResult<()> {
    match opt_str(obj, key, ctx)? {
        Some(v) if !allowed.contains(&v) => Err(ApiError::invalid(format!(
            "Invalid value '{v}' for field '{}': expected one of {}",
            field(ctx, key),
            allowed.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// An optional object whose values must all be strings (Spark conf, tags, configuration).
pub fn opt_str_map(obj: &Map<String, Value>, key: &str, ctx: &str) -> ApiResult<()> {
    if let Some(map) = opt_obj(obj, key, ctx)?
        && let Some((k, _)) = map.iter().find(|(_, v)| !v.is_string())
    {
        return Err(wrong_type(&format!("{}.{k}", field(ctx, key)), "a string"));
    }
    Ok(())
}
