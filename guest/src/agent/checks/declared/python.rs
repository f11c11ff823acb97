//! Python sources (`from pyspark import pipelines as dp`, or `import dlt`): the decorators of
//! each dataset function (`@dp.table(name=…)`, `@dp.expect*`, `@dp.expect_all*({…})`, a dict
//! bound to a name earlier included) and the AUTO CDC calls (`create_auto_cdc_flow`,
//! `apply_changes` and their snapshot forms) with their `target` and `keys`.

use super::{
    Action, Declared, Rules, dotted, inside, is, python_tokens, split_top, sql_tokens, word,
};
use sqlparser::tokenizer::Token;
use std::collections::BTreeMap;

/// Decorators that define a dataset (named by `name=`, else by the function).
const DATASETS: [&str; 5] = [
    "table",
    "materialized_view",
    "streaming_table",
    "view",
    "temporary_view",
];
/// Calls that write a target by its keys: (name, the position of `keys` when positional).
const CDC_CALLS: [&str; 4] = [
    "create_auto_cdc_flow",
    "create_auto_cdc_from_snapshot_flow",
    "apply_changes",
    "apply_changes_from_snapshot",
];

/// An argument of a call: its keyword, if any, and its value's tokens.
type Arg<'a> = (Option<&'a str>, &'a [Token]);

pub fn read(text: &str, out: &mut Declared) -> Result<(), String> {
    let tokens = python_tokens(text)?;
    let mut dicts: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut pending: Vec<(String, Vec<Arg>)> = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        let t = &tokens[at];
        // `@dp.expect(...)`: BigQuery's rules read `@dp` as one word.
        let decorator = match (t, tokens.get(at + 1)) {
            (Token::AtSign, Some(next)) if word(next).is_some() => Some(at + 1),
            (Token::Word(w), _) if w.value.starts_with('@') => Some(at),
            _ => None,
        };
        if let Some(start) = decorator
            && let Some((name, next)) = dotted(&tokens, start)
        {
            let (args, next) = call_args(&tokens, next);
            pending.push((name.last().cloned().unwrap_or_default(), args));
            at = next;
            continue;
        }
        if is(Some(t), "def") {
            if let Some(function) = tokens.get(at + 1).and_then(word) {
                apply(&pending, function, &dicts, out);
            }
            pending.clear();
        } else if let Some(name) = word(t)
            && CDC_CALLS.contains(&name)
            && at > 0
            && tokens[at - 1] == Token::Period
        {
            let (args, next) = call_args(&tokens, at + 1);
            cdc(&args, out);
            at = next;
            continue;
        } else if let Some(name) = word(t)
            && tokens.get(at + 1) == Some(&Token::Eq)
            && tokens.get(at + 2) == Some(&Token::LBrace)
            && (at == 0 || tokens[at - 1] != Token::Period)
            && let Some((body, next)) = inside(&tokens, at + 2)
        {
            dicts.insert(name, pairs(body));
            at = next;
            continue;
        }
        at += 1;
    }
    Ok(())
}

/// The arguments of the call whose `(` is at `open` (none when there is no call), and the index
/// after it.
fn call_args(tokens: &[Token], open: usize) -> (Vec<Arg<'_>>, usize) {
    if tokens.get(open) != Some(&Token::LParen) {
        return (Vec::new(), open);
    }
    let Some((list, next)) = inside(tokens, open) else {
        return (Vec::new(), tokens.len());
    };
    let args = split_top(list, |t| *t == Token::Comma)
        .into_iter()
        .map(|arg| match arg {
            [Token::Word(k), Token::Eq, value @ ..] => (Some(k.value.as_str()), value),
            value => (None, value),
        })
        .collect();
    (args, next)
}

/// The argument named `keyword`, else the one at `position` among the positional ones.
fn arg<'a>(args: &[Arg<'a>], keywords: &[&str], position: usize) -> Option<&'a [Token]> {
    args.iter()
        .find(|(k, _)| k.is_some_and(|k| keywords.contains(&k)))
        .or_else(|| args.iter().filter(|(k, _)| k.is_none()).nth(position))
        .map(|(_, v)| *v)
}

