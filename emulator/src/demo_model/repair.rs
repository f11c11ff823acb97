//! The demo model's mistakes and its repair turn. A flaw spoils the first answer in one of
//! three ways; a repair request is answered by reading the errors it carries and fixing what
//! each names (the table, the column, the streaming read), as a model would, in the files of
//! its previous answer (or those the request shows).

use std::sync::LazyLock;

use clap::ValueEnum;
use regex::Regex;
use serde_json::{Map, Value};

use super::topics::Topic;

/// Which mistake the demo model's first answer makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DemoFlaw {
    /// No mistake.
    #[default]
    #[value(alias = "0", alias = "false", alias = "no")]
    None,
    /// Silver reads the bronze table under a wrong name (`TABLE_OR_VIEW_NOT_FOUND`).
    #[value(alias = "1", alias = "true", alias = "yes")]
    Table,
    /// Silver selects a misspelled column (`UNRESOLVED_COLUMN`, Spark only).
    Column,
    /// Bronze is a streaming table over a batch source
    /// (`INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE`).
    Streaming,
}

/// Spoils the sources as `flaw` says; false when nothing matched.
pub fn spoil(sources: &mut Map<String, Value>, topic: &Topic, flaw: DemoFlaw) -> bool {
    let t = topic.name;
    let (find, replace) = match flaw {
        DemoFlaw::None => return false,
        DemoFlaw::Table => (format!("FROM bronze_{t}"), format!("FROM {t}_bronze")),
        DemoFlaw::Column => {
            let key = topic.key;
            (
                format!("AS SELECT\n  {key},"),
                format!("AS SELECT\n  {},", &key[..key.len() - 1]),
            )
        }
        DemoFlaw::Streaming => {
            let ingesting = sources.values().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.contains("FROM STREAM read_files("))
            });
            if ingesting {
                ("FROM STREAM read_files(".into(), "FROM read_files(".into())
            } else {
                (
                    format!("MATERIALIZED VIEW bronze_{t}"),
                    format!("STREAMING TABLE bronze_{t}"),
                )
            }
        }
    };
    let Some(text) = sources
        .values_mut()
        .find(|s| s.as_str().is_some_and(|s| s.contains(&find)))
    else {
        return false;
    };
    *text = Value::String(
        text.as_str()
            .unwrap_or_default()
            .replacen(&find, &replace, 1),
    );
    true
}

