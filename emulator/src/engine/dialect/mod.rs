//! Databricks-only pipeline syntax, mapped to what open-source Spark Declarative Pipelines
//! accepts where a faithful mapping exists, and reported where none does (README: "Local
//! engine"). Edits are byte splices into the original text, so everything else stays as the
//! user wrote it (comments and line numbers included, as far as the edit allows).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use sqlparser::tokenizer::Token;

use super::expectations::{self, Check, Expectation};
use super::names::Names;
use super::sources::{Language, SourceFile};
use super::sql::{self, Shape, Tok};
use super::{DatasetKind, Problem, auto_cdc, python, read_files};

/// A file as the open-source engine gets it, and what the mapping has to say about it.
#[derive(Debug, Default)]
pub struct Mapped {
    pub text: String,
    /// What the driver counts expectations on after a run.
    pub checks: Vec<Check>,
    /// The file's temporary views with their queries read as a batch (for those counts).
    pub views: Vec<(String, String)>,
    /// A companion Python file the mapped text needs (the views standing for `read_files`,
    /// the AUTO CDC flows).
    pub python: Option<String>,
    /// Databricks features that were kept only as a report (e.g. warn-only expectations).
    pub warnings: Vec<String>,
    /// Each statement that defines a flow with a query, as mapped: the driver has the engine
    /// read their inputs (`sdp_graph.py`).
    pub statements: Vec<String>,
}

/// Maps one file, or says why it cannot run on the open-source engine.
pub fn map(file: &SourceFile, context: &Context) -> Result<Mapped, Problem> {
    match file.language {
        Language::Sql => map_sql(&file.path, &file.text, context),
        Language::Python => Ok(Mapped {
            text: file.text.clone(),
            ..Mapped::default()
        }),
    }
    .map_err(|p| p.in_file(&file.path))
}

/// What mapping a file needs to know of the whole pipeline.
#[derive(Debug, Default)]
pub struct Context {
    pub rules: Rules,
    pub names: Names,
    /// The tables AUTO CDC flows write (lower case): their declarations go with the flows.
    pub cdc_targets: BTreeSet<String>,
}

/// Expectations of streaming tables defined without a query (`CREATE STREAMING TABLE t
/// (CONSTRAINT …)`), by lower-case name: they apply to the flows into the table, wherever
/// those are defined.
pub type Rules = BTreeMap<String, Vec<Expectation>>;

impl Context {
    /// What every file of a pipeline tells the mapping of one (each SQL file parsed once).
    pub fn of(files: &[SourceFile], names: Names) -> Context {
        let mut context = Context {
            names,
            ..Context::default()
        };
        for file in files {
            if file.language == Language::Python {
                let targets = python::auto_cdc_targets(&file.text);
                context
                    .cdc_targets
                    .extend(targets.iter().map(|t| sql::short_name(t)));
                continue;
            }
            for statement in sql::parse(&file.text).unwrap_or_default() {
                context.cdc_targets.extend(auto_cdc::target_of(&statement));
                if let Shape::Dataset {
                    name,
                    columns: Some(columns),
                    query: None,
                    ..
                } = &statement.shape
                {
                    let (found, _) =
                        expectations::split(&file.text, &statement.tokens, columns.clone());
                    if !found.is_empty() {
                        context.rules.insert(sql::short_name(name), found);
                    }
                }
            }
        }
        context
    }
}

/// The words between `CREATE [OR REFRESH]` and the name, as open-source Spark spells them:
/// `PRIVATE` and `TEMPORARY` tables are tables (not published is all they mean), `LIVE TABLE`
/// is a materialized view, a `LIVE VIEW` a temporary view.
fn header(t: &[Tok], start: usize, kind: DatasetKind) -> Option<(Range<usize>, String)> {
    const WORDS: &[&str] = &[
        "TEMPORARY",
        "PRIVATE",
        "LIVE",
        "MATERIALIZED",
        "VIEW",
        "STREAMING",
        "TABLE",
    ];
    let end = (start..t.len()).find(|&i| !WORDS.contains(&t[i].keyword().as_str()))?;
    let written: Vec<String> = t[start..end].iter().map(Tok::keyword).collect();
    let canonical = match kind {
        DatasetKind::MaterializedView => "MATERIALIZED VIEW",
        DatasetKind::StreamingTable => "STREAMING TABLE",
        DatasetKind::View if written.iter().any(|w| w == "TEMPORARY" || w == "LIVE") => {
            "TEMPORARY VIEW"
        }
        DatasetKind::View => "VIEW",
    };
    (written.join(" ") != canonical && end > start).then(|| {
        (
            t[start].bytes.start..t[end - 1].bytes.end,
            canonical.to_string(),
        )
    })
}

