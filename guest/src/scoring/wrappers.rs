//! The MLflow scoring input formats, turned into seed payloads.

use serde_json::{Map, Value};

const WRAPPERS: [&str; 4] = [
    "dataframe_split",
    "dataframe_records",
    "instances",
    "inputs",
];

pub enum Input {
    /// A seed payload sent as is: answered with the predict result itself.
    Raw(Value),
    /// Payloads from an MLflow wrapper (`field`): answered with `{"predictions": [...]}`.
    Records { field: String, records: Vec<Value> },
}

/// Reads a request body. Errors name the offending field.
pub fn records(doc: Value) -> Result<Input, String> {
    let Value::Object(mut map) = doc else {
        return Err("body must be a JSON object".into());
    };
    let present: Vec<&str> = WRAPPERS
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let field = match present.as_slice() {
        [] => return Ok(Input::Raw(Value::Object(map))),
        [one] => one.to_string(),
        many => {
            return Err(format!(
                "give exactly one of dataframe_split, dataframe_records, instances, inputs (got {})",
                many.join(", ")
            ));
        }
    };
    let extra: Vec<&String> = map
        .keys()
        .filter(|k| k.as_str() != field && k.as_str() != "params")
        .collect();
    if !extra.is_empty() {
        return Err(format!(
            "unexpected field(s) beside {field}: {}",
            extra
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let value = map.remove(&field).unwrap_or(Value::Null);
    let records = match field.as_str() {
        "dataframe_split" => split(value)?,
        "inputs" => match value {
            Value::Object(_) => vec![value],
            other => list(&field, other)?,
        },
        _ => list(&field, value)?,
    };
    if records.is_empty() {
        return Err(format!("{field} holds no records"));
    }
    Ok(Input::Records { field, records })
}

/// An array of payload objects.
fn list(field: &str, value: Value) -> Result<Vec<Value>, String> {
    let Value::Array(items) = value else {
        return Err(format!("{field} must be an array of objects"));
    };
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(format!("{field}[{i}] must be an object"));
        }
    }
    Ok(items)
}

/// `{columns: [...], data: [[...]]}` (pandas "split" orient) into one object per row.
fn split(value: Value) -> Result<Vec<Value>, String> {
    let columns = value
        .get("columns")
        .and_then(Value::as_array)
        .ok_or("dataframe_split.columns must be an array of column names")?;
    let names: Vec<&str> = columns
        .iter()
        .map(|c| {
            c.as_str()
                .ok_or("dataframe_split.columns must hold strings")
        })
        .collect::<Result<_, _>>()?;
    let rows = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or("dataframe_split.data must be an array of rows")?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let cells = row
                .as_array()
                .filter(|cells| cells.len() == names.len())
                .ok_or(format!(
                    "dataframe_split.data[{i}] must be an array of {} values",
                    names.len()
                ))?;
            let mut record = Map::new();
            for (name, cell) in names.iter().zip(cells) {
                // Pandas sends missing cells as null: an absent key, not a null value.
                if !cell.is_null() {
                    record.insert(name.to_string(), cell.clone());
                }
            }
            Ok(Value::Object(record))
        })
        .collect()
}
