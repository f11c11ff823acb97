//! What the demo prints about the pipeline it made, read from the emulator: its source files,
//! its updates, its dataset graph as chains, and the tables a Spark run wrote.

use sdp_emulator::Emulator;
use serde_json::Value;

/// The emulator's record of one pipeline (spec, updates).
fn pipeline(emulator: &Emulator, pipeline_id: &str) -> Option<Value> {
    emulator
        .pipelines()
        .into_iter()
        .find(|p| p["pipeline_id"].as_str() == Some(pipeline_id))
}

/// Workspace paths of the pipeline's source libraries, as the emulator recorded them.
pub fn source_files(emulator: &Emulator, pipeline_id: &str) -> Vec<String> {
    let Some(pipeline) = pipeline(emulator, pipeline_id) else {
        return Vec::new();
    };
    let libraries = pipeline
        .pointer("/spec/libraries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    libraries
        .iter()
        .filter_map(|lib| {
            lib.pointer("/file/path")
                .or_else(|| lib.pointer("/notebook/path"))
                .or_else(|| lib.pointer("/glob/include"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

/// The pipeline's dataset graph as chains `a → b → c`, from the `flow_definition` events of
/// its last update that defined flows (names without catalog and schema).
pub fn chains(events: &[Value]) -> Vec<String> {
    let short = |name: &str| name.rsplit('.').next().unwrap_or(name).to_string();
    let last_update = events
        .iter()
        .rev()
        .find(|e| e["event_type"] == "flow_definition")
        .map(|e| e["origin"]["update_id"].clone());
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut outputs: Vec<String> = Vec::new();
    for event in events.iter().filter(|e| {
        e["event_type"] == "flow_definition"
            && Some(&e["origin"]["update_id"]) == last_update.as_ref()
    }) {
        let definition = &event["details"]["flow_definition"];
        let output = short(definition["output_dataset"].as_str().unwrap_or("?"));
        for input in definition["input_datasets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            edges.push((short(input["name"].as_str().unwrap_or("?")), output.clone()));
        }
        outputs.push(output);
    }
    // Start from datasets nothing in the pipeline feeds, and follow every edge.
    let mut starts: Vec<String> = outputs
        .iter()
        .filter(|o| !edges.iter().any(|(_, to)| to == *o))
        .cloned()
        .collect();
    starts.extend(
        edges
            .iter()
            .map(|(from, _)| from.clone())
            .filter(|f| !outputs.contains(f)),
    );
    starts.dedup();
    let mut chains = Vec::new();
    let mut stack: Vec<Vec<String>> = starts.into_iter().map(|s| vec![s]).collect();
    while let Some(path) = stack.pop() {
        let last = path.last().cloned().unwrap_or_default();
        let next: Vec<&String> = edges
            .iter()
            .filter(|(from, to)| *from == last && !path.contains(to))
            .map(|(_, to)| to)
            .collect();
        if next.is_empty() {
            chains.push(path.join(" → "));
        }
        for to in next {
            let mut longer = path.clone();
            longer.push(to.clone());
            stack.push(longer);
        }
    }
    chains.sort();
    chains
}

/// One line per update of the pipeline, oldest first: what it did, how it ended, how long
/// it took from start to final state (a validation round and its repair show here).
pub fn update_lines(emulator: &Emulator, pipeline_id: &str) -> Vec<String> {
    let updates = pipeline(emulator, pipeline_id)
        .and_then(|p| p["updates"].as_array().cloned())
        .unwrap_or_default();
    updates
        .iter()
        .map(|u| {
            let kind = if u["validate_only"] == true {
                "validate"
            } else if u["full_refresh"] == true {
                "full refresh"
            } else {
                "refresh"
            };
            let (start, end) = (u["creation_time"].as_i64(), u["end_time"].as_i64());
            let took = match (start, end) {
                (Some(start), Some(end)) if end > 0 => {
                    format!(" {:.1} s", (end - start) as f64 / 1000.0)
                }
                _ => String::new(),
            };
            format!("{:<12} {}{took}", kind, u["state"].as_str().unwrap_or("?"))
        })
        .collect()
}

/// `{"<catalog>.<schema>.<table>": rows}` written by the pipeline's last update.
pub fn tables(emulator: &Emulator, pipeline_id: &str) -> serde_json::Map<String, Value> {
    let Some(pipeline) = pipeline(emulator, pipeline_id) else {
        return Default::default();
    };
    let text = |key: &str| pipeline["spec"][key].as_str().unwrap_or("").to_string();
    let last = pipeline["updates"]
        .as_array()
        .and_then(|u| u.last())
        .cloned()
        .unwrap_or_default();
    last["tables"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, rows)| {
            (
                format!("{}.{}.{name}", text("catalog"), text("schema")),
                rows.clone(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(update: &str, output: &str, inputs: &[&str]) -> Value {
        let inputs: Vec<Value> = inputs.iter().map(|i| json!({"name": i})).collect();
        json!({"event_type": "flow_definition", "origin": {"update_id": update},
               "details": {"flow_definition": {"output_dataset": output, "input_datasets": inputs}}})
    }

    #[test]
    fn the_graph_reads_as_chains_of_the_last_update() {
        let events = vec![
            definition("u1", "main.s.old", &[]),
            definition("u2", "main.s.clicks_bronze", &[]),
            definition("u2", "main.s.clicks_silver", &["main.s.clicks_bronze"]),
            definition(
                "u2",
                "main.s.clicks_gold",
                &["main.s.clicks_silver", "other.x.dim"],
            ),
            definition("u2", "main.s.clicks_daily", &["main.s.clicks_silver"]),
            json!({"event_type": "update_progress", "origin": {"update_id": "u2"}}),
        ];
        assert_eq!(
            chains(&events),
            [
                "clicks_bronze → clicks_silver → clicks_daily",
                "clicks_bronze → clicks_silver → clicks_gold",
                "dim → clicks_gold",
            ]
        );
        assert!(chains(&[]).is_empty());
    }
}