/// Where the query of `CREATE FLOW f AS INSERT INTO t [BY NAME] query` starts.
fn flow_query(t: &[Tok]) -> Option<usize> {
    let into =
        (0..t.len()).find(|&i| t[i].is("INSERT") && t.get(i + 1).is_some_and(|x| x.is("INTO")))?;
    let (_, mut i) = sql::dotted_name(t, into + 2)?;
    if t.get(i).is_some_and(|x| x.is("BY")) && t.get(i + 1).is_some_and(|x| x.is("NAME")) {
        i += 2;
    }
    (i < t.len()).then_some(i)
}

/// `text[range]` with those of `edits` that fall inside it applied.
fn splice_range(text: &str, range: Range<usize>, edits: &[(Range<usize>, String)]) -> String {
    let inside = edits
        .iter()
        .filter(|(r, _)| r.start >= range.start && r.end <= range.end)
        .map(|(r, s)| (r.start - range.start..r.end - range.start, s.clone()))
        .collect();
    splice(&text[range], inside)
}

/// The query text from token `query` on, with this statement's edits in it applied and read
/// as a batch (`STREAM` dropped): what the driver counts expectations over.
fn batch_query(text: &str, t: &[Tok], query: usize, edits: &[(Range<usize>, String)]) -> String {
    let range = t[query].bytes.start..t[t.len() - 1].bytes.end;
    let mapped = splice_range(text, range, edits);
    let Ok(tokens) = sql::lex(&mapped) else {
        return mapped;
    };
    let mut streams = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        if !tok.is("STREAM") {
            continue;
        }
        match tokens.get(i + 1) {
            Some(open) if open.token == Token::LParen => {
                if let Some(close) = sql::matching_paren(&tokens, i + 1) {
                    streams.push((tok.bytes.start..open.bytes.end, String::new()));
                    streams.push((tokens[close].bytes.clone(), String::new()));
                }
            }
            Some(next) if next.ident().is_some() => {
                streams.push((tok.bytes.start..next.bytes.start, String::new()));
            }
            _ => {}
        }
    }
    splice(&mapped, streams)
}

/// Wraps the query from token `query` on in the expectations' filter.
fn wrap(
    t: &[Tok],
    query: usize,
    dataset: &str,
    rules: &[Expectation],
    edits: &mut Vec<(Range<usize>, String)>,
) {
    let start = t[query].bytes.start;
    let end = t[t.len() - 1].bytes.end;
    edits.push((start..start, "SELECT * FROM (\n".to_string()));
    edits.push((
        end..end,
        format!("\n) WHERE {}\n", expectations::condition(dataset, rules)),
    ));
}

