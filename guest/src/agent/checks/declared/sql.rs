//! SQL sources: `CREATE … TABLE|VIEW name (…)` with its `PRIMARY KEY (cols)` (table or column
//! constraint) and `CONSTRAINT n EXPECT (…) [ON VIOLATION DROP ROW | FAIL UPDATE]`, and
//! `AUTO CDC INTO t … KEYS (cols)` (or the older `APPLY CHANGES INTO`).

use super::{Action, Declared, closing, column_list, dotted, inside, is, split_top, sql_tokens};
use sqlparser::tokenizer::Token;

/// Words that may stand between `CREATE` and `TABLE`/`VIEW`.
const MODIFIERS: [&str; 9] = [
    "OR",
    "REFRESH",
    "REPLACE",
    "STREAMING",
    "LIVE",
    "MATERIALIZED",
    "TEMPORARY",
    "TEMP",
    "PRIVATE",
];

pub fn read(text: &str, out: &mut Declared) -> Result<(), String> {
    let tokens = sql_tokens(text)?;
    for statement in split_top(&tokens, |t| *t == Token::SemiColon) {
        if !auto_cdc(statement, out) {
            create(statement, out);
        }
    }
    Ok(())
}

/// `… AUTO CDC INTO t … KEYS (cols) …`; whether the statement is one.
fn auto_cdc(st: &[Token], out: &mut Declared) -> bool {
    let into = (0..st.len()).find(|&i| {
        (is(st.get(i), "AUTO") && is(st.get(i + 1), "CDC") && is(st.get(i + 2), "INTO"))
            || (is(st.get(i), "APPLY") && is(st.get(i + 1), "CHANGES") && is(st.get(i + 2), "INTO"))
    });
    let Some((target, after)) = into.and_then(|i| dotted(st, i + 3)) else {
        return false;
    };
    let keys = (after..st.len())
        .find(|&i| is(st.get(i), "KEYS") && st.get(i + 1) == Some(&Token::LParen))
        .and_then(|i| inside(st, i + 1));
    if let Some((list, _)) = keys {
        out.table(target).cdc_keys = column_list(list);
    }
    true
}

/// `CREATE … TABLE|VIEW [IF NOT EXISTS] name (elements) …`
fn create(st: &[Token], out: &mut Declared) {
    if !is(st.first(), "CREATE") {
        return;
    }
    let mut at = 1;
    while MODIFIERS.iter().any(|m| is(st.get(at), m)) {
        at += 1;
    }
    if !(is(st.get(at), "TABLE") || is(st.get(at), "VIEW")) {
        return;
    }
    at += 1;
    if is(st.get(at), "IF") && is(st.get(at + 1), "NOT") && is(st.get(at + 2), "EXISTS") {
        at += 3;
    }
    let Some((name, at)) = dotted(st, at) else {
        return;
    };
    let Some((elements, _)) = (st.get(at) == Some(&Token::LParen))
        .then(|| inside(st, at))
        .flatten()
    else {
        out.table(name);
        return;
    };
    let rules = out.table(name);
    for element in split_top(elements, |t| *t == Token::Comma) {
        let (constraint, rest) = match element {
            [c, name, rest @ ..] if is(Some(c), "CONSTRAINT") => (super::word(name), rest),
            rest => (None, rest),
        };
        if is(rest.first(), "PRIMARY") && is(rest.get(1), "KEY") {
            if rest.get(2) == Some(&Token::LParen)
                && let Some((list, _)) = inside(rest, 2)
            {
                rules.primary_key = column_list(list);
            }
        } else if is(rest.first(), "EXPECT") && rest.get(1) == Some(&Token::LParen) {
            let (Some(name), Some(close)) = (constraint, closing(rest, 1)) else {
                continue;
            };
            let action = match &rest[close + 1..] {
                [on, v, d, r, ..]
                    if is(Some(on), "ON")
                        && is(Some(v), "VIOLATION")
                        && is(Some(d), "DROP")
                        && is(Some(r), "ROW") =>
                {
                    Action::Drop
                }
                [on, v, f, ..]
                    if is(Some(on), "ON") && is(Some(v), "VIOLATION") && is(Some(f), "FAIL") =>
                {
                    Action::Fail
                }
                _ => Action::Warn,
            };
            rules.expect(name, action, &rest[2..close]);
        } else if constraint.is_none()
            && let Some(column) = rest.first().and_then(super::word)
            && (1..rest.len()).any(|i| is(rest.get(i), "PRIMARY") && is(rest.get(i + 1), "KEY"))
        {
            // A column definition with a column constraint: `id BIGINT PRIMARY KEY`.
            rules.primary_key = vec![column.to_string()];
        }
    }
}
