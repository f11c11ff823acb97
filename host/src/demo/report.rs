//! What the demo prints about the pipeline it made: its source files, its updates and the
//! tables a Spark run wrote, read from the emulator; the dataset graph `run` reported, as chains.

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

/// The dataset graph `run` reported (`datasets: [{name, inputs}]`) as chains `a → b → c`
/// (names without catalog and schema).
pub fn chains(datasets: &Value) -> Vec<String> {
    let short = |name: &Value| {
        let name = name.as_str().unwrap_or("?");
        name.rsplit('.').next().unwrap_or(name).to_string()
    };
    let mut edges: Vec<(String, String)> = Vec::new();
    let mut outputs: Vec<String> = Vec::new();
    for dataset in datasets.as_array().into_iter().flatten() {
        let output = short(&dataset["name"]);
        for input in dataset["inputs"].as_array().into_iter().flatten() {
            edges.push((short(input), output.clone()));
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

    #[test]
    fn the_reported_graph_reads_as_chains() {
        let datasets = json!([
            {"name": "main.s.clicks_bronze", "inputs": []},
            {"name": "main.s.clicks_silver", "inputs": ["main.s.clicks_bronze"]},
            {"name": "main.s.clicks_gold", "inputs": ["main.s.clicks_silver", "other.x.dim"]},
            {"name": "main.s.clicks_daily", "inputs": ["main.s.clicks_silver"]},
        ]);
        assert_eq!(
            chains(&datasets),
            [
                "clicks_bronze → clicks_silver → clicks_daily",
                "clicks_bronze → clicks_silver → clicks_gold",
                "dim → clicks_gold",
            ]
        );
        assert!(chains(&Value::Null).is_empty(), "no graph reported");
    }
}
