//! Names on the local Spark engine, whose one catalog has one level of databases and is shared
//! by every pipeline of the engine's server: a schema of the pipeline's catalog is a database
//! of that pipeline alone, `<schema>__<pipeline tag>`, so `<pipeline catalog>.<schema>.<table>`
//! and `<schema>.<table>` are `` `<schema>__<tag>`.`<table>` ``; a table of another catalog that
//! `--data` provides (`<catalog>.<schema>.<table>`) lives in the database `<catalog>__<schema>`.
//! Other names are left as written (Spark then reports them missing). What Spark says about
//! the pipeline's databases is put back in the names the user wrote ([`Names::public`]).

use std::collections::BTreeSet;
use std::ops::Range;

use regex::{Captures, Regex};
use serde::Serialize;
use sqlparser::tokenizer::Token;

use super::sql::Tok;
use crate::data::DataTable;

/// How names map for one pipeline.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// The pipeline's catalog, lower case.
    pub catalog: String,
    /// The pipeline's schema (its default for one-part names), lower case.
    pub schema: String,
    /// Other catalogs with tables from `--data`, lower case.
    pub others: BTreeSet<String>,
    /// What makes the pipeline's databases its own (letters, digits and `_`).
    pub tag: String,
}

/// A `--data` table as the driver registers it: `database.table` over the file.
#[derive(Clone, Debug, Serialize)]
pub struct LocalTable {
    pub database: String,
    pub table: String,
    pub path: String,
    pub format: &'static str,
}

impl Names {
    pub fn new(catalog: &str, schema: &str, tag: &str, tables: &[DataTable]) -> Names {
        let catalog = catalog.to_ascii_lowercase();
        let schema = schema.to_ascii_lowercase();
        let others = tables
            .iter()
            .map(|t| t.names[0].clone())
            .filter(|c| *c != catalog)
            .collect();
        let tag = tag
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_lowercase();
        Names {
            catalog,
            schema,
            others,
            tag,
        }
    }

    /// The Spark database of the pipeline's schema `schema`.
    pub fn own(&self, schema: &str) -> String {
        format!("{}__{}", schema.to_ascii_lowercase(), self.tag)
    }

    /// The Spark database of `catalog.schema`, when the catalog is one the engine knows.
    pub fn database(&self, catalog: &str, schema: &str) -> Option<String> {
        let catalog = catalog.to_ascii_lowercase();
        if catalog == self.catalog {
            Some(self.own(schema))
        } else if self.others.contains(&catalog) {
            Some(format!("{catalog}__{}", schema.to_ascii_lowercase()))
        } else {
            None
        }
    }

    /// A table name of the engine's (`database.table`, maybe quoted, or as the user wrote it)
    /// as the pipeline's user names it, the inverse of [`Names::database`]: a table of the
    /// pipeline's schema by its plain name, one of another schema by `schema.table` (the
    /// pipeline's catalog implied), a `--data` table by `catalog.schema.table`.
    pub fn user_name(&self, name: &str) -> String {
        let parts: Vec<String> = name
            .split('.')
            .map(|p| p.trim_matches('`').to_ascii_lowercase())
            .collect();
        let table = parts.last().cloned().unwrap_or_default();
        let in_catalog = |schema: &str| {
            if schema == self.schema {
                table.clone()
            } else {
                format!("{schema}.{table}")
            }
        };
        let own = format!("__{}", self.tag);
        match parts.as_slice() {
            [_] => table.clone(),
            [database, _] => match database.strip_suffix(&own) {
                Some(schema) => in_catalog(schema),
                None => match database.split_once("__") {
                    Some((catalog, schema)) => format!("{catalog}.{schema}.{table}"),
                    None => in_catalog(database),
                },
            },
            [catalog, schema, _] if *catalog == self.catalog => in_catalog(schema),
            _ => parts.join("."),
        }
    }

    /// The tables the driver registers before the run.
    pub fn local_tables(&self, tables: &[DataTable]) -> Vec<LocalTable> {
        tables
            .iter()
            .filter_map(|t| {
                let [c, s, name] = &t.names;
                Some(LocalTable {
                    database: self.database(c, s)?,
                    table: name.clone(),
                    path: format!("file://{}", t.file.display()),
                    format: t.format,
                })
            })
            .collect()
    }

    /// Edits that put every known three-part name of the statement, and every two-part name
    /// where a table goes, in its local form.
    pub fn rewrite(&self, t: &[Tok], edits: &mut Vec<(Range<usize>, String)>) {
        rewrite_tables(
            t,
            |catalog, schema| match catalog {
                Some(catalog) => self.database(catalog, schema),
                None => Some(self.own(schema)),
            },
            edits,
        );
    }
}

