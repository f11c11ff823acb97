//! Three-part names on the local Spark engine, whose one catalog has one level of databases:
//! `<pipeline catalog>.<schema>.<table>` is `<schema>.<table>`, and a table of another catalog
//! that `--data` provides (`<catalog>.<schema>.<table>`) lives in the database
//! `<catalog>__<schema>`. Other names are left as written (Spark then reports them missing).

use std::collections::BTreeSet;
use std::ops::Range;

use serde::Serialize;
use sqlparser::tokenizer::Token;

use super::sql::Tok;
use crate::data::DataTable;

/// How names map for one pipeline.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// The pipeline's catalog, lower case.
    pub catalog: String,
    /// Other catalogs with tables from `--data`, lower case.
    pub others: BTreeSet<String>,
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
    pub fn new(catalog: &str, tables: &[DataTable]) -> Names {
        let catalog = catalog.to_ascii_lowercase();
        let others = tables
            .iter()
            .map(|t| t.names[0].clone())
            .filter(|c| *c != catalog)
            .collect();
        Names { catalog, others }
    }

    /// The Spark database of `catalog.schema`, when the catalog is one the engine knows.
    pub fn database(&self, catalog: &str, schema: &str) -> Option<String> {
        let catalog = catalog.to_ascii_lowercase();
        if catalog == self.catalog {
            Some(schema.to_string())
        } else if self.others.contains(&catalog) {
            Some(format!("{catalog}__{}", schema.to_ascii_lowercase()))
        } else {
            None
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

    /// Edits that put every known three-part name of the statement in its local form.
    pub fn rewrite(&self, t: &[Tok], edits: &mut Vec<(Range<usize>, String)>) {
        let period = |i: usize| t.get(i).is_some_and(|x| x.token == Token::Period);
        for i in 0..t.len() {
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
            if let Some(database) = self.database(c, s) {
                edits.push((
                    t[i].bytes.start..t[i + 4].bytes.end,
                    format!("`{database}`.`{name}`"),
                ));
            }
        }
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
        let names = Names::new("Main", &tables);
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
                ("main.sales.orders", "`sales`.`orders`"),
                ("samples.nyctaxi.trips", "`samples__nyctaxi`.`trips`")
            ]
        );
        let local = names.local_tables(&tables);
        assert_eq!(local[0].database, "samples__nyctaxi");
        assert_eq!(local[0].path, "file:///d/samples/nyctaxi/trips.json");
    }
}
