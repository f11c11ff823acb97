//! `GET /api/2.0/pipelines/{id}/events`: the documented filter grammar (`level='X'`,
//! `level in (...)`, `id='X'`, `timestamp <op> 'T'`, joined by AND), `order_by`, `max_results`
//! (default 25, at most 1000) and a page token that carries the query, since the real
//! `page_token` may be sent with nothing but `max_results`.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::body::Params;
use crate::error::{ApiError, ApiResult};
use crate::state::SharedApp;

const DEFAULT_PAGE: usize = 25;
const MAX_PAGE: usize = 1000;

/// One condition of a filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Cond {
    LevelIn(Vec<String>),
    Id(String),
    /// `timestamp <op> 'T'`; timestamps compare as RFC 3339 text (same format on both sides).
    Timestamp(String, String),
}

/// What a page token remembers: the query and where the next page starts.
#[derive(Serialize, Deserialize)]
struct Query {
    conds: Vec<Cond>,
    ascending: bool,
    offset: usize,
}

impl Cond {
    fn matches(&self, event: &Value) -> bool {
        let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or("");
        match self {
            Cond::LevelIn(levels) => levels.iter().any(|l| l == text("level")),
            Cond::Id(id) => text("id") == id,
            Cond::Timestamp(op, t) => {
                let ts = text("timestamp");
                match op.as_str() {
                    ">" => ts > t.as_str(),
                    ">=" => ts >= t.as_str(),
                    "<" => ts < t.as_str(),
                    "<=" => ts <= t.as_str(),
                    _ => ts == t.as_str(),
                }
            }
        }
    }
}

/// Splits a filter into words, quoted literals (quotes kept) and the punctuation `( ) , = < > <= >=`.
fn tokens(filter: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut chars = filter.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut literal = String::from("'");
            loop {
                match chars.next()? {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        literal.push('\'');
                    }
                    '\'' => break,
                    c => literal.push(c),
                }
            }
            out.push(literal);
        } else if matches!(c, '(' | ')' | ',' | '=') {
            out.push(c.to_string());
            chars.next();
        } else if matches!(c, '<' | '>') {
            chars.next();
            let mut op = c.to_string();
            if chars.peek() == Some(&'=') {
                chars.next();
                op.push('=');
            }
            out.push(op);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || "()',=<>".contains(c) {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Some(out)
}

/// The conditions of `filter` (empty = every event), or a 400 naming the filter.
fn parse_filter(filter: &str) -> ApiResult<Vec<Cond>> {
    let invalid = || {
        ApiError::invalid(format!(
            "Invalid filter '{filter}': supported are level='X', level in ('X', ...), id='X' \
             and timestamp <op> 'T', joined by AND"
        ))
    };
    let tokens = tokens(filter).ok_or_else(invalid)?;
    let literal = |t: Option<&String>| {
        t.and_then(|t| t.strip_prefix('\''))
            .map(str::to_string)
            .ok_or_else(invalid)
    };
    let mut conds = Vec::new();
    let mut rest = tokens.iter().peekable();
    while let Some(column) = rest.next() {
        let op = rest.next().ok_or_else(invalid)?;
        let cond = match (column.to_ascii_lowercase().as_str(), op.as_str()) {
            ("level", "=") => Cond::LevelIn(vec![literal(rest.next())?]),
            ("level", op) if op.eq_ignore_ascii_case("in") => {
                if rest.next().map(String::as_str) != Some("(") {
                    return Err(invalid());
                }
                let mut levels = vec![literal(rest.next())?];
                loop {
                    match rest.next().map(String::as_str) {
                        Some(",") => levels.push(literal(rest.next())?),
                        Some(")") => break,
                        _ => return Err(invalid()),
                    }
                }
                Cond::LevelIn(levels)
            }
            ("id", "=") => Cond::Id(literal(rest.next())?),
            ("timestamp", op @ ("=" | "<" | "<=" | ">" | ">=")) => {
                Cond::Timestamp(op.to_string(), literal(rest.next())?)
            }
            _ => return Err(invalid()),
        };
        conds.push(cond);
        match rest.next() {
            None => break,
            Some(and) if and.eq_ignore_ascii_case("and") && rest.peek().is_some() => {}
            Some(_) => return Err(invalid()),
        }
    }
    Ok(conds)
}

fn parse_order(order_by: Option<&str>) -> ApiResult<bool> {
    let Some(order) = order_by.map(str::trim).filter(|o| !o.is_empty()) else {
        return Ok(false);
    };
    let words: Vec<String> = order
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["timestamp"] | ["timestamp", "desc"] => Ok(false),
        ["timestamp", "asc"] => Ok(true),
        _ => Err(ApiError::invalid(format!(
            "Invalid order_by '{order}': expected 'timestamp asc' or 'timestamp desc'"
        ))),
    }
}

