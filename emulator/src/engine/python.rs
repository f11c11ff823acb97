//! The datasets a Python pipeline file defines and the tables it reads, from the decorators
//! and calls of the pipelines API (`from pyspark import pipelines as dp`, or the older
//! `import dlt`). Python itself is not executed here: that needs the engine.

use std::sync::LazyLock;

use regex::Regex;

use super::{DatasetKind, Flow};

/// `@dp.materialized_view`-style decorators (their arguments and the decorators after them
/// are read by [`decorated`]).
static DECORATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"@\s*(?:dp|dlt|sdp|pipelines)\.(materialized_view|table|streaming_table|temporary_view|view|append_flow)\b"#,
    )
    .expect("valid regex")
});

static DEF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^def\s+([A-Za-z_]\w*)\s*\("#).expect("valid regex"));

static OTHER_DECORATOR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^@\s*[A-Za-z_][\w.]*"#).expect("valid regex"));

/// The end of the parenthesised arguments opening at `open` (a `(`), strings skipped.
fn close_of(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text[open..].char_indices() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// One decorated dataset function: where its decorator starts, where its `def name(` ends,
/// the decorator, its arguments and the function's name.
struct Decorated<'a> {
    start: usize,
    end: usize,
    decorator: &'a str,
    args: &'a str,
    function: &'a str,
}

/// The pipelines API's decorated functions, their decorators' arguments and any other
/// decorators (`@dp.expect_all({...})` over several lines) read with balanced parentheses.
fn decorated(text: &str) -> Vec<Decorated<'_>> {
    let mut found = Vec::new();
    for m in DECORATOR.captures_iter(text) {
        let whole = m.get(0).expect("match");
        let mut at = whole.end();
        let mut args = "";
        let skip_space = |at: usize| at + (text[at..].len() - text[at..].trim_start().len());
        if text[at..].starts_with('(') {
            let Some(close) = close_of(text, at) else {
                continue;
            };
            args = &text[at..close];
            at = close;
        }
        loop {
            at = skip_space(at);
            let Some(other) = OTHER_DECORATOR.find(&text[at..]) else {
                break;
            };
            at += other.end();
            let next = skip_space(at);
            if text[next..].starts_with('(') {
                let Some(close) = close_of(text, next) else {
                    break;
                };
                at = close;
            }
        }
        let Some(def) = DEF.captures(&text[at..]) else {
            continue;
        };
        found.push(Decorated {
            start: whole.start(),
            end: at + def.get(0).expect("match").end(),
            decorator: m.get(1).expect("group").as_str(),
            args,
            function: def.get(1).expect("group").as_str(),
        });
    }
    found
}

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

/// `dp.create_auto_cdc_flow(` / `dlt.apply_changes(`: where an AUTO CDC flow's arguments open.
static AUTO_CDC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:dp|dlt|sdp|pipelines)\.(?:create_auto_cdc_flow|apply_changes)\s*\("#)
        .expect("valid regex")
});

/// The tables the file's AUTO CDC flows write (their `target=` argument).
pub fn auto_cdc_targets(text: &str) -> Vec<String> {
    AUTO_CDC
        .find_iter(text)
        .filter_map(|found| {
            let open = found.end() - 1;
            let args = &text[open..close_of(text, open)?];
            NAME_ARG
                .captures_iter(args)
                .find(|c| &c[1] == "target")
                .map(|c| c[2].to_string())
        })
        .collect()
}

/// The datasets and flows a Python file defines.
pub fn analyse(text: &str) -> (Vec<(String, DatasetKind)>, Vec<Flow>) {
    let mut datasets = Vec::new();
    let mut flows = Vec::new();
    for found in CREATED.captures_iter(text) {
        datasets.push((found[1].to_string(), DatasetKind::StreamingTable));
    }
    let found_all = decorated(text);
    for (k, found) in found_all.iter().enumerate() {
        let (decorator, args, function) = (found.decorator, found.args, found.function);
        // The body: up to the next top-level line (or the next decorated function).
        let from = found.end;
        let to = found_all.get(k + 1).map_or(text.len(), |next| next.start);
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
        let (inputs, streamed, streaming) = reads(body);
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
            streamed,
        });
    }
    (datasets, flows)
}

/// The tables a function body reads, those it reads as streams, and whether it reads any
/// stream.
fn reads(body: &str) -> (Vec<String>, Vec<String>, bool) {
    let mut names = Vec::new();
    let mut streamed = Vec::new();
    let mut streaming = false;
    for found in READ.captures_iter(body) {
        let how = found
            .get(1)
            .or_else(|| found.get(2))
            .or_else(|| found.get(3))
            .map_or("", |m| m.as_str());
        let name = found[4].strip_prefix("LIVE.").unwrap_or(&found[4]);
        if how == "readStream" || how == "read_stream" {
            streaming = true;
            streamed.push(name.to_string());
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    // A file stream (`spark.readStream.format("cloudFiles")...load(path)`) reads no table.
    streaming |= body.contains("readStream");
    (names, streamed, streaming)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_cdc_targets_are_their_target_arguments() {
        let text = "dp.create_auto_cdc_flow(\n    source=\"changes\",\n    target=\"current\",\n    keys=[\"id\"],\n)\n\
                    dlt.apply_changes(target='history', source='changes', keys=['id'], sequence_by='seq')\n\
                    dp.create_streaming_table(\"other\")\n";
        assert_eq!(auto_cdc_targets(text), ["current", "history"]);
    }

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
@dp.expect_all_or_drop({
    "has_id": "id IS NOT NULL",
    "recent": "ts > date_sub(current_date(), 7)",
})
@dlt.expect("ok", "id > 0")
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
