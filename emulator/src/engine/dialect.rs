//! Databricks-only pipeline syntax, mapped to what open-source Spark Declarative Pipelines
//! accepts where a faithful mapping exists, and reported where none does (README: "Local
//! engine"). Edits are byte splices into the original text, so everything else stays as the
//! user wrote it (comments and line numbers included, as far as the edit allows).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use sqlparser::tokenizer::Token;

use super::sources::{Language, SourceFile};
use super::sql::{self, Shape, Statement, Tok};
use super::{ANALYSIS_EXCEPTION, Problem};

/// A file as the open-source engine gets it, and what the mapping has to say about it.
#[derive(Debug, Default)]
pub struct Mapped {
    pub text: String,
    /// Databricks features that were kept only as a report (e.g. warn-only expectations).
    pub warnings: Vec<String>,
}

/// Table-valued functions only Databricks has, and what to say instead.
const DATABRICKS_ONLY_FUNCTIONS: &[(&str, &str)] = &[
    (
        "read_files",
        "read_files() is Databricks-only: the open-source engine cannot read cloud files",
    ),
    (
        "cloud_files",
        "cloud_files() (Auto Loader) is Databricks-only: the open-source engine has no Auto Loader",
    ),
];

/// Maps one file, or says why it cannot run on the open-source engine.
pub fn map(file: &SourceFile) -> Result<Mapped, Problem> {
    match file.language {
        Language::Sql => map_sql(&file.text),
        Language::Python => Ok(map_python(&file.text)),
    }
    .map_err(|p| p.in_file(&file.path))
}

/// An expectation: `CONSTRAINT name EXPECT (condition) [ON VIOLATION DROP ROW | FAIL UPDATE]`.
struct Expectation {
    name: String,
    condition: String,
    action: Action,
}

#[derive(PartialEq)]
enum Action {
    Warn,
    Drop,
    Fail,
}

fn map_sql(text: &str) -> Result<Mapped, Problem> {
    let statements = sql::parse(text)?;
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut warnings = Vec::new();
    for statement in &statements {
        if let Some((function, why)) = DATABRICKS_ONLY_FUNCTIONS
            .iter()
            .find(|(f, _)| statement.functions.iter().any(|(used, _)| used == f))
        {
            return Err(Problem::new(
                "UNRESOLVABLE_TABLE_VALUED_FUNCTION",
                format!(
                    "{why}; generate data with range() instead (line {}, function {function}). SQLSTATE: 42883",
                    statement.line
                ),
                ANALYSIS_EXCEPTION,
            ));
        }
        let t = &statement.tokens;
        // `LIVE.x`: the legacy prefix means "this pipeline's dataset x".
        for (i, tok) in t.iter().enumerate() {
            if tok.is("LIVE") && t.get(i + 1).is_some_and(|n| n.token == Token::Period) {
                edits.push((tok.bytes.start..t[i + 1].bytes.end, String::new()));
            }
        }
        if let Shape::Dataset {
            name,
            or_refresh,
            columns,
            query,
            ..
        } = &statement.shape
        {
            if let Some(or) = or_refresh {
                // `CREATE OR REFRESH X` is `CREATE X` on a fresh run of the open-source engine.
                let next = t.get(or + 2).map_or(t[or + 1].bytes.end, |n| n.bytes.start);
                edits.push((t[*or].bytes.start..next, String::new()));
            }
            if let Some(columns) = columns {
                let (expectations, kept) = expectations(text, t, columns.clone());
                if !expectations.is_empty() {
                    let list = if kept.is_empty() {
                        String::new()
                    } else {
                        format!("({})", kept.join(", "))
                    };
                    let span = t[columns.start].bytes.start..t[columns.end - 1].bytes.end;
                    edits.push((span, list));
                    if let Some(query) = query {
                        apply_expectations(
                            name,
                            statement,
                            *query,
                            &expectations,
                            &mut edits,
                            &mut warnings,
                        );
                    }
                }
            }
        }
    }
    Ok(Mapped {
        text: splice(text, edits),
        warnings,
    })
}

