//! SQL expectations (`CONSTRAINT name EXPECT (condition) [ON VIOLATION DROP ROW | FAIL
//! UPDATE]`) on the local Spark engine: read from a dataset's column list, evaluated by one
//! filter on its query (the same one `spark/sdp_api.py` builds for Python's `@dp.expect…`), and
//! described for the data-quality counts the driver takes after a run.

use std::ops::Range;

use serde::Serialize;
use sqlparser::tokenizer::Token;

use super::sql::Tok;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Warn,
    Drop,
    Fail,
}

/// One expectation as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Expectation {
    pub name: String,
    pub condition: String,
    pub action: Action,
}

/// What the driver counts after a run: the rows `query` (the flow's input, read as a batch)
/// yields against each expectation of `dataset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub dataset: String,
    pub query: String,
    pub expectations: Vec<Expectation>,
}

/// The prefix of the message a violated FAIL UPDATE expectation raises (then `dataset:name`).
pub const VIOLATION_MARK: &str = "EXPECTATION_VIOLATION:";

fn sql_string(text: &str) -> String {
    text.replace(['\'', '\\'], "")
}

/// One filter for all of a dataset's expectations: FAIL UPDATE ones raise, evaluated first (a
/// row violating a DROP and a FAIL rule fails the update), warn-only ones are analysed (a
/// wrong column fails) and keep every row, DROP ROW ones keep the rows that meet them (a NULL
/// condition does not).
pub fn condition(dataset: &str, expectations: &[Expectation]) -> String {
    let mut checked = Vec::new();
    let mut kept = Vec::new();
    for e in expectations {
        match e.action {
            Action::Fail => checked.push(format!(
                "assert_true(coalesce(({}), false), '{VIOLATION_MARK}{}:{}') IS NULL",
                e.condition,
                sql_string(dataset),
                sql_string(&e.name)
            )),
            Action::Warn => checked.push(format!("(({}) IS NULL OR TRUE)", e.condition)),
            Action::Drop => kept.push(format!("coalesce(({}), false)", e.condition)),
        }
    }
    let all = |v: Vec<String>| {
        if v.is_empty() {
            "TRUE".to_string()
        } else {
            v.join(" AND ")
        }
    };
    format!(
        "CASE WHEN {} THEN {} ELSE FALSE END",
        all(checked),
        all(kept)
    )
}

/// Splits a column list (`columns`: its token range, parentheses included) into its
/// expectations and the other entries (as source text).
pub fn split(text: &str, t: &[Tok], columns: Range<usize>) -> (Vec<Expectation>, Vec<String>) {
    let inner = &t[columns.start + 1..columns.end - 1];
    let mut entries: Vec<&[Tok]> = Vec::new();
    let (mut depth, mut from) = (0i32, 0usize);
    for (i, tok) in inner.iter().enumerate() {
        match tok.token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => {
                entries.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    entries.push(&inner[from..]);
    let mut found = Vec::new();
    let mut kept = Vec::new();
    for entry in entries.into_iter().filter(|e| !e.is_empty()) {
        let is_expectation = entry[0].is("CONSTRAINT")
            && entry.get(2).is_some_and(|x| x.is("EXPECT"))
            && entry.get(3).is_some_and(|x| x.token == Token::LParen);
        let source = |toks: &[Tok]| -> String {
            match (toks.first(), toks.last()) {
                (Some(first), Some(last)) => {
                    text[first.bytes.start..last.bytes.end].trim().to_string()
                }
                _ => "TRUE".to_string(),
            }
        };
        if !is_expectation {
            kept.push(source(entry));
            continue;
        }
        let close = (3..entry.len())
            .find(|&k| {
                let depth: i32 = entry[3..=k]
                    .iter()
                    .map(|x| match x.token {
                        Token::LParen => 1,
                        Token::RParen => -1,
                        _ => 0,
                    })
                    .sum();
                depth == 0
            })
            .unwrap_or(entry.len() - 1);
        let words: Vec<String> = entry[close + 1..].iter().map(Tok::keyword).collect();
        let action = match words.join(" ").as_str() {
            "ON VIOLATION DROP ROW" => Action::Drop,
            "ON VIOLATION FAIL UPDATE" => Action::Fail,
            _ => Action::Warn,
        };
        found.push(Expectation {
            name: entry[1].ident().unwrap_or("expectation").to_string(),
            condition: source(&entry[4..close]),
            action,
        });
    }
    (found, kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_rules_are_checked_before_drop_rules_filter() {
        let rule = |name: &str, condition: &str, action| Expectation {
            name: name.into(),
            condition: condition.into(),
            action,
        };
        let c = condition(
            "s",
            &[
                rule("a", "id IS NOT NULL", Action::Drop),
                rule("b", "n > 0", Action::Fail),
                rule("c", "len(x) < 9", Action::Warn),
            ],
        );
        assert_eq!(
            c,
            "CASE WHEN assert_true(coalesce((n > 0), false), 'EXPECTATION_VIOLATION:s:b') IS NULL \
             AND ((len(x) < 9) IS NULL OR TRUE) THEN coalesce((id IS NOT NULL), false) ELSE FALSE END"
        );
    }
}