/// A string literal's text; a prefix such as `f` or `r` is read as a word before it.
fn string(t: &Token) -> Option<&str> {
    match t {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::TripleSingleQuotedString(s)
        | Token::TripleDoubleQuotedString(s)
        | Token::SingleQuotedRawStringLiteral(s)
        | Token::DoubleQuotedRawStringLiteral(s) => Some(s),
        _ => None,
    }
}

/// A value that is one string literal (a one-letter prefix allowed).
fn one_string(value: &[Token]) -> Option<&str> {
    match value {
        [s] => string(s),
        [Token::Word(prefix), s] if prefix.value.len() == 1 => string(s),
        _ => None,
    }
}

/// The `"key": "value"` pairs of a dict literal's body.
fn pairs(body: &[Token]) -> Vec<(String, String)> {
    split_top(body, |t| *t == Token::Comma)
        .into_iter()
        .filter_map(|pair| match pair {
            [k, Token::Colon, v @ ..] => Some((string(k)?.to_string(), one_string(v)?.to_string())),
            _ => None,
        })
        .collect()
}

/// A dict argument: a literal, or a name bound to one earlier in the file.
fn dict(value: &[Token], dicts: &BTreeMap<&str, Vec<(String, String)>>) -> Vec<(String, String)> {
    match value {
        [Token::LBrace, ..] => inside(value, 0)
            .map(|(body, _)| pairs(body))
            .unwrap_or_default(),
        [name] => word(name)
            .and_then(|n| dicts.get(n))
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The decorators stacked on the function `function`.
fn apply(
    decorators: &[(String, Vec<Arg>)],
    function: &str,
    dicts: &BTreeMap<&str, Vec<(String, String)>>,
    out: &mut Declared,
) {
    let named = decorators
        .iter()
        .find_map(|(name, args)| match name.as_str() {
            "append_flow" => arg(args, &["target"], usize::MAX),
            n if DATASETS.contains(&n) => arg(args, &["name"], usize::MAX),
            _ => None,
        });
    let defines = decorators
        .iter()
        .any(|(name, _)| name == "append_flow" || DATASETS.contains(&name.as_str()));
    if !defines {
        return;
    }
    let table = named.and_then(one_string).unwrap_or(function);
    let rules: &mut Rules = out.table(table.split('.').map(str::to_string).collect());
    for (name, args) in decorators {
        let Some(kind) = name.strip_prefix("expect") else {
            continue;
        };
        let (all, action) = match kind {
            "" => (false, Action::Warn),
            "_or_drop" => (false, Action::Drop),
            "_or_fail" => (false, Action::Fail),
            "_all" => (true, Action::Warn),
            "_all_or_drop" => (true, Action::Drop),
            "_all_or_fail" => (true, Action::Fail),
            _ => continue,
        };
        let rules_of: Vec<(String, String)> = if all {
            arg(args, &["expectations"], 0)
                .map(|v| dict(v, dicts))
                .unwrap_or_default()
        } else {
            let text = |keywords: &[&str], at| arg(args, keywords, at).and_then(one_string);
            match (
                text(&["name", "description"], 0),
                text(&["constraint", "inv"], 1),
            ) {
                (Some(n), Some(c)) => vec![(n.to_string(), c.to_string())],
                _ => Vec::new(),
            }
        };
        for (expectation, constraint) in rules_of {
            // A constraint that is not SQL is still an expectation, naming no key.
            let constraint = sql_tokens(&constraint).unwrap_or_default();
            rules.expect(&expectation, action, &constraint);
        }
    }
}

/// `create_auto_cdc_flow(target=…, source=…, keys=[…], …)`; positional: target, source, keys.
fn cdc(args: &[Arg], out: &mut Declared) {
    let Some(target) = arg(args, &["target"], 0).and_then(one_string) else {
        return;
    };
    // `keys=["a", "b"]`, or columns as `col("a")`: every string in the list, in order.
    let keys: Vec<String> = arg(args, &["keys"], 2)
        .into_iter()
        .flatten()
        .filter_map(string)
        .map(str::to_string)
        .collect();
    let rules = out.table(target.split('.').map(str::to_string).collect());
    if !keys.is_empty() {
        rules.cdc_keys = keys;
    }
}
