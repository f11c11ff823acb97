//! What a query reads: the tables after `FROM` / `JOIN` (CTE names excluded) and the
//! table-valued functions.

use sqlparser::tokenizer::Token;

use super::Read;
use super::tokens::{Tok, dotted_name};

/// Words that end a table reference: the next clause, a join, a set operation.
const NOT_ALIASES: &[&str] = &[
    "WHERE",
    "GROUP",
    "ORDER",
    "HAVING",
    "QUALIFY",
    "WINDOW",
    "LIMIT",
    "OFFSET",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "MINUS",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "NATURAL",
    "SEMI",
    "ANTI",
    "ON",
    "USING",
    "LATERAL",
    "PIVOT",
    "UNPIVOT",
    "TABLESAMPLE",
    "WATERMARK",
    "CLUSTER",
    "DISTRIBUTE",
    "SORT",
    "KEYS",
    "SEQUENCE",
    "APPLY",
    "IGNORE",
    "COLUMNS",
    "STORED",
];

/// The tables and table-valued functions a query reads (CTE names excluded).
pub fn reads_of(t: &[Tok]) -> (Vec<Read>, Vec<(String, bool)>) {
    let mut ctes = Vec::new();
    for (i, tok) in t.iter().enumerate() {
        // `WITH name AS (` and `, name AS (` at the head of a query.
        let after_with_or_comma = i > 0 && (t[i - 1].is("WITH") || t[i - 1].token == Token::Comma);
        if after_with_or_comma
            && t.get(i + 1).is_some_and(|x| x.is("AS"))
            && t.get(i + 2).is_some_and(|x| x.token == Token::LParen)
            && let Some(name) = tok.ident()
        {
            ctes.push(name.to_ascii_lowercase());
        }
    }
    let mut reads = Vec::new();
    let mut functions = Vec::new();
    let mut i = 0;
    while i < t.len() {
        if !(t[i].is("FROM") || t[i].is("JOIN")) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        loop {
            j = table_ref(t, j, &ctes, &mut reads, &mut functions);
            // A comma join: `FROM a x, b y`.
            if t.get(j).is_some_and(|x| x.token == Token::Comma) {
                j += 1;
                continue;
            }
            break;
        }
        i = j.max(i + 1);
    }
    (reads, functions)
}

/// Reads one table reference at `i`; returns the index after it (and its alias).
fn table_ref(
    t: &[Tok],
    i: usize,
    ctes: &[String],
    reads: &mut Vec<Read>,
    functions: &mut Vec<(String, bool)>,
) -> usize {
    let Some(tok) = t.get(i) else { return i };
    if tok.token == Token::LParen {
        // A subquery: its own FROMs are read by the caller's scan.
        return i + 1;
    }
    let mut streaming = false;
    let mut at = i;
    if tok.is("STREAM") {
        streaming = true;
        at += 1;
        if t.get(at).is_some_and(|x| x.token == Token::LParen) {
            at += 1;
        }
    }
    let Some((name, after)) = dotted_name(t, at) else {
        return at;
    };
    let mut next = after;
    if t.get(after).is_some_and(|x| x.token == Token::LParen) {
        // A table-valued function (`range(10)`, `read_files(...)`): not a dataset.
        functions.push((name.to_ascii_lowercase(), streaming));
        return after + 1;
    }
    if streaming && t.get(next).is_some_and(|x| x.token == Token::RParen) {
        next += 1;
    }
    if !ctes.contains(&name.to_ascii_lowercase()) {
        reads.push(Read {
            name,
            streaming,
            line: tok.line,
        });
    }
    // Optional alias: `[AS] alias`.
    if t.get(next).is_some_and(|x| x.is("AS")) {
        next += 1;
    }
    if let Some(alias) = t.get(next)
        && alias.ident().is_some()
        && !NOT_ALIASES.contains(&alias.keyword().as_str())
    {
        next += 1;
    }
    next
}
