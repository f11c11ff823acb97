//! `AUTO CDC INTO` (and the older `APPLY CHANGES INTO`) on the local Spark engine.
//!
//! Open-source Spark runs AUTO CDC flows only into tables that can MERGE (Delta Lake), which its
//! local Parquet tables cannot. The dialect mapping therefore takes each such flow out of the
//! SQL file and hands its clauses to `spark/sdp_cdc.py` in the file's companion Python, where the
//! target becomes a materialized view computing the same rows; the target's own `CREATE
//! STREAMING TABLE` declaration goes too. Line numbers of the statements after it are kept.

use serde_json::json;
use sqlparser::tokenizer::Token;

use super::Problem;
use super::sql::{self, Shape, Statement, Tok, dotted_name, matching_paren};

/// The columns a clause names: a list, or `* EXCEPT (list)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Columns {
    Only(Vec<String>),
    Except(Vec<String>),
}

/// One AUTO CDC flow's clauses, expressions as the SQL text they were written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoCdc {
    pub flow: String,
    pub target: String,
    pub source: String,
    pub keys: Vec<String>,
    pub ignore_null_updates: bool,
    pub deletes: Option<String>,
    pub truncates: Option<String>,
    pub sequence_by: String,
    pub columns: Option<Columns>,
    pub scd_type: String,
    pub track_history: Option<Columns>,
}

/// Where `AUTO CDC` / `APPLY CHANGES` starts in the statement, if it is such a flow.
fn start(t: &[Tok]) -> Option<usize> {
    (0..t.len().saturating_sub(1)).find(|&i| {
        (t[i].is("AUTO") && t[i + 1].is("CDC")) || (t[i].is("APPLY") && t[i + 1].is("CHANGES"))
    })
}

/// The lower-case name of the table the statement writes, if it is an AUTO CDC flow.
pub fn target_of(statement: &Statement) -> Option<String> {
    match &statement.shape {
        Shape::Flow { target, .. } if start(&statement.tokens).is_some() => {
            Some(sql::short_name(target))
        }
        _ => None,
    }
}

fn problem(t: Option<&Tok>, what: &str) -> Problem {
    sql::syntax_error(t, &format!(": {what}"))
}

/// Whether a clause of the AUTO CDC grammar starts at `i` (outside parentheses).
fn clause_at(t: &[Tok], i: usize) -> bool {
    let next = |k: &str| t.get(i + 1).is_some_and(|x| x.is(k));
    match t[i].keyword().as_str() {
        "KEYS" | "COLUMNS" => true,
        "IGNORE" => next("NULL"),
        "SYSTEM" => next("SEQUENCE"),
        "APPLY" | "STORED" => next("AS"),
        "SEQUENCE" => next("BY") && !(i > 0 && t[i - 1].is("SYSTEM")),
        "TRACK" => next("HISTORY"),
        _ => false,
    }
}

/// The clauses from `from` on, each as a token range (split at clause keywords at depth 0).
fn clauses(t: &[Tok], from: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut begin = from;
    for i in from..t.len() {
        match t[i].token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ if depth == 0 && i > begin && clause_at(t, i) => {
                out.push((begin, i));
                begin = i;
            }
            _ => {}
        }
    }
    if begin < t.len() {
        out.push((begin, t.len()));
    }
    out
}

fn text_of(text: &str, t: &[Tok], range: (usize, usize)) -> Option<String> {
    (range.0 < range.1).then(|| text[t[range.0].bytes.start..t[range.1 - 1].bytes.end].to_string())
}

/// `(a, b.c)`: the names in the parentheses at `open`, which must end the clause at `end`.
fn name_list(t: &[Tok], open: usize, end: usize) -> Result<Vec<String>, Problem> {
    if t.get(open).is_none_or(|x| x.token != Token::LParen) {
        return Err(problem(
            t.get(open),
            "expected a parenthesised list of columns",
        ));
    }
    let close = matching_paren(t, open).filter(|&c| c + 1 == end);
    let Some(close) = close else {
        return Err(problem(t.get(open), "expected one list of columns"));
    };
    names(t, open + 1, close)
}

/// `a, b.c` from token `from` up to (not including) `end`.
fn names(t: &[Tok], from: usize, end: usize) -> Result<Vec<String>, Problem> {
    let mut names = Vec::new();
    let mut i = from;
    while i < end {
        let Some((name, next)) = dotted_name(t, i) else {
            return Err(problem(t.get(i), "expected a column name"));
        };
        names.push(name);
        i = next;
        if i < end && t[i].token != Token::Comma {
            return Err(problem(t.get(i), "expected ',' between columns"));
        }
        i += 1;
    }
    Ok(names)
}

