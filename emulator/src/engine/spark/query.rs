//! SQL statements on the engine's server, over the tables this emulator's pipelines wrote:
//! what the emulator's SQL warehouse (the Statement Execution API) runs. Table names are put
//! in their local form (`names.rs`) and Spark's messages back in the names the caller used.

use std::cell::RefCell;
use std::process::Stdio;

use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::SparkEngine;
use super::driver_output::{headline, problem_from};
use crate::engine::dialect::splice;
use crate::engine::names::rewrite_tables;
use crate::engine::sql::lex;
use crate::engine::{ANALYSIS_EXCEPTION, Problem};

/// Where a schema of the workspace's catalogs lives on the server.
#[derive(Clone, Debug)]
pub struct LocalSchema {
    pub catalog: String,
    pub schema: String,
    /// The Spark database (a pipeline's own, `<schema>__<tag>`).
    pub database: String,
}

/// A named parameter marker's value (`:name` in the statement); None = NULL.
#[derive(Clone, Debug)]
pub struct Parameter {
    pub name: String,
    pub value: Option<String>,
    /// The SQL type the value is cast to, if given.
    pub kind: Option<String>,
}

/// A statement's result.
#[derive(Clone, Debug, Deserialize)]
pub struct Rows {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
    /// More rows than the limit: the rest were left out.
    pub truncated: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Column {
    pub name: String,
    /// The API's `ColumnInfoTypeName` (`LONG`, `STRING`, `DECIMAL`, …).
    pub type_name: String,
    /// The SQL type (`BIGINT`, `DECIMAL(10,2)`, `ARRAY<STRING>`).
    pub type_text: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Answer {
    Rows(Rows),
    Error { error: Failure },
}

#[derive(Deserialize)]
struct Failure {
    message: String,
    condition: Option<String>,
}

impl SparkEngine {
    /// Runs `statement` on the server with `schemas` as the tables there are, the names it
    /// does not qualify in `default` (catalog, schema); at most `limit` rows.
    pub async fn query(
        &self,
        statement: &str,
        parameters: &[Parameter],
        schemas: &[LocalSchema],
        default: (&str, Option<&str>),
        limit: usize,
    ) -> Result<Rows, Problem> {
        let (local, database) = local_statement(statement, schemas, default)?;
        let failed = |e: std::io::Error| {
            Problem::new(
                "",
                format!("The local Spark engine's query did not run: {e}"),
                "java.io.IOException",
            )
        };
        let mut child = self
            .python("query.py", &self.shared.dir)
            .await?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(failed)?;
        let parameters: Vec<_> = parameters
            .iter()
            .map(|p| json!({"name": p.name, "value": p.value, "type": p.kind}))
            .collect();
        let request = json!({"statement": local, "database": database, "limit": limit,
                             "parameters": parameters});
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(request.to_string().as_bytes())
                .await
                .map_err(failed)?;
        }
        let output = child.wait_with_output().await.map_err(failed)?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let answer = stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Answer>(line).ok());
        match answer {
            Some(Answer::Rows(rows)) => Ok(rows),
            Some(Answer::Error { error }) => Err(problem_from(
                &headline(&public(&error.message, schemas)),
                error.condition.as_deref(),
                ANALYSIS_EXCEPTION,
            )),
            None => Err(Problem::new(
                "",
                format!(
                    "The local Spark engine's query stopped ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                        .lines()
                        .last()
                        .unwrap_or("")
                ),
                "java.lang.RuntimeException",
            )),
        }
    }
}

/// The statement with its table names local, and the database of `default`'s schema; a
/// three-part name of a schema that is not there is `TABLE_OR_VIEW_NOT_FOUND`, as the
/// workspace says it.
fn local_statement(
    statement: &str,
    schemas: &[LocalSchema],
    (catalog, schema): (&str, Option<&str>),
) -> Result<(String, Option<String>), Problem> {
    let find = |c: &str, s: &str| {
        schemas
            .iter()
            .find(|l| l.catalog.eq_ignore_ascii_case(c) && l.schema.eq_ignore_ascii_case(s))
            .map(|l| l.database.clone())
    };
    let t = lex(statement)?;
    let missing = RefCell::new(None);
    let mut edits = Vec::new();
    rewrite_tables(
        &t,
        |c, s| {
            let found = find(c.unwrap_or(catalog), s);
            if found.is_none() && c.is_some() {
                missing
                    .borrow_mut()
                    .get_or_insert(format!("`{}`.`{s}`", c.unwrap_or("")));
            }
            found
        },
        &mut edits,
    );
    if let Some(schema) = missing.into_inner() {
        return Err(Problem::new(
            "TABLE_OR_VIEW_NOT_FOUND",
            format!(
                "The schema {schema} has no tables here (no pipeline of this workspace published to it). SQLSTATE: 42P01"
            ),
            ANALYSIS_EXCEPTION,
        ));
    }
    let database = schema.and_then(|s| find(catalog, s));
    Ok((splice(statement, edits), database))
}

/// Spark's message in the caller's names.
fn public(message: &str, schemas: &[LocalSchema]) -> String {
    let mut text = message.to_string();
    for l in schemas {
        text = text
            .replace(
                &format!("`spark_catalog`.`{}`", l.database),
                &format!("`{}`.`{}`", l.catalog, l.schema),
            )
            .replace(
                &format!("spark_catalog.{}", l.database),
                &format!("{}.{}", l.catalog, l.schema),
            )
            .replace(&l.database, &l.schema);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemas() -> Vec<LocalSchema> {
        vec![LocalSchema {
            catalog: "main".into(),
            schema: "demo".into(),
            database: "demo__ab1".into(),
        }]
    }

    #[test]
    fn names_become_local_and_unknown_schemas_are_not_found() {
        let (text, db) = local_statement(
            "SELECT count(*) FROM main.demo.orders o JOIN demo.items i ON o.id = i.id",
            &schemas(),
            ("main", Some("demo")),
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT count(*) FROM `demo__ab1`.`orders` o JOIN `demo__ab1`.`items` i ON o.id = i.id"
        );
        assert_eq!(db.as_deref(), Some("demo__ab1"));
        let missing = local_statement("SELECT * FROM main.other.t", &schemas(), ("main", None));
        let problem = missing.unwrap_err();
        assert_eq!(problem.class, "TABLE_OR_VIEW_NOT_FOUND");
        assert!(
            problem.message.contains("`main`.`other`"),
            "{}",
            problem.message
        );
        assert_eq!(
            public(
                "[TABLE_OR_VIEW_NOT_FOUND] `spark_catalog`.`demo__ab1`.`x` (demo__ab1.x)",
                &schemas()
            ),
            "[TABLE_OR_VIEW_NOT_FOUND] `main`.`demo`.`x` (demo.x)"
        );
    }
}