/// Edits that name tables by their local database: `resolve(Some(catalog), schema)` for a
/// three-part name, `resolve(None, schema)` for a two-part one where a table goes (`a.b`
/// elsewhere is a column of an alias; `LIVE.x` is left to the dialect, which drops the
/// prefix). A name `resolve` does not know is left as written.
pub fn rewrite_tables(
    t: &[Tok],
    resolve: impl Fn(Option<&str>, &str) -> Option<String>,
    edits: &mut Vec<(Range<usize>, String)>,
) {
    let period = |i: usize| t.get(i).is_some_and(|x| x.token == Token::Period);
    for i in 0..t.len() {
        if (i == 0 || !period(i - 1)) && period(i + 1) && !period(i + 3) && table_goes_before(t, i)
        {
            if let (Some(s), Some(name)) = (t[i].ident(), t.get(i + 2).and_then(Tok::ident))
                && !t[i].is("LIVE")
                && let Some(database) = resolve(None, s)
            {
                edits.push((
                    t[i].bytes.start..t[i + 2].bytes.end,
                    format!("`{database}`.`{name}`"),
                ));
            }
            continue;
        }
        if (i > 0 && period(i - 1)) || !period(i + 1) || !period(i + 3) || period(i + 5) {
            continue;
        }
        let (Some(c), Some(s), Some(name)) = (
            t[i].ident(),
            t.get(i + 2).and_then(Tok::ident),
            t.get(i + 4).and_then(Tok::ident),
        ) else {
            continue;
        };
        if let Some(database) = resolve(Some(c), s) {
            edits.push((
                t[i].bytes.start..t[i + 4].bytes.end,
                format!("`{database}`.`{name}`"),
            ));
        }
    }
}

/// Whether the tokens before `i` put a table name at `i`: `FROM x`, `JOIN x`, `TABLE x`,
/// `VIEW x`, `INTO x`, `STREAM x`, `STREAM(x)`, `TABLE(x)`.
fn table_goes_before(t: &[Tok], i: usize) -> bool {
    const BEFORE: [&str; 6] = ["FROM", "JOIN", "TABLE", "VIEW", "INTO", "STREAM"];
    let Some(before) = i.checked_sub(1).map(|b| &t[b]) else {
        return false;
    };
    if BEFORE.iter().any(|k| before.is(k)) {
        return true;
    }
    before.token == Token::LParen
        && i.checked_sub(2)
            .is_some_and(|b| t[b].is("STREAM") || t[b].is("TABLE"))
}

impl Names {
    /// `text` (a message of Spark's) with the pipeline's databases named as the user names
    /// them: `spark_catalog.<schema>__<tag>` is `<catalog>.<schema>`, a bare one `<schema>`.
    pub fn public(&self, text: &str) -> String {
        if self.tag.is_empty() {
            return text.to_string();
        }
        let own = Regex::new(&format!(
            r"(`spark_catalog`\.`|spark_catalog\.)?(\w+?)__{}\b",
            self.tag
        ))
        .expect("a tag is letters and digits");
        own.replace_all(text, |c: &Captures| match c.get(1).map(|m| m.as_str()) {
            Some(q) if q.starts_with('`') => format!("`{}`.`{}", self.catalog, &c[2]),
            Some(_) => format!("{}.{}", self.catalog, &c[2]),
            None => c[2].to_string(),
        })
        .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sql::lex;

    #[test]
    fn known_catalogs_become_databases() {
        let tables = [DataTable {
            names: ["samples".into(), "nyctaxi".into(), "trips".into()],
            file: "/d/samples/nyctaxi/trips.json".into(),
            format: "json",
        }];
        let names = Names::new("Main", "sales", "00ab-C1", &tables);
        let text = "SELECT * FROM main.sales.orders o JOIN samples.nyctaxi.trips t ON o.id = t.id JOIN x.y.z USING (id)";
        let t = lex(text).unwrap();
        let mut edits = Vec::new();
        names.rewrite(&t, &mut edits);
        let replaced: Vec<(&str, &str)> = edits
            .iter()
            .map(|(r, s)| (&text[r.clone()], s.as_str()))
            .collect();
        assert_eq!(
            replaced,
            [
                ("main.sales.orders", "`sales__00abc1`.`orders`"),
                ("samples.nyctaxi.trips", "`samples__nyctaxi`.`trips`")
            ]
        );
        let local = names.local_tables(&tables);
        assert_eq!(local[0].database, "samples__nyctaxi");
        assert_eq!(local[0].path, "file:///d/samples/nyctaxi/trips.json");
    }

    #[test]
    fn two_part_names_are_rewritten_where_a_table_goes() {
        let names = Names::new("main", "sales", "7", &[]);
        let text = "CREATE MATERIALIZED VIEW sales.silver AS SELECT sales.id, LIVE.x.y FROM Sales.orders sales \
                    JOIN STREAM(sales.clicks) c ON sales.id = c.id";
        let t = lex(text).unwrap();
        let mut edits = Vec::new();
        names.rewrite(&t, &mut edits);
        let replaced: Vec<(&str, &str)> = edits
            .iter()
            .map(|(r, s)| (&text[r.clone()], s.as_str()))
            .collect();
        assert_eq!(
            replaced,
            [
                ("sales.silver", "`sales__7`.`silver`"),
                ("Sales.orders", "`sales__7`.`orders`"),
                ("sales.clicks", "`sales__7`.`clicks`"),
            ]
        );
    }

    #[test]
    fn spark_messages_name_the_pipeline_databases_as_written() {
        let names = Names::new("main", "sales", "7", &[]);
        assert_eq!(
            names.public(
                "Flow spark_catalog.sales__7.silver failed; `spark_catalog`.`sales__7`.`x`, sales__7.y, sales__70.z"
            ),
            "Flow main.sales.silver failed; `main`.`sales`.`x`, sales.y, sales__70.z"
        );
    }
}