/// Splits a column list into its expectations and the other entries (as source text).
fn expectations(text: &str, t: &[Tok], columns: Range<usize>) -> (Vec<Expectation>, Vec<String>) {
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

/// Wraps the query so DROP ROW expectations filter and FAIL UPDATE ones fail the flow;
/// warn-only expectations are reported.
fn apply_expectations(
    dataset: &str,
    statement: &Statement,
    query: usize,
    expectations: &[Expectation],
    edits: &mut Vec<(Range<usize>, String)>,
    warnings: &mut Vec<String>,
) {
    let mut conditions = Vec::new();
    for e in expectations {
        match e.action {
            Action::Drop => conditions.push(format!("({})", e.condition)),
            Action::Fail => conditions.push(format!(
                "assert_true(({}), 'Expectation {} on {dataset} violated (ON VIOLATION FAIL UPDATE)') IS NULL",
                e.condition,
                e.name.replace('\'', "")
            )),
            Action::Warn => warnings.push(format!(
                "Expectation {} on {dataset} ({}) is not enforced by the open-source engine: \
                 its rows are kept and not counted",
                e.name, e.condition
            )),
        }
    }
    if conditions.is_empty() {
        return;
    }
    let t = &statement.tokens;
    let start = t[query].bytes.start;
    let end = t[t.len() - 1].bytes.end;
    edits.push((start..start, "SELECT * FROM (\n".to_string()));
    edits.push((
        end..end,
        format!("\n) WHERE {}\n", conditions.join(" AND ")),
    ));
}

/// Applies non-overlapping edits (insertions at the same point keep their order).
fn splice(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str(&replacement);
        at = range.end;
    }
    out.push_str(&text[at..]);
    out
}

/// `@dp.expect...(...)` on one line.
static PY_EXPECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*@\s*(?:dp|dlt)\.(expect\w*)\((.*)\)[ \t]*$").expect("valid regex")
});

/// Python expectations have no open-source counterpart: the decorators are dropped and
/// reported (rows are kept).
fn map_python(text: &str) -> Mapped {
    let mut warnings = Vec::new();
    for found in PY_EXPECT.captures_iter(text) {
        warnings.push(format!(
            "@{}({}) is not enforced by the open-source engine: its rows are kept",
            &found[1], &found[2]
        ));
    }
    Mapped {
        text: PY_EXPECT.replace_all(text, "").into_owned(),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_file(text: &str) -> SourceFile {
        SourceFile {
            path: "/Workspace/x.sql".into(),
            language: Language::Sql,
            text: text.into(),
        }
    }

    #[test]
    fn create_or_refresh_and_live_are_mapped() {
        let m = map(&sql_file(
            "-- keep me\nCREATE OR REFRESH MATERIALIZED VIEW s\nCOMMENT 'c' AS SELECT * FROM LIVE.b;",
        ))
        .unwrap();
        assert_eq!(
            m.text,
            "-- keep me\nCREATE MATERIALIZED VIEW s\nCOMMENT 'c' AS SELECT * FROM b;"
        );
    }

    #[test]
    fn expectations_filter_fail_or_warn() {
        let m = map(&sql_file(
            "CREATE OR REFRESH MATERIALIZED VIEW s (\n  CONSTRAINT a EXPECT (id IS NOT NULL) ON VIOLATION DROP ROW,\n  \
             CONSTRAINT b EXPECT (n > 0) ON VIOLATION FAIL UPDATE,\n  CONSTRAINT c EXPECT (len(x) < 9)\n)\n\
             AS SELECT id, n, x FROM b -- trailing\n;",
        ))
        .unwrap();
        assert!(
            !m.text.contains("CONSTRAINT") && !m.text.contains("REFRESH"),
            "{}",
            m.text
        );
        assert!(m.text.contains("AS SELECT * FROM (\nSELECT id, n, x FROM b\n) WHERE (id IS NOT NULL) AND assert_true((n > 0), 'Expectation b on s violated"), "{}", m.text);
        assert_eq!(m.warnings.len(), 1);
        assert!(
            m.warnings[0].contains("Expectation c on s"),
            "{:?}",
            m.warnings
        );
        // Column definitions beside expectations stay.
        let m = map(&sql_file(
            "CREATE MATERIALIZED VIEW s (id BIGINT, CONSTRAINT a EXPECT (id > 0) ON VIOLATION DROP ROW) AS SELECT id FROM b",
        ))
        .unwrap();
        assert!(
            m.text
                .starts_with("CREATE MATERIALIZED VIEW s (id BIGINT) AS SELECT * FROM ("),
            "{}",
            m.text
        );
    }

    #[test]
    fn databricks_only_sources_are_reported() {
        let err = map(&sql_file(
            "CREATE STREAMING TABLE raw AS SELECT * FROM STREAM read_files('/Volumes/x', format => 'json')",
        ))
        .unwrap_err();
        assert_eq!(err.class, "UNRESOLVABLE_TABLE_VALUED_FUNCTION");
        assert!(
            err.message.contains("read_files() is Databricks-only"),
            "{}",
            err.message
        );
        assert_eq!(err.file.as_deref(), Some("/Workspace/x.sql"));
    }

    #[test]
    fn python_expectations_are_dropped_and_reported() {
        let m = map(&SourceFile {
            path: "/Workspace/x.py".into(),
            language: Language::Python,
            text: "@dp.materialized_view\n@dp.expect_or_drop(\"ok\", \"id > 0\")\ndef t():\n    return spark.range(3)\n".into(),
        })
        .unwrap();
        assert_eq!(
            m.text,
            "@dp.materialized_view\n\ndef t():\n    return spark.range(3)\n"
        );
        assert_eq!(m.warnings.len(), 1);
    }
}
