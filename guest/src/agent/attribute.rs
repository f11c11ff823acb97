//! Which of the pipeline's files an update's error is in. A workspace's event names no source
//! file (databricks-sdk's `PipelineEvent`, `Origin` and `ErrorDetail` have no field for one),
//! so the file is found from what an event does carry: the dataset it is about
//! (`origin.dataset_name`: the file that defines it) or the code its message quotes (a parse
//! error's `== SQL ==` lines: the file holding them). An error no file explains keeps none.

use super::checks::declared::Declared;
use std::collections::BTreeMap;

/// The pipeline's files (path → text) and the datasets each declares.
pub struct Attribution<'a> {
    sources: &'a BTreeMap<String, String>,
    declared: Vec<(&'a String, Declared)>,
}

impl<'a> Attribution<'a> {
    pub fn of(sources: &'a BTreeMap<String, String>) -> Self {
        let declared = sources
            .iter()
            .map(|(path, text)| (path, Declared::read([(path, text)]).0))
            .collect();
        Attribution { sources, declared }
    }

    /// The one file that explains an error about `dataset` saying `message` (whole, as the
    /// event has it: the code a parse error quotes may come late in it).
    pub fn file(&self, dataset: Option<&str>, message: &str) -> Option<String> {
        let defines = dataset.and_then(|dataset| {
            only(
                self.declared
                    .iter()
                    .filter(|(_, d)| d.declares(dataset))
                    .map(|(p, _)| *p),
            )
        });
        defines.or_else(|| quoting(message, self.sources))
    }
}

/// The one item of `items`, if there is exactly one.
fn only<'a>(mut items: impl Iterator<Item = &'a String>) -> Option<String> {
    let first = items.next()?;
    items.next().is_none().then(|| first.clone())
}

/// The one file holding every line the message quotes under `== SQL ==` (up to the caret).
fn quoting(message: &str, sources: &BTreeMap<String, String>) -> Option<String> {
    let (_, quoted) = message.split_once("== SQL ==")?;
    let lines: Vec<&str> = quoted
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with('^'))
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    only(
        sources
            .iter()
            .filter(|(_, text)| {
                let text: Vec<&str> = text.lines().map(str::trim).collect();
                lines.iter().all(|l| text.contains(l))
            })
            .map(|(path, _)| path),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_find_their_file_from_the_dataset_or_the_quoted_code() {
        let sources: BTreeMap<String, String> = [
            (
                "/p/bronze.sql",
                "CREATE OR REFRESH MATERIALIZED VIEW bronze AS\nSELECT id FROM range(3);",
            ),
            (
                "/p/silver.py",
                "from pyspark import pipelines as dp\n\n@dp.materialized_view\ndef silver():\n    return spark.read.table(\"bronze\")\n",
            ),
            ("/p/gold.sql", "CREATE MATERIALIZED VIEW gold AS\nSELEC * FROM silver;"),
        ]
        .into_iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
        let errors = [
            (Some("main.s.silver"), "[UNRESOLVED_COLUMN] x"),
            (Some("main.s.bronze"), "[TABLE_OR_VIEW_NOT_FOUND] y"),
            (
                None,
                "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'. (line 2, pos 0)\n\n== SQL ==\nCREATE MATERIALIZED VIEW gold AS\nSELEC * FROM silver;\n^^^\n",
            ),
            (Some("main.s.elsewhere"), "[X] defined nowhere"),
            (None, "Update 1 is FAILED."),
        ];
        let attribution = Attribution::of(&sources);
        let files: Vec<Option<String>> = errors
            .iter()
            .map(|(dataset, message)| attribution.file(*dataset, message))
            .collect();
        assert_eq!(
            files,
            [
                Some("/p/silver.py".to_string()),
                Some("/p/bronze.sql".to_string()),
                Some("/p/gold.sql".to_string()),
                None,
                None
            ]
        );
    }
}