fn map_sql(path: &str, text: &str, context: &Context) -> Result<Mapped, Problem> {
    let rules = &context.rules;
    let statements = sql::parse(text)?;
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    let mut mapped = Mapped::default();
    let mut sources = Vec::new();
    let mut counter = 0;
    let mut flows = Vec::new();
    for statement in &statements {
        let t = &statement.tokens;
        // AUTO CDC flows and their targets' declarations leave the SQL for the companion.
        let span = t[0].bytes.start..t[t.len() - 1].bytes.end;
        match &statement.shape {
            Shape::Dataset {
                name, query: None, ..
            } if context.cdc_targets.contains(&sql::short_name(name)) => {
                let what = format!("{name}, the target of an AUTO CDC flow");
                edits.push((span.clone(), auto_cdc::placeholder(&text[span], &what)));
                continue;
            }
            Shape::Flow { name, target } => {
                if let Some(flow) = auto_cdc::read(text, t, name) {
                    flows.push(flow?);
                    if rules.contains_key(&sql::short_name(target)) {
                        mapped.warnings.push(format!(
                            "The expectations of {target} are not enforced on the flow {name} \
                             by the local engine (AUTO CDC)"
                        ));
                    }
                    let what = format!("the AUTO CDC flow {name}");
                    edits.push((span.clone(), auto_cdc::placeholder(&text[span], &what)));
                    continue;
                }
            }
            _ => {}
        }
        let defines_a_flow = matches!(
            &statement.shape,
            Shape::Dataset { query: Some(_), .. } | Shape::Flow { .. }
        );
        let mut own = Vec::new();
        let dataset = match &statement.shape {
            Shape::Dataset { name, .. } | Shape::Flow { name, .. } => name.as_str(),
            Shape::Setting => "",
        };
        sources.extend(read_files::map_calls(
            statement,
            dataset,
            &mut counter,
            &mut own,
        )?);
        context.names.rewrite(t, &mut own);
        // `LIVE.x`: the legacy prefix means "this pipeline's dataset x".
        for (i, tok) in t.iter().enumerate() {
            if tok.is("LIVE") && t.get(i + 1).is_some_and(|n| n.token == Token::Period) {
                own.push((tok.bytes.start..t[i + 1].bytes.end, String::new()));
            }
        }
        match &statement.shape {
            Shape::Dataset {
                name,
                kind,
                or_refresh,
                columns,
                query,
            } => {
                if let Some(or) = or_refresh {
                    // `CREATE OR REFRESH X` is `CREATE X` on a fresh run of the open-source engine.
                    let next = t.get(or + 2).map_or(t[or + 1].bytes.end, |n| n.bytes.start);
                    own.push((t[*or].bytes.start..next, String::new()));
                }
                own.extend(header(t, or_refresh.map_or(1, |o| o + 2), *kind));
                let found = match columns {
                    Some(columns) => {
                        let (found, kept) = expectations::split(text, t, columns.clone());
                        if !found.is_empty() {
                            let list = if kept.is_empty() {
                                String::new()
                            } else {
                                format!("({})", kept.join(", "))
                            };
                            let span = t[columns.start].bytes.start..t[columns.end - 1].bytes.end;
                            own.push((span, list));
                        }
                        found
                    }
                    None => Vec::new(),
                };
                if let Some(query) = *query {
                    if *kind == DatasetKind::View {
                        mapped
                            .views
                            .push((name.clone(), batch_query(text, t, query, &own)));
                    }
                    if !found.is_empty() {
                        mapped.checks.push(Check {
                            dataset: name.clone(),
                            query: batch_query(text, t, query, &own),
                            expectations: found.clone(),
                        });
                        wrap(t, query, name, &found, &mut own);
                    }
                }
            }
            Shape::Flow { target, .. } => {
                if let (Some(found), Some(query)) =
                    (rules.get(&sql::short_name(target)), flow_query(t))
                {
                    mapped.checks.push(Check {
                        dataset: target.clone(),
                        query: batch_query(text, t, query, &own),
                        expectations: found.clone(),
                    });
                    wrap(t, query, target, found, &mut own);
                }
            }
            Shape::Setting => {}
        }
        if defines_a_flow {
            mapped.statements.push(splice_range(text, span, &own));
        }
        edits.extend(own);
    }
    mapped.text = splice(text, edits);
    let mut python = Vec::new();
    if !sources.is_empty() {
        python.push(read_files::python(path, &sources));
    }
    if !flows.is_empty() {
        python.push(auto_cdc::python(path, &flows));
    }
    mapped.python = (!python.is_empty()).then(|| python.join("\n\n"));
    Ok(mapped)
}

/// Applies non-overlapping edits (insertions at the same point keep their order).
pub(crate) fn splice(text: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
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

#[cfg(test)]
mod tests;