/// `a, b` or `(a, b)` or `* EXCEPT (a, b)`.
fn columns(t: &[Tok], from: usize, end: usize) -> Result<Columns, Problem> {
    if t.get(from).is_some_and(|x| x.token == Token::Mul) {
        if !t.get(from + 1).is_some_and(|x| x.is("EXCEPT")) {
            return Err(problem(t.get(from + 1), "expected * EXCEPT (columns)"));
        }
        return name_list(t, from + 2, end).map(Columns::Except);
    }
    if t.get(from).is_some_and(|x| x.token == Token::LParen) {
        return name_list(t, from, end).map(Columns::Only);
    }
    names(t, from, end).map(Columns::Only)
}

/// The source: `STREAM(name)`, `STREAM name` or `name`.
fn source(t: &[Tok], from: usize, end: usize) -> Result<String, Problem> {
    let (mut i, mut last) = (from, end);
    if t.get(i).is_some_and(|x| x.is("STREAM")) {
        i += 1;
        if t.get(i).is_some_and(|x| x.token == Token::LParen) {
            if matching_paren(t, i) != Some(end - 1) {
                return Err(problem(t.get(i), "expected STREAM(table)"));
            }
            i += 1;
            last = end - 1;
        }
    }
    match dotted_name(t, i) {
        Some((name, next)) if next == last => Ok(name),
        _ => Err(Problem::new(
            "LOCAL_ENGINE_UNSUPPORTED_OPTION",
            format!(
                "The local Spark engine runs AUTO CDC from a table or view named in FROM (line {}); \
                 define the source as a dataset and name it",
                t.get(from).map_or(0, |x| x.line)
            ),
            super::ANALYSIS_EXCEPTION,
        )),
    }
}

/// Reads the statement when it is an AUTO CDC flow named `flow`; None for any other statement.
pub fn read(text: &str, t: &[Tok], flow: &str) -> Option<Result<AutoCdc, Problem>> {
    let at = start(t)?;
    Some(read_from(text, t, at, flow))
}

fn read_from(text: &str, t: &[Tok], at: usize, flow: &str) -> Result<AutoCdc, Problem> {
    if !t.get(at + 2).is_some_and(|x| x.is("INTO")) {
        return Err(problem(t.get(at + 2), "expected INTO"));
    }
    let Some((target, after)) = dotted_name(t, at + 3) else {
        return Err(problem(t.get(at + 3), "expected the target table"));
    };
    if !t.get(after).is_some_and(|x| x.is("FROM")) {
        return Err(problem(t.get(after), "expected FROM"));
    }
    let parts = clauses(t, after + 1);
    let Some(&(first, first_end)) = parts.first() else {
        return Err(problem(None, "expected the source after FROM"));
    };
    let mut cdc = AutoCdc {
        flow: flow.to_string(),
        target,
        source: source(t, first, first_end)?,
        keys: Vec::new(),
        ignore_null_updates: false,
        deletes: None,
        truncates: None,
        sequence_by: String::new(),
        columns: None,
        scd_type: "1".to_string(),
        track_history: None,
    };
    for &(b, e) in &parts[1..] {
        let word = |k: usize| t.get(b + k).map(Tok::keyword).unwrap_or_default();
        match (word(0).as_str(), word(1).as_str(), word(2).as_str()) {
            ("KEYS", ..) => cdc.keys = name_list(t, b + 1, e)?,
            // `IGNORE NULL UPDATES [ON columns]`: refused where it is applied (sdp_cdc.py).
            ("IGNORE", "NULL", "UPDATES") => cdc.ignore_null_updates = true,
            ("SYSTEM", "SEQUENCE", "BY")
            | ("STORED", "AS", "BITEMPORAL")
            | ("COLUMNS", "TO", _) => {
                return Err(unsupported(t, b, e, text));
            }
            ("APPLY", "AS", "DELETE") | ("APPLY", "AS", "TRUNCATE") => {
                if !t.get(b + 3).is_some_and(|x| x.is("WHEN")) || e <= b + 4 {
                    return Err(problem(t.get(b + 3), "expected WHEN condition"));
                }
                let condition = text_of(text, t, (b + 4, e));
                if word(2) == "DELETE" {
                    cdc.deletes = condition;
                } else {
                    cdc.truncates = condition;
                }
            }
            ("SEQUENCE", "BY", _) => {
                cdc.sequence_by = text_of(text, t, (b + 2, e))
                    .ok_or_else(|| problem(t.get(b + 2), "expected SEQUENCE BY column"))?;
            }
            ("COLUMNS", ..) => cdc.columns = Some(columns(t, b + 1, e)?),
            ("STORED", "AS", "SCD") => {
                let number = match t.get(b + 4).map(|x| &x.token) {
                    Some(Token::Number(n, _)) if t[b + 3].is("TYPE") && e == b + 5 => n.clone(),
                    _ => return Err(problem(t.get(b + 3), "expected STORED AS SCD TYPE 1 or 2")),
                };
                if number != "1" && number != "2" {
                    return Err(problem(t.get(b + 4), "expected SCD TYPE 1 or 2"));
                }
                cdc.scd_type = number;
            }
            ("TRACK", "HISTORY", "ON") => cdc.track_history = Some(columns(t, b + 3, e)?),
            _ => return Err(problem(t.get(b), "unexpected clause in AUTO CDC")),
        }
    }
    if cdc.keys.is_empty() {
        return Err(problem(None, "AUTO CDC needs KEYS (columns)"));
    }
    if cdc.sequence_by.is_empty() {
        return Err(problem(None, "AUTO CDC needs SEQUENCE BY column"));
    }
    Ok(cdc)
}