fn encode_token(query: &Query) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(query).unwrap_or_default())
}

fn decode_token(token: &str) -> ApiResult<Query> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(|| ApiError::invalid(format!("Invalid page_token: '{token}'")))
}

/// `GET /api/2.0/pipelines/{id}/events?filter=&order_by=&max_results=&page_token=`: newest first
/// unless ordered ascending.
pub async fn list(
    State(app): State<SharedApp>,
    Path(pipeline_id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    let page_size = match params.get("max_results") {
        None | Some("") => DEFAULT_PAGE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid(format!(
                    "Invalid value for max_results: '{raw}' (expected 1 to {MAX_PAGE})"
                )));
            }
        },
    };
    let query = match params.get("page_token").filter(|t| !t.is_empty()) {
        Some(token) => {
            if let Some(other) = ["filter", "order_by"]
                .into_iter()
                .find(|k| params.get(k).is_some())
            {
                return Err(ApiError::invalid(format!(
                    "page_token cannot be combined with {other}: only max_results may accompany it"
                )));
            }
            decode_token(token)?
        }
        None => Query {
            conds: parse_filter(params.get("filter").unwrap_or(""))?,
            ascending: parse_order(params.get("order_by"))?,
            offset: 0,
        },
    };
    let mut state = app.lock();
    let pipeline = state.pipelines.get_mut(&pipeline_id)?;
    let mut matching: Vec<&Value> = pipeline
        .events
        .iter()
        .filter(|e| query.conds.iter().all(|c| c.matches(e)))
        .collect();
    // Stored oldest first; the default order is newest first.
    if !query.ascending {
        matching.reverse();
    }
    let page: Vec<Value> = matching
        .iter()
        .skip(query.offset)
        .take(page_size)
        .map(|e| (*e).clone())
        .collect();
    let mut out = json!({"events": page});
    if query.offset + page_size < matching.len() {
        out["next_page_token"] = json!(encode_token(&Query {
            offset: query.offset + page_size,
            ..query
        }));
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_filters_parse() {
        assert_eq!(parse_filter("").unwrap(), vec![]);
        assert_eq!(
            parse_filter("level='ERROR'").unwrap(),
            vec![Cond::LevelIn(vec!["ERROR".into()])]
        );
        assert_eq!(
            parse_filter("level in ('ERROR', 'WARN') AND timestamp> '2021-07-22T06:37:33.083Z'")
                .unwrap(),
            vec![
                Cond::LevelIn(vec!["ERROR".into(), "WARN".into()]),
                Cond::Timestamp(">".into(), "2021-07-22T06:37:33.083Z".into()),
            ]
        );
        assert_eq!(
            parse_filter("id = 'a''b'").unwrap(),
            vec![Cond::Id("a'b".into())]
        );
        for bad in [
            "level",
            "level = ERROR",
            "origin.update_id = 'x'",
            "level = 'ERROR' AND",
            "level in ('a'",
            "level = 'a' OR level = 'b'",
            "level = 'unterminated",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_match() {
        let event = json!({"id": "e1", "level": "ERROR", "timestamp": "2025-01-01T00:00:00.000Z"});
        for (filter, expected) in [
            ("level='ERROR'", true),
            ("level='INFO'", false),
            ("level in ('INFO','ERROR') and id='e1'", true),
            ("timestamp >= '2025-01-01T00:00:00.000Z'", true),
            ("timestamp > '2025-01-01T00:00:00.000Z'", false),
        ] {
            let conds = parse_filter(filter).unwrap();
            assert_eq!(
                conds.iter().all(|c| c.matches(&event)),
                expected,
                "{filter}"
            );
        }
    }

    #[test]
    fn order_by() {
        assert!(!parse_order(None).unwrap());
        assert!(parse_order(Some("timestamp asc")).unwrap());
        assert!(!parse_order(Some("TIMESTAMP DESC")).unwrap());
        assert!(parse_order(Some("level")).is_err());
    }
}
