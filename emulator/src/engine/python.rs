//! The datasets a Python pipeline file defines and the tables it reads, from the decorators
//! and calls of the pipelines API (`from pyspark import pipelines as dp`, or the older
//! `import dlt`). Python itself is not executed here: that needs the engine.

use std::sync::LazyLock;

use regex::Regex;

use super::{DatasetKind, Flow};

/// `@dp.materialized_view(...)`-style decorators, then the function they decorate.
static DECORATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?s)@\s*(?:dp|dlt|sdp|pipelines)\.(materialized_view|table|streaming_table|temporary_view|view|append_flow)\b(\((?:[^()]|\([^()]*\))*\))?\s*(?:@[^\n]*\n\s*)*def\s+([A-Za-z_]\w*)\s*\("#,
    )
    .expect("valid regex")
});

static NAME_ARG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"\b(name|target)\s*=\s*["']([^"']+)["']"#).expect("valid regex"));

/// `dp.create_streaming_table("x")` / `(name="x")`.
static CREATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:dp|dlt|sdp|pipelines)\.create_streaming_table\(\s*(?:name\s*=\s*)?["']([^"']+)["']"#,
    )
    .expect("valid regex")
});

/// Reads: `spark.read.table("x")`, `spark.readStream.table("x")`, `spark.table("x")`,
/// `dlt.read("x")`, `dlt.read_stream("x")`.
static READ: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:spark\.(read|readStream)\.table|spark\.(table)|(?:dp|dlt|sdp)\.(read|read_stream))\(\s*["']([^"']+)["']"#,
    )
    .expect("valid regex")
});

/// The datasets and flows a Python file defines.
pub fn analyse(text: &str) -> (Vec<(String, DatasetKind)>, Vec<Flow>) {
    let mut datasets = Vec::new();
    let mut flows = Vec::new();
    for found in CREATED.captures_iter(text) {
        datasets.push((found[1].to_string(), DatasetKind::StreamingTable));
    }
    let found_all: Vec<_> = DECORATED.captures_iter(text).collect();
    for (k, found) in found_all.iter().enumerate() {
        let decorator = &found[1];
        let args = found.get(2).map_or("", |m| m.as_str());
        let function = &found[3];
        // The body: up to the next top-level line (or the next decorated function).
        let from = found.get(0).map_or(0, |m| m.end());
        let to = found_all
            .get(k + 1)
            .and_then(|next| next.get(0))
            .map_or(text.len(), |m| m.start());
        let rest = &text[from..to];
        let body = rest
            .match_indices('\n')
            .find(|(i, _)| rest[i + 1..].starts_with(|c: char| !c.is_whitespace()))
            .map_or(rest, |(i, _)| &rest[..i]);
        let named = |key: &str| {
            NAME_ARG
                .captures_iter(args)
                .find(|c| &c[1] == key)
                .map(|c| c[2].to_string())
        };
        let (output, kind) = match decorator {
            "materialized_view" => (named("name"), Some(DatasetKind::MaterializedView)),
            "streaming_table" => (named("name"), Some(DatasetKind::StreamingTable)),
            "temporary_view" | "view" => (named("name"), Some(DatasetKind::View)),
            // `@dp.table` is a streaming table when the query is a stream; decided below.
            "table" => (named("name"), None),
            _ => (named("target"), None),
        };
        let (inputs, streaming) = reads(body);
        let output = output.unwrap_or_else(|| function.to_string());
        if decorator != "append_flow" {
            let kind = kind.unwrap_or(if streaming {
                DatasetKind::StreamingTable
            } else {
                DatasetKind::MaterializedView
            });
            datasets.push((output.clone(), kind));
        }
        flows.push(Flow {
            name: if decorator == "append_flow" {
                named("name").unwrap_or_else(|| function.to_string())
            } else {
                output.clone()
            },
            output,
            inputs,
            streaming,
        });
    }
    (datasets, flows)
}

/// The tables a function body reads, and whether any of them as a stream.
fn reads(body: &str) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut streaming = false;
    for found in READ.captures_iter(body) {
        let how = found
            .get(1)
            .or_else(|| found.get(2))
            .or_else(|| found.get(3))
            .map_or("", |m| m.as_str());
        streaming |= how == "readStream" || how == "read_stream";
        let name = found[4].strip_prefix("LIVE.").unwrap_or(&found[4]);
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    (names, streaming)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decorators_calls_and_reads() {
        let text = r#"from pyspark import pipelines as dp
from pyspark.sql import functions as F

@dp.materialized_view(comment="raw")
def clicks_bronze():
    return spark.range(100).withColumn("page", F.lit("/home"))

@dp.table(
    name="clicks_silver",
    comment="clean (really)",
)
def silver():
    return spark.readStream.table("clicks_bronze").where("id > 1")

dp.create_streaming_table("all_clicks")

@dp.append_flow(target="all_clicks")
def more():
    return spark.readStream.table("clicks_silver")
"#;
        let (datasets, flows) = analyse(text);
        assert_eq!(
            datasets,
            [
                ("all_clicks".to_string(), DatasetKind::StreamingTable),
                ("clicks_bronze".to_string(), DatasetKind::MaterializedView),
                ("clicks_silver".to_string(), DatasetKind::StreamingTable),
            ]
        );
        let edges: Vec<(&str, &str, Vec<String>)> = flows
            .iter()
            .map(|f| (f.name.as_str(), f.output.as_str(), f.inputs.clone()))
            .collect();
        assert_eq!(
            edges,
            [
                ("clicks_bronze", "clicks_bronze", vec![]),
                (
                    "clicks_silver",
                    "clicks_silver",
                    vec!["clicks_bronze".to_string()]
                ),
                ("more", "all_clicks", vec!["clicks_silver".to_string()]),
            ]
        );
    }
}