/// A clause Databricks accepts that the local engine has no counterpart for.
fn unsupported(t: &[Tok], b: usize, e: usize, text: &str) -> Problem {
    let clause = text_of(text, t, (b, e)).unwrap_or_default();
    Problem::new(
        "LOCAL_ENGINE_UNSUPPORTED_OPTION",
        format!(
            "The AUTO CDC clause '{clause}' (line {}) has no counterpart on the local Spark engine",
            t[b].line
        ),
        super::ANALYSIS_EXCEPTION,
    )
}

/// The statement's text replaced by a comment with as many line breaks, so the statements
/// after it keep their line numbers.
pub fn placeholder(removed: &str, what: &str) -> String {
    let breaks = removed.matches('\n').count();
    format!(
        "/* {what}: defined by the companion Python file on the local engine */{}",
        "\n".repeat(breaks)
    )
}

fn py(value: Option<&str>) -> String {
    value.map_or("None".to_string(), |v| json!(v).to_string())
}

fn py_list(columns: Option<&Columns>, except: bool) -> String {
    match columns {
        Some(Columns::Only(names)) if !except => json!(names).to_string(),
        Some(Columns::Except(names)) if except => json!(names).to_string(),
        _ => "None".to_string(),
    }
}

/// The companion Python that defines the flows' targets (`sdp_cdc.py`).
pub fn python(workspace_path: &str, flows: &[AutoCdc]) -> String {
    let mut out = format!(
        "# Generated by sdp-emulator from {workspace_path}: its AUTO CDC flows, each target a \
         materialized view.\nimport sdp_cdc\n"
    );
    for cdc in flows {
        out.push_str(&format!(
            "\n\nsdp_cdc.create_auto_cdc_flow(\n    name={flow},\n    target={target},\n    \
             source={source},\n    keys={keys},\n    sequence_by={sequence},\n    \
             ignore_null_updates={ignore},\n    apply_as_deletes={deletes},\n    \
             apply_as_truncates={truncates},\n    column_list={only},\n    \
             except_column_list={except},\n    stored_as_scd_type={scd},\n    \
             track_history_column_list={track_only},\n    \
             track_history_except_column_list={track_except},\n    sql=True,\n)\n",
            flow = json!(cdc.flow),
            target = json!(cdc.target),
            source = json!(cdc.source),
            keys = json!(cdc.keys),
            sequence = json!(cdc.sequence_by),
            ignore = if cdc.ignore_null_updates {
                "True"
            } else {
                "False"
            },
            deletes = py(cdc.deletes.as_deref()),
            truncates = py(cdc.truncates.as_deref()),
            only = py_list(cdc.columns.as_ref(), false),
            except = py_list(cdc.columns.as_ref(), true),
            scd = json!(cdc.scd_type),
            track_only = py_list(cdc.track_history.as_ref(), false),
            track_except = py_list(cdc.track_history.as_ref(), true),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
