//! SQL `read_files(...)` and the legacy `cloud_files(...)` (Auto Loader) on the local Spark
//! engine: each call becomes a temporary view defined in a companion Python file, whose query
//! is Spark's file source with the call's options (`spark/sdp_local.py` maps them and names
//! any option that has no counterpart). The SQL then reads the view, `STREAM` kept.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::json;
use sqlparser::tokenizer::Token;

use super::sql::{Statement, Tok, matching_paren};
use super::{ANALYSIS_EXCEPTION, Problem};

/// One call, as the companion file defines it.
#[derive(Debug, PartialEq, Eq)]
pub struct Call {
    pub view: String,
    pub function: String,
    pub path: String,
    pub options: BTreeMap<String, String>,
    pub streaming: bool,
}

fn bad_argument(function: &str, line: u64, why: &str) -> Problem {
    Problem::new(
        "INVALID_SQL_SYNTAX",
        format!("{function}() at line {line}: {why}. SQLSTATE: 42000"),
        ANALYSIS_EXCEPTION,
    )
}

/// A literal's value: strings (quotes removed), numbers and booleans.
fn literal(tok: &Tok) -> Option<String> {
    match &tok.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
            Some(s.replace("\\'", "'").replace("''", "'"))
        }
        Token::Number(n, _) => Some(n.clone()),
        Token::Word(w) if w.quote_style.is_none() => match w.value.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Some(b.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Splits `tokens` at top-level commas.
fn split_args(tokens: &[Tok]) -> Vec<&[Tok]> {
    let mut args = Vec::new();
    let (mut depth, mut from) = (0i32, 0usize);
    for (i, tok) in tokens.iter().enumerate() {
        match tok.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                args.push(&tokens[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    if from < tokens.len() {
        args.push(&tokens[from..]);
    }
    args
}

/// `map('k', 'v', ...)`, the options argument of `cloud_files`.
fn map_literal(arg: &[Tok], function: &str, line: u64) -> Result<Vec<(String, String)>, Problem> {
    let inner = match arg {
        [m, open, inner @ .., close]
            if m.is("MAP") && open.token == Token::LParen && close.token == Token::RParen =>
        {
            inner
        }
        _ => {
            return Err(bad_argument(
                function,
                line,
                "the options must be map('key', 'value', ...)",
            ));
        }
    };
    let values: Option<Vec<String>> = split_args(inner)
        .into_iter()
        .map(|a| match a {
            [one] => literal(one),
            _ => None,
        })
        .collect();
    let values = values.ok_or_else(|| bad_argument(function, line, "map() takes literals only"))?;
    if values.len() % 2 != 0 {
        return Err(bad_argument(function, line, "map() needs key, value pairs"));
    }
    Ok(values
        .chunks(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect())
}

/// The path and options of one call's arguments.
fn arguments(function: &str, args: &[&[Tok]], line: u64) -> Result<Call, Problem> {
    let mut positional = Vec::new();
    let mut options = BTreeMap::new();
    for arg in args {
        match arg {
            [name, arrow, value] if arrow.token == Token::RArrow => {
                let (Some(name), Some(value)) = (name.ident(), literal(value)) else {
                    return Err(bad_argument(
                        function,
                        line,
                        "named options take literal values",
                    ));
                };
                options.insert(name.to_string(), value);
            }
            _ => positional.push(*arg),
        }
    }
    let mut positional = positional.into_iter();
    let path = match positional.next() {
        Some([tok]) => literal(tok),
        _ => None,
    }
    .ok_or_else(|| {
        bad_argument(
            function,
            line,
            "the first argument must be the path, a string",
        )
    })?;
    if function == "cloud_files" {
        match positional.next() {
            Some([tok]) => {
                let format = literal(tok)
                    .ok_or_else(|| bad_argument(function, line, "the format must be a string"))?;
                options.insert("format".into(), format);
            }
            _ => {
                return Err(bad_argument(
                    function,
                    line,
                    "the second argument must be the format",
                ));
            }
        }
        if let Some(map) = positional.next() {
            options.extend(map_literal(map, function, line)?);
        }
    }
    if positional.next().is_some() {
        return Err(bad_argument(function, line, "too many arguments"));
    }
    Ok(Call {
        view: String::new(),
        function: function.to_string(),
        path,
        options,
        streaming: false,
    })
}

/// Finds the statement's calls, pushes the edits that put a view in each call's place, and
/// returns the calls (their views named after `dataset` and `counter`).
pub fn map_calls(
    statement: &Statement,
    dataset: &str,
    counter: &mut usize,
    edits: &mut Vec<(Range<usize>, String)>,
) -> Result<Vec<Call>, Problem> {
    let t = &statement.tokens;
    let mut calls = Vec::new();
    let short = dataset.rsplit('.').next().unwrap_or(dataset);
    for (i, tok) in t.iter().enumerate() {
        let function = tok.keyword().to_ascii_lowercase();
        if !["read_files", "cloud_files"].contains(&function.as_str())
            || t.get(i + 1).is_none_or(|n| n.token != Token::LParen)
        {
            continue;
        }
        let close = matching_paren(t, i + 1)
            .ok_or_else(|| bad_argument(&function, tok.line, "a parenthesis is not closed"))?;
        let mut call = arguments(&function, &split_args(&t[i + 2..close]), tok.line)?;
        call.streaming = (i >= 1 && t[i - 1].is("STREAM"))
            || (i >= 2 && t[i - 1].token == Token::LParen && t[i - 2].is("STREAM"));
        *counter += 1;
        call.view = format!("{short}__{function}_{counter}");
        edits.push((tok.bytes.start..t[close].bytes.end, call.view.clone()));
        calls.push(call);
    }
    Ok(calls)
}

/// The companion Python file defining the calls' views.
pub fn python(workspace_path: &str, calls: &[Call]) -> String {
    let mut out = format!(
        "# Generated by sdp-emulator from {workspace_path}: its read_files() calls as Spark file sources.\n\
         import json\n\nimport sdp_local\nfrom pyspark import pipelines as dp\n"
    );
    for (k, call) in calls.iter().enumerate() {
        let what = if call.function == "cloud_files" {
            "cloud_files"
        } else {
            "read_files"
        };
        let options = json!(call.options).to_string();
        out.push_str(&format!(
            "\n\nsdp_local.SOURCES[{view}] = ({path}, json.loads({options}))\n\n\n@dp.temporary_view(name={view})\ndef _source_{k}():\n    return sdp_local.read_files(\n        spark, {path}, json.loads({options}), streaming={streaming}, what={what}\n    )\n",
            view = json!(call.view),
            path = json!(call.path),
            options = json!(options),
            streaming = if call.streaming { "True" } else { "False" },
            what = json!(what),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sql::parse;

    #[test]
    fn calls_become_views_with_their_options() {
        let text = "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM read_files(\n  '/Volumes/main/raw/events/', format => 'json', header => true, maxFilesPerTrigger => 5)";
        let statements = parse(text).unwrap();
        let (mut counter, mut edits) = (0, Vec::new());
        let calls = map_calls(&statements[0], "main.s.raw", &mut counter, &mut edits).unwrap();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(call.view, "raw__read_files_1");
        assert_eq!(call.path, "/Volumes/main/raw/events/");
        assert!(call.streaming);
        assert_eq!(
            call.options,
            BTreeMap::from([
                ("format".to_string(), "json".to_string()),
                ("header".to_string(), "true".to_string()),
                ("maxFilesPerTrigger".to_string(), "5".to_string()),
            ])
        );
        assert_eq!(&text[edits[0].0.clone()][..11], "read_files(");
        assert!(text[edits[0].0.clone()].ends_with(" 5)"));
        let py = python("/Workspace/a.sql", &calls);
        assert!(
            py.contains("@dp.temporary_view(name=\"raw__read_files_1\")"),
            "{py}"
        );
        assert!(py.contains("streaming=True"), "{py}");

        let text = "CREATE MATERIALIZED VIEW m AS SELECT * FROM cloud_files('/Volumes/a/b/c', 'csv', map('header', 'true'))";
        let statements = parse(text).unwrap();
        let calls = map_calls(&statements[0], "m", &mut counter, &mut Vec::new()).unwrap();
        assert_eq!(calls[0].view, "m__cloud_files_2");
        assert!(!calls[0].streaming);
        assert_eq!(calls[0].options["format"], "csv");
        assert_eq!(calls[0].options["header"], "true");

        let statements =
            parse("CREATE MATERIALIZED VIEW m AS SELECT * FROM read_files(path)").unwrap();
        let err = map_calls(&statements[0], "m", &mut counter, &mut Vec::new()).unwrap_err();
        assert!(
            err.message.contains("the first argument must be the path"),
            "{}",
            err.message
        );
    }
}
