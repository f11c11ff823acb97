//! The `CREATE ...` forms: datasets, flows, and `AUTO CDC` / `APPLY CHANGES`.

use sqlparser::tokenizer::Token;

use super::tokens::{Tok, dotted_name, matching_paren};
use super::{QUERY_STARTS, Shape, syntax_error};
use crate::engine::{DatasetKind, Problem};

/// `CREATE [OR REFRESH] [TEMPORARY|PRIVATE|LIVE] (MATERIALIZED VIEW | STREAMING TABLE |
/// [LIVE] TABLE | [TEMPORARY] VIEW | FLOW) ...`.
pub fn create(t: &[Tok]) -> Result<Shape, Problem> {
    let mut i = 1;
    let mut or_refresh = None;
    if t.get(i).is_some_and(|x| x.is("OR")) {
        match t.get(i + 1) {
            Some(x) if x.is("REFRESH") || x.is("REPLACE") => {
                or_refresh = x.is("REFRESH").then_some(i);
                i += 2;
            }
            other => return Err(syntax_error(other, "")),
        }
    }
    while t
        .get(i)
        .is_some_and(|x| x.is("TEMPORARY") || x.is("PRIVATE") || x.is("LIVE"))
    {
        i += 1;
    }
    let word = |k: usize| t.get(k).map(Tok::keyword).unwrap_or_default();
    let kind = match (word(i).as_str(), word(i + 1).as_str()) {
        ("MATERIALIZED", "VIEW") => {
            i += 2;
            DatasetKind::MaterializedView
        }
        ("STREAMING", "TABLE") | ("STREAMING", "LIVE") => {
            i += if word(i + 1) == "LIVE" { 3 } else { 2 };
            DatasetKind::StreamingTable
        }
        ("TABLE", _) => {
            i += 1;
            DatasetKind::MaterializedView
        }
        ("VIEW", _) => {
            i += 1;
            DatasetKind::View
        }
        ("FLOW", _) => return create_flow(t, i + 1),
        _ => return Err(syntax_error(t.get(i), "")),
    };
    if word(i) == "IF" && word(i + 1) == "NOT" && word(i + 2) == "EXISTS" {
        i += 3;
    }
    let Some((name, mut i)) = dotted_name(t, i) else {
        return Err(syntax_error(t.get(i), ": expected the dataset's name"));
    };
    let mut columns = None;
    if t.get(i).is_some_and(|x| x.token == Token::LParen) {
        let close = matching_paren(t, i).ok_or_else(|| syntax_error(t.get(i), ""))?;
        columns = Some(i..close + 1);
        i = close + 1;
    }
    // Clauses (COMMENT, TBLPROPERTIES, PARTITIONED BY, ...) until the top-level AS.
    let mut query = None;
    while i < t.len() {
        if t[i].token == Token::LParen {
            i = matching_paren(t, i).unwrap_or(t.len()) + 1;
            continue;
        }
        if t[i].is("AS") {
            let start = t.get(i + 1);
            let opens_query = start.is_some_and(|s| {
                QUERY_STARTS.contains(&s.keyword().as_str()) || s.token == Token::LParen
            });
            if !opens_query {
                return Err(syntax_error(start, ": expected a query after AS"));
            }
            query = Some(i + 1);
            break;
        }
        i += 1;
    }
    if query.is_none() && kind != DatasetKind::StreamingTable {
        return Err(syntax_error(
            None,
            &format!(": {name} needs AS followed by its query"),
        ));
    }
    Ok(Shape::Dataset {
        kind,
        name,
        or_refresh,
        columns,
        query,
    })
}

/// `CREATE FLOW name [COMMENT '...'] AS INSERT INTO target [BY NAME] query`.
fn create_flow(t: &[Tok], at: usize) -> Result<Shape, Problem> {
    let Some((name, mut i)) = dotted_name(t, at) else {
        return Err(syntax_error(t.get(at), ": expected the flow's name"));
    };
    while i < t.len() && !t[i].is("AS") {
        i += 1;
    }
    if t.get(i + 1).is_some_and(|x| x.is("AUTO") || x.is("APPLY")) {
        return match auto_cdc(&t[i + 1..])? {
            Shape::Flow { target, .. } => Ok(Shape::Flow { name, target }),
            other => Ok(other),
        };
    }
    if !(t.get(i + 1).is_some_and(|x| x.is("INSERT")) && t.get(i + 2).is_some_and(|x| x.is("INTO")))
    {
        return Err(syntax_error(t.get(i + 1), ": expected AS INSERT INTO"));
    }
    let Some((target, _)) = dotted_name(t, i + 3) else {
        return Err(syntax_error(t.get(i + 3), ": expected the target table"));
    };
    Ok(Shape::Flow { name, target })
}

/// `AUTO CDC INTO target FROM source KEYS (...) ...` (also the older `APPLY CHANGES INTO`).
pub fn auto_cdc(t: &[Tok]) -> Result<Shape, Problem> {
    let auto_cdc = t[0].is("AUTO") && t.get(1).is_some_and(|x| x.is("CDC"));
    let apply_changes = t[0].is("APPLY") && t.get(1).is_some_and(|x| x.is("CHANGES"));
    if !(auto_cdc || apply_changes) {
        return Err(syntax_error(t.get(1), ""));
    }
    let into = 2;
    if !t.get(into).is_some_and(|x| x.is("INTO")) {
        return Err(syntax_error(t.get(into), ""));
    }
    let Some((target, _)) = dotted_name(t, into + 1) else {
        return Err(syntax_error(t.get(into + 1), ": expected the target table"));
    };
    Ok(Shape::Flow {
        name: target.clone(),
        target,
    })
}
