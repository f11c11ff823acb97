//! The cheap structural check every update gets, with or without an engine: each SQL file
//! parses into statements a pipeline accepts, every dataset a flow reads is defined somewhere
//! in the pipeline (or lives outside its schema), and a streaming table reads a stream.

use super::sources::{Language, SourceFile};
use super::sql::{self, Shape};
use super::{ANALYSIS_EXCEPTION, DatasetKind, Flow, Problem, Verdict, python};

/// Where the pipeline publishes: unqualified names resolve there.
pub struct Target<'a> {
    pub catalog: &'a str,
    pub schema: &'a str,
}

/// Checks a pipeline's files; the verdict carries every problem found and the graph.
pub fn check(files: &[SourceFile], target: &Target) -> Verdict {
    let mut verdict = Verdict::default();
    // Streaming tables whose flow reads batch relations: (flow, file, line).
    let mut batch_into_streaming: Vec<(String, String, u64)> = Vec::new();
    let mut where_defined: Vec<(String, String, u64)> = Vec::new();
    for file in files {
        match file.language {
            Language::Python => {
                let (datasets, flows) = python::analyse(&file.text);
                verdict.graph.datasets.extend(datasets);
                verdict.graph.flows.extend(flows);
            }
            Language::Sql => match sql::parse(&file.text) {
                Err(problem) => verdict.problems.push(problem.in_file(&file.path)),
                Ok(statements) => {
                    for statement in statements {
                        let inputs: Vec<String> =
                            statement.reads.iter().map(|r| r.name.clone()).collect();
                        let streaming = statement.reads.iter().any(|r| r.streaming)
                            || statement.functions.iter().any(|(_, s)| *s);
                        let (flow, output) = match statement.shape {
                            Shape::Setting => continue,
                            Shape::Dataset {
                                kind, name, query, ..
                            } => {
                                verdict.graph.datasets.push((name.clone(), kind));
                                if query.is_none() {
                                    continue;
                                }
                                let batch =
                                    !statement.reads.is_empty() || !statement.functions.is_empty();
                                if kind == DatasetKind::StreamingTable && !streaming && batch {
                                    batch_into_streaming.push((
                                        name.clone(),
                                        file.path.clone(),
                                        statement.line,
                                    ));
                                }
                                (name.clone(), name)
                            }
                            Shape::Flow { name, target } => (name, target),
                        };
                        where_defined.push((flow.clone(), file.path.clone(), statement.line));
                        let streamed = statement
                            .reads
                            .iter()
                            .filter(|r| r.streaming)
                            .map(|r| r.name.clone())
                            .collect();
                        verdict.graph.flows.push(Flow {
                            name: flow,
                            output,
                            inputs,
                            streaming,
                            streamed,
                        });
                    }
                }
            },
        }
    }
    if verdict.problems.is_empty() && verdict.graph.datasets.is_empty() {
        verdict.problems.push(Problem::new(
            "NO_TABLES_IN_PIPELINE",
            "Pipelines are expected to have at least one table defined but no tables were \
             found in your pipeline.",
            ANALYSIS_EXCEPTION,
        ));
    }
    let located = |flow: &str| {
        where_defined
            .iter()
            .find(|(f, _, _)| f == flow)
            .map(|(_, file, line)| (file.clone(), *line))
    };
    for flow in &verdict.graph.flows {
        let output = local(&flow.output, target);
        if !verdict
            .graph
            .datasets
            .iter()
            .any(|(d, _)| output.as_deref() == Some(d.as_str()))
        {
            let mut problem = Problem::new(
                "TABLE_OR_VIEW_NOT_FOUND",
                format!(
                    "The flow {} writes to {}, which no statement of the pipeline defines. SQLSTATE: 42P01",
                    flow.name, flow.output
                ),
                ANALYSIS_EXCEPTION,
            )
            .in_flow(&flow.name);
            problem.file = located(&flow.name).map(|(f, _)| f);
            verdict.problems.push(problem);
        }
        for input in &flow.inputs {
            let Some(name) = local(input, target) else {
                continue;
            };
            if verdict.graph.datasets.iter().any(|(d, _)| *d == name) {
                continue;
            }
            let (file, line) = located(&flow.name).unzip();
            let mut problem = Problem::new(
                "TABLE_OR_VIEW_NOT_FOUND",
                format!(
                    "The table or view `{input}` cannot be found. Verify the spelling and \
                     correctness of the schema and catalog, or define it in the pipeline. \
                     SQLSTATE: 42P01{}",
                    line.map(|l| format!("; line {l}")).unwrap_or_default()
                ),
                ANALYSIS_EXCEPTION,
            )
            .in_flow(&flow.name);
            problem.file = file;
            verdict.problems.push(problem);
        }
    }
    for mut problem in streams_of_materialized_views(&verdict.graph, target) {
        problem.file = problem.flow.as_deref().and_then(located).map(|(f, _)| f);
        verdict.problems.push(problem);
    }
    for (flow, file, line) in batch_into_streaming {
        verdict.problems.push(
            Problem::new(
                "INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE",
                format!(
                    "Flow {flow} returns a batch relation, but a streaming table needs a \
                     streaming query: read the source with STREAM(...) or make {flow} a \
                     materialized view. SQLSTATE: 42000; line {line}"
                ),
                ANALYSIS_EXCEPTION,
            )
            .in_flow(&flow)
            .in_file(&file),
        );
    }
    verdict
}

