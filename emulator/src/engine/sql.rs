//! The shape of a pipeline SQL file, read from sqlparser's tokens: which statements it holds
//! (the SDP forms a workspace accepts), the datasets they define, and the tables each query
//! reads. It does not type-check queries: that is the engine's job.

use std::ops::Range;

use sqlparser::dialect::DatabricksDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use super::{DatasetKind, PARSE_EXCEPTION, Problem};

/// A significant token (no whitespace or comment) and where it is in the file.
#[derive(Clone, Debug)]
pub struct Tok {
    pub token: Token,
    /// Byte range in the file text.
    pub bytes: Range<usize>,
    pub line: u64,
}

impl Tok {
    /// The unquoted word in upper case, or "" for anything else (quoted identifiers included).
    pub fn keyword(&self) -> String {
        match &self.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            _ => String::new(),
        }
    }

    pub fn is(&self, keyword: &str) -> bool {
        self.keyword() == keyword
    }

    /// An identifier (quoted or not).
    pub fn ident(&self) -> Option<&str> {
        match &self.token {
            Token::Word(w) => Some(&w.value),
            _ => None,
        }
    }
}

/// The significant tokens of `text`, or the syntax error that stops tokenizing.
pub fn lex(text: &str) -> Result<Vec<Tok>, Problem> {
    let dialect = DatabricksDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| {
            Problem::new(
                "PARSE_SYNTAX_ERROR",
                format!(
                    "Syntax error: {}. SQLSTATE: 42601 (line {}, pos {})",
                    e.message,
                    e.location.line,
                    e.location.column.saturating_sub(1)
                ),
                PARSE_EXCEPTION,
            )
        })?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |line: u64, column: u64| -> usize {
        let Some(&start) = line_starts.get((line as usize).saturating_sub(1)) else {
            return text.len();
        };
        text[start..]
            .char_indices()
            .nth((column as usize).saturating_sub(1))
            .map_or(text.len(), |(i, _)| start + i)
    };
    let starts: Vec<usize> = tokens
        .iter()
        .map(|t| offset(t.span.start.line, t.span.start.column))
        .collect();
    Ok(tokens
        .into_iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .map(|(i, t)| Tok {
            bytes: starts[i]..starts.get(i + 1).copied().unwrap_or(text.len()),
            line: t.span.start.line,
            token: t.token,
        })
        .collect())
}

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

fn syntax_error(tok: Option<&Tok>, text: &str) -> Problem {
    let (near, line) = tok.map_or(("end of input".to_string(), 0), |t| {
        (format!("'{}'", t.token), t.line)
    });
    Problem::new(
        "PARSE_SYNTAX_ERROR",
        format!("Syntax error at or near {near}{text}. SQLSTATE: 42601 (line {line})"),
        PARSE_EXCEPTION,
    )
}

/// A dotted name starting at `i`: the name (without `LIVE.`) and the index after it.
fn dotted_name(tokens: &[Tok], mut i: usize) -> Option<(String, usize)> {
    let mut parts = vec![tokens.get(i)?.ident()?.to_string()];
    i += 1;
    while tokens.get(i).is_some_and(|t| t.token == Token::Period) {
        parts.push(tokens.get(i + 1)?.ident()?.to_string());
        i += 2;
    }
    if parts.len() > 1 && parts[0].eq_ignore_ascii_case("live") {
        parts.remove(0);
    }
    Some((parts.join("."), i))
}

