//! Which of the pipeline's files an update's error is in. A workspace's event names no source
//! file (databricks-sdk's `PipelineEvent`, `Origin` and `ErrorDetail` have no field for one),
//! so the file is found from what an event does carry: the dataset it is about
//! (`origin.dataset_name`: the file that defines it) or the code its message quotes (a parse
//! error's `== SQL ==` lines: the file holding them). An error no file explains keeps none.

use super::checks::declared::Declared;
use crate::error::UpdateError;
use std::collections::BTreeMap;

/// Sets `file` on each error that has none and that one of `sources` (path → text) explains.
pub fn attribute(errors: &mut [UpdateError], sources: &BTreeMap<String, String>) {
    let declared: Vec<(&String, Declared)> = sources
        .iter()
        .map(|(path, text)| (path, Declared::read([(path, text)]).0))
        .collect();
    for error in errors.iter_mut().filter(|e| e.file.is_none()) {
        let defines = error.dataset.as_deref().and_then(|dataset| {
            only(
                declared
                    .iter()
                    .filter(|(_, d)| d.declares(dataset))
                    .map(|(p, _)| *p),
            )
        });
        error.file = defines.or_else(|| quoting(&error.message, sources));
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

    fn error(dataset: Option<&str>, message: &str) -> UpdateError {
        UpdateError {
            dataset: dataset.map(str::to_string),
            file: None,
            message: message.to_string(),
        }
    }

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
        let mut errors = vec![
            error(Some("main.s.silver"), "[UNRESOLVED_COLUMN] x"),
            error(Some("main.s.bronze"), "[TABLE_OR_VIEW_NOT_FOUND] y"),
            error(
                None,
                "[PARSE_SYNTAX_ERROR] Syntax error at or near 'SELEC'. (line 2, pos 0)\n\n== SQL ==\nCREATE MATERIALIZED VIEW gold AS\nSELEC * FROM silver;\n^^^\n",
            ),
            error(Some("main.s.elsewhere"), "[X] defined nowhere"),
            error(None, "Update 1 is FAILED."),
        ];
        errors[4].file = Some("/kept.sql".into());
        attribute(&mut errors, &sources);
        let files: Vec<Option<&str>> = errors.iter().map(|e| e.file.as_deref()).collect();
        assert_eq!(
            files,
            [
                Some("/p/silver.py"),
                Some("/p/bronze.sql"),
                Some("/p/gold.sql"),
                None,
                Some("/kept.sql")
            ]
        );
    }
}