pub const STREAMING_FROM_MATERIALIZED_VIEW: &str = "STREAMING_FROM_MATERIALIZED_VIEW";

/// Flows reading one of the pipeline's materialized views as a stream: a materialized view is
/// recomputed, not appended to, and Databricks streams only from append-only sources (the
/// open-source engine lets it pass).
fn streams_of_materialized_views(graph: &super::Graph, target: &Target) -> Vec<Problem> {
    let mut problems = Vec::new();
    for flow in &graph.flows {
        for input in &flow.streamed {
            let Some(name) = local(input, target) else {
                continue;
            };
            let is_mv = graph
                .datasets
                .iter()
                .any(|(d, kind)| *d == name && *kind == DatasetKind::MaterializedView);
            if is_mv {
                problems.push(
                    Problem::new(
                        STREAMING_FROM_MATERIALIZED_VIEW,
                        format!(
                            "Cannot stream from materialized view `{input}` in flow {}: \
                             streaming reads need an append-only source (a streaming table or \
                             files); read it without STREAM or make it a streaming table. \
                             SQLSTATE: 0A000",
                            flow.name
                        ),
                        ANALYSIS_EXCEPTION,
                    )
                    .in_flow(&flow.name),
                );
            }
        }
    }
    problems
}

/// The dataset name `reference` means inside the pipeline, or None when it names a table in
/// another schema or catalog (which the emulated workspace cannot check).
fn local(reference: &str, target: &Target) -> Option<String> {
    let parts: Vec<&str> = reference.split('.').collect();
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match parts.as_slice() {
        [name] => Some(name.to_string()),
        [schema, name] if same(schema, target.schema) => Some(name.to_string()),
        [catalog, schema, name] if same(catalog, target.catalog) && same(schema, target.schema) => {
            Some(name.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target = Target {
        catalog: "main",
        schema: "demo",
    };

    fn sql(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            language: Language::Sql,
            text: text.into(),
        }
    }

    fn classes(v: &Verdict) -> Vec<&str> {
        v.problems.iter().map(|p| p.class.as_str()).collect()
    }

    #[test]
    fn a_sound_pipeline_passes_with_its_graph() {
        let v = check(
            &[
                sql(
                    "/b.sql",
                    "CREATE OR REFRESH STREAMING TABLE bronze AS SELECT * FROM STREAM read_files('/Volumes/a/b/c');",
                ),
                sql(
                    "/s.sql",
                    "CREATE OR REFRESH STREAMING TABLE silver AS SELECT * FROM STREAM(main.demo.bronze);\n\
                               CREATE MATERIALIZED VIEW gold AS SELECT count(*) FROM silver JOIN other.s.dim USING (id)",
                ),
            ],
            &TARGET,
        );
        assert!(!v.failed(), "{:?}", v.problems);
        let edges: Vec<(&str, Vec<String>)> = v
            .graph
            .flows
            .iter()
            .map(|f| (f.output.as_str(), f.inputs.clone()))
            .collect();
        assert_eq!(
            edges,
            [
                ("bronze", vec![]),
                ("silver", vec!["main.demo.bronze".to_string()]),
                (
                    "gold",
                    vec!["silver".to_string(), "other.s.dim".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn undefined_datasets_batch_streams_and_empty_pipelines_fail() {
        let v = check(
            &[sql(
                "/s.sql",
                "CREATE MATERIALIZED VIEW silver AS SELECT * FROM bronze\nWHERE id > 1",
            )],
            &TARGET,
        );
        assert_eq!(classes(&v), ["TABLE_OR_VIEW_NOT_FOUND"]);
        let p = &v.problems[0];
        assert_eq!(p.flow.as_deref(), Some("silver"));
        assert_eq!(p.file.as_deref(), Some("/s.sql"));
        assert!(p.message.contains("`bronze`"), "{}", p.message);

        let v = check(
            &[sql(
                "/s.sql",
                "CREATE STREAMING TABLE s AS SELECT * FROM range(10)",
            )],
            &TARGET,
        );
        assert_eq!(
            classes(&v),
            ["INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE"]
        );
        let v = check(
            &[sql(
                "/m.sql",
                "CREATE MATERIALIZED VIEW m AS SELECT 1 AS id;\nCREATE STREAMING TABLE s AS SELECT * FROM STREAM(m)",
            )],
            &TARGET,
        );
        assert_eq!(classes(&v), ["STREAMING_FROM_MATERIALIZED_VIEW"]);
        assert_eq!(v.problems[0].flow.as_deref(), Some("s"));
        assert_eq!(v.problems[0].file.as_deref(), Some("/m.sql"));
        let v = check(&[sql("/e.sql", "SET x = 1;")], &TARGET);
        assert_eq!(classes(&v), ["NO_TABLES_IN_PIPELINE"]);
        let v = check(
            &[sql("/x.sql", "CREATE MATERIALIZED VIEW a AS SELEC 1")],
            &TARGET,
        );
        assert_eq!(classes(&v), ["PARSE_SYNTAX_ERROR"]);
        assert_eq!(v.problems[0].file.as_deref(), Some("/x.sql"));
        let v = check(
            &[sql(
                "/f.sql",
                "CREATE VIEW a AS SELECT 1 AS x; CREATE FLOW f AS INSERT INTO nowhere BY NAME SELECT * FROM a",
            )],
            &TARGET,
        );
        assert_eq!(classes(&v), ["TABLE_OR_VIEW_NOT_FOUND"]);
    }
}