static MISSING_TABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[TABLE_OR_VIEW_NOT_FOUND\][^`]*`([^`]+(?:`\.`[^`]+)*)`").expect("valid regex")
});
static MISSING_COLUMN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[UNRESOLVED_COLUMN[A-Z_.]*\][^`]*`([^`]+)`[^\[]*\[`([^\]]*)\]")
        .expect("valid regex")
});
static BATCH_INTO_STREAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[INVALID_FLOW_QUERY_TYPE\.BATCH_RELATION_FOR_STREAMING_TABLE\] Flow ([`\w.]+)")
        .expect("valid regex")
});
static DEFINED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:MATERIALIZED\s+VIEW|STREAMING\s+TABLE|VIEW|TABLE)\s+([A-Za-z_][\w.]*)")
        .expect("valid regex")
});

/// The last part of a possibly qualified, backticked name.
fn last_part(name: &str) -> String {
    name.rsplit('.')
        .next()
        .unwrap_or(name)
        .trim_matches('`')
        .to_string()
}

fn replace_word(sources: &mut Map<String, Value>, wrong: &str, right: &str) -> bool {
    let Ok(word) = Regex::new(&format!(r"\b{}\b", regex::escape(wrong))) else {
        return false;
    };
    let mut changed = false;
    for text in sources.values_mut() {
        let Some(old) = text.as_str() else { continue };
        if word.is_match(old) {
            *text = Value::String(word.replace_all(old, right).into_owned());
            changed = true;
        }
    }
    changed
}

/// The defined dataset most like `wrong`: the same words in another order, else the fewest
/// edits.
fn closest(wrong: &str, defined: &[String]) -> Option<String> {
    let words = |s: &str| {
        let mut w: Vec<String> = s.split('_').map(str::to_ascii_lowercase).collect();
        w.sort();
        w
    };
    defined
        .iter()
        .find(|d| words(d) == words(wrong))
        .or_else(|| defined.iter().min_by_key(|d| edits(d, wrong)))
        .cloned()
}

fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// Fixes in `sources` what each error names; returns what was fixed, in words.
pub fn fix(sources: &mut Map<String, Value>, errors: &str) -> Vec<String> {
    let mut fixed = Vec::new();
    let defined: Vec<String> = sources
        .values()
        .filter_map(Value::as_str)
        .flat_map(|s| {
            DEFINED
                .captures_iter(s)
                .map(|c| last_part(&c[1]))
                .collect::<Vec<_>>()
        })
        .collect();
    for found in MISSING_TABLE.captures_iter(errors) {
        let wrong = last_part(&found[1]);
        if let Some(right) = closest(&wrong, &defined)
            && right != wrong
            && replace_word(sources, &wrong, &right)
        {
            fixed.push(format!(
                "{wrong} is read as {right}, the table the pipeline defines"
            ));
        }
    }
    for found in MISSING_COLUMN.captures_iter(errors) {
        let wrong = last_part(&found[1]);
        let suggestion = found[2]
            .split(',')
            .next()
            .map(|s| last_part(s.trim().trim_matches('`')));
        if let Some(right) = suggestion
            && !right.is_empty()
            && replace_word(sources, &wrong, &right)
        {
            fixed.push(format!("the column {wrong} is {right}"));
        }
    }
    for found in BATCH_INTO_STREAM.captures_iter(errors) {
        let table = last_part(&found[1]);
        for text in sources.values_mut() {
            let Some(old) = text.as_str() else { continue };
            let header = format!("STREAMING TABLE {table}");
            if !old.contains(&header) {
                continue;
            }
            let new = if old.contains("FROM read_files(") {
                fixed.push(format!("{table} reads its files as a stream"));
                old.replace("FROM read_files(", "FROM STREAM read_files(")
            } else {
                fixed.push(format!(
                    "{table} is a materialized view over its batch source"
                ));
                old.replace(&header, &format!("MATERIALIZED VIEW {table}"))
            };
            *text = Value::String(new);
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sources(text: &str) -> Map<String, Value> {
        json!({"/a.sql": text}).as_object().unwrap().clone()
    }

    #[test]
    fn each_error_kind_is_fixed_where_it_points() {
        let mut s = sources(
            "CREATE MATERIALIZED VIEW bronze_x AS SELECT id AS event_id FROM range(3);\n\
             CREATE MATERIALIZED VIEW silver_x AS SELECT event_i FROM x_bronze;",
        );
        let fixed = fix(
            &mut s,
            "- silver_x: [TABLE_OR_VIEW_NOT_FOUND] The table or view `x_bronze` cannot be found.\n",
        );
        assert_eq!(fixed.len(), 1, "{fixed:?}");
        assert!(s["/a.sql"].as_str().unwrap().contains("FROM bronze_x;"));
        let fixed = fix(
            &mut s,
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name \
             `event_i` cannot be resolved. Did you mean one of the following? [`bronze_x`.`event_id`]. SQLSTATE: 42703",
        );
        assert_eq!(fixed, ["the column event_i is event_id"]);
        assert!(
            s["/a.sql"]
                .as_str()
                .unwrap()
                .contains("SELECT event_id FROM")
        );

        let mut s = sources("CREATE STREAMING TABLE bronze_x AS SELECT * FROM range(3);");
        fix(
            &mut s,
            "[INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE] Flow `spark_catalog`.`d`.`bronze_x` returns an invalid relation type.",
        );
        assert_eq!(
            s["/a.sql"],
            "CREATE MATERIALIZED VIEW bronze_x AS SELECT * FROM range(3);"
        );
        let mut s =
            sources("CREATE STREAMING TABLE b AS SELECT * FROM read_files('/Volumes/a/b/c');");
        fix(
            &mut s,
            "[INVALID_FLOW_QUERY_TYPE.BATCH_RELATION_FOR_STREAMING_TABLE] Flow b returns a batch relation",
        );
        assert!(
            s["/a.sql"]
                .as_str()
                .unwrap()
                .contains("FROM STREAM read_files(")
        );
    }
}