/// Index of the `)` matching the `(` at `open`.
fn matching_paren(tokens: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
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

/// `CREATE [OR REFRESH] [TEMPORARY|PRIVATE|LIVE] (MATERIALIZED VIEW | STREAMING TABLE |
/// [LIVE] TABLE | [TEMPORARY] VIEW | FLOW) ...`.
fn create(t: &[Tok]) -> Result<Shape, Problem> {
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
fn auto_cdc(t: &[Tok]) -> Result<Shape, Problem> {
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
fn reads_of(t: &[Tok]) -> (Vec<Read>, Vec<(String, bool)>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Statement {
        let mut all = parse(sql).unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn names(reads: &[Read]) -> Vec<(&str, bool)> {
        reads
            .iter()
            .map(|r| (r.name.as_str(), r.streaming))
            .collect()
    }

    #[test]
    fn datasets_and_what_they_read() {
        let s = one(
            "-- bronze\nCREATE OR REFRESH MATERIALIZED VIEW silver (\n  CONSTRAINT ok EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW\n)\n\
             COMMENT 'x; y' AS WITH c AS (SELECT * FROM bronze b)\nSELECT * FROM c, main.s.other o JOIN LIVE.dim d ON c.id = d.id WHERE id > 1",
        );
        let Shape::Dataset {
            kind,
            name,
            or_refresh,
            columns,
            query,
        } = &s.shape
        else {
            panic!("{s:?}")
        };
        assert_eq!(*kind, DatasetKind::MaterializedView);
        assert_eq!(name, "silver");
        assert_eq!(*or_refresh, Some(1));
        assert!(columns.is_some() && query.is_some());
        assert_eq!(
            names(&s.reads),
            [("bronze", false), ("main.s.other", false), ("dim", false)]
        );
        assert_eq!(s.line, 2);
    }

    #[test]
    fn streams_functions_and_flows() {
        let s = one(
            "CREATE STREAMING TABLE b AS SELECT * FROM STREAM(a) UNION ALL SELECT * FROM STREAM x",
        );
        assert_eq!(names(&s.reads), [("a", true), ("x", true)]);
        let s = one("CREATE MATERIALIZED VIEW r AS SELECT id FROM range(0, 10)");
        assert!(s.reads.is_empty());
        assert_eq!(s.functions, [("range".to_string(), false)]);
        let s = one("CREATE STREAMING TABLE t");
        assert!(matches!(s.shape, Shape::Dataset { query: None, .. }));
        let s = one("CREATE FLOW f AS INSERT INTO t BY NAME SELECT * FROM STREAM(a)");
        assert_eq!(
            s.shape,
            Shape::Flow {
                name: "f".into(),
                target: "t".into()
            }
        );
        assert_eq!(names(&s.reads), [("a", true)]);
        let s = one("AUTO CDC INTO t FROM STREAM(cdc) KEYS (id) SEQUENCE BY ts");
        assert_eq!(names(&s.reads), [("cdc", true)]);
        assert_eq!(
            parse("SET a = b; ; CREATE VIEW v AS SELECT 1")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn syntax_errors() {
        for (sql, expected) in [
            (
                "CREATE MATERIALIZED VIEW x AS SELEC 1",
                "PARSE_SYNTAX_ERROR",
            ),
            ("SELEC * FROM x", "PARSE_SYNTAX_ERROR"),
            (
                "CREATE MATERIALIZED VIEW x AS SELECT (1",
                "PARSE_SYNTAX_ERROR",
            ),
            (
                "CREATE MATERIALIZED VIEW x AS SELECT 'oops",
                "PARSE_SYNTAX_ERROR",
            ),
            ("CREATE MATERIALIZED VIEW x SELECT 1", "PARSE_SYNTAX_ERROR"),
            ("CREATE OR WHAT VIEW x AS SELECT 1", "PARSE_SYNTAX_ERROR"),
            ("SELECT 1", "PIPELINE_SQL_GRAPH_ELEMENT_REGISTRATION_ERROR"),
        ] {
            let err = parse(sql).unwrap_err();
            assert_eq!(err.class, expected, "{sql}: {err:?}");
            assert!(err.message.starts_with(&format!("[{expected}]")), "{err:?}");
        }
        let err = parse("CREATE MATERIALIZED VIEW x AS\nSELEC 1").unwrap_err();
        assert!(
            err.message.contains("'SELEC'") && err.message.contains("line 2"),
            "{err:?}"
        );
    }

    #[test]
    fn byte_ranges_cover_the_source() {
        let text = "CREATE VIEW `é x` AS SELECT 'a''b' AS s";
        let toks = lex(text).unwrap();
        let rebuilt: String = toks
            .iter()
            .map(|t| text[t.bytes.clone()].to_string())
            .collect();
        assert_eq!(rebuilt.replace(' ', ""), text.replace(' ', ""));
        assert_eq!(&text[toks[2].bytes.clone()].trim_end(), &"`é x`");
    }
}
