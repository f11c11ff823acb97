//! The shape of a pipeline SQL file, read from sqlparser's tokens: which statements it holds
//! (the SDP forms a workspace accepts), the datasets they define, and the tables each query
//! reads. It does not type-check queries: that is the engine's job.
//!
//! [`tokens`] lexes, [`create`] reads the `CREATE` / `AUTO CDC` forms, [`reads`] what a query
//! reads.

mod create;
mod reads;
#[cfg(test)]
mod tests;
mod tokens;

use std::ops::Range;

use sqlparser::tokenizer::Token;

use super::{DatasetKind, PARSE_EXCEPTION, Problem};
use create::{auto_cdc, create};
use reads::reads_of;
pub use tokens::{Tok, dotted_name, lex, matching_paren};

/// A table a query reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Read {
    /// Dotted name as written, without a `LIVE.` prefix.
    pub name: String,
    pub streaming: bool,
    pub line: u64,
}

/// What one statement is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `SET k = v`, `USE ...`: session settings.
    Setting,
    /// `CREATE [OR REFRESH] [TEMPORARY|PRIVATE] <kind> name [(...)] ... [AS query]`.
    Dataset {
        kind: DatasetKind,
        name: String,
        /// Index (into the statement's tokens) of `OR` of `OR REFRESH`.
        or_refresh: Option<usize>,
        /// Token range of the parenthesised column/constraint list, parentheses included.
        columns: Option<Range<usize>>,
        /// Index of the first token of the query.
        query: Option<usize>,
    },
    /// `CREATE FLOW f AS INSERT INTO target [BY NAME] query` and `AUTO CDC INTO` / `APPLY
    /// CHANGES INTO target FROM source ...`.
    Flow { name: String, target: String },
}

#[derive(Clone, Debug)]
pub struct Statement {
    pub shape: Shape,
    pub tokens: Vec<Tok>,
    pub line: u64,
    /// Tables the statement reads.
    pub reads: Vec<Read>,
    /// Table-valued functions it reads from (`range`, `read_files`, ...), lower case, and
    /// whether as a stream (`STREAM read_files(...)`).
    pub functions: Vec<(String, bool)>,
}

/// Every statement of a file, or the first problem that makes the file unusable.
pub fn parse(text: &str) -> Result<Vec<Statement>, Problem> {
    let tokens = lex(text)?;
    let mut statements = Vec::new();
    for chunk in tokens.split(|t| t.token == Token::SemiColon) {
        if chunk.is_empty() {
            continue;
        }
        statements.push(statement(chunk.to_vec())?);
    }
    Ok(statements)
}

/// A table's own name (the last part of a dotted name), lower case: how a pipeline's datasets
/// are keyed whatever catalog and schema they are written with.
pub fn short_name(name: &str) -> String {
    name.rsplit('.')
        .next()
        .unwrap_or(name)
        .trim_matches('`')
        .to_ascii_lowercase()
}

/// `[PARSE_SYNTAX_ERROR]` at `tok` (None: the end of the statement), `text` said after it.
pub fn syntax_error(tok: Option<&Tok>, text: &str) -> Problem {
    let (near, line) = tok.map_or(("end of input".to_string(), 0), |t| {
        (format!("'{}'", t.token), t.line)
    });
    Problem::new(
        "PARSE_SYNTAX_ERROR",
        format!("Syntax error at or near {near}{text}. SQLSTATE: 42601 (line {line})"),
        PARSE_EXCEPTION,
    )
}

fn check_parens(tokens: &[Tok]) -> Result<(), Problem> {
    let mut depth = 0i64;
    for t in tokens {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth < 0 {
                    return Err(syntax_error(Some(t), ""));
                }
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(syntax_error(None, ": a parenthesis is not closed"));
    }
    Ok(())
}

const QUERY_STARTS: &[&str] = &["SELECT", "WITH", "FROM", "VALUES", "TABLE"];

fn statement(tokens: Vec<Tok>) -> Result<Statement, Problem> {
    check_parens(&tokens)?;
    let line = tokens[0].line;
    let first = tokens[0].keyword();
    let shape = match first.as_str() {
        "SET" | "USE" => Shape::Setting,
        "CREATE" => create(&tokens)?,
        "APPLY" | "AUTO" => auto_cdc(&tokens)?,
        _ if QUERY_STARTS.contains(&first.as_str()) || tokens[0].token == Token::LParen => {
            return Err(Problem::new(
                "PIPELINE_SQL_GRAPH_ELEMENT_REGISTRATION_ERROR",
                format!(
                    "Unsupported statement at line {line}: a pipeline SQL file holds only \
                     dataset definitions (CREATE MATERIALIZED VIEW / STREAMING TABLE / VIEW / \
                     FLOW ... AS query) and SET; a bare query defines nothing. SQLSTATE: 42000"
                ),
                super::ANALYSIS_EXCEPTION,
            ));
        }
        _ => return Err(syntax_error(tokens.first(), "")),
    };
    let query_start = match &shape {
        Shape::Dataset { query, .. } => query.unwrap_or(tokens.len()),
        Shape::Flow { .. } => 0,
        Shape::Setting => tokens.len(),
    };
    let (reads, functions) = reads_of(&tokens[query_start..]);
    Ok(Statement {
        shape,
        tokens,
        line,
        reads,
        functions,
    })
}
