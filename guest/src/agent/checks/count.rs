//! The one SQL statement per table that counts what events cannot: its rows, the NULLs in each
//! key column and the duplicate keys. Rows are grouped by the key (when the table has one), so
//! a single scan gives all three:
//!
//! ```sql
//! SELECT COALESCE(SUM(n), 0) AS row_count,
//!        COALESCE(SUM(CASE WHEN n > 1 THEN 1 ELSE 0 END), 0) AS duplicate_keys,
//!        COALESCE(SUM(null_0), 0) AS null_0, …
//! FROM (SELECT COUNT(*) AS n, SUM(CASE WHEN `k` IS NULL THEN 1 ELSE 0 END) AS null_0, …
//!       FROM `c`.`s`.`t` GROUP BY `k`) AS g
//! ```
//!
//! `duplicate_keys` is the number of key values held by more than one row (a NULL key is a
//! value too, as GROUP BY groups NULLs).

use super::declared::Rules;
use crate::databricks::statements::Table;
use std::collections::BTreeMap;

/// What the statement counts, and how its answer is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub statement: String,
    /// The key columns whose NULLs are counted, in the order of their `null_<i>` columns.
    pub columns: Vec<String>,
    /// Whether the table has a key, so duplicates are counted.
    pub keyed: bool,
}

/// What the statement found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub rows: u64,
    pub null_keys: BTreeMap<String, u64>,
    pub duplicate_keys: Option<u64>,
}

/// A `` `quoted` `` identifier (backticks doubled inside).
fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The statement for `table` (as `datasets` names it, dotted) under `rules`.
pub fn statement(table: &str, rules: &Rules) -> Count {
    let from = table
        .split('.')
        .map(|p| quoted(p.trim_matches('`')))
        .collect::<Vec<_>>()
        .join(".");
    let columns = rules.key_columns();
    let nulls = |sum: &dyn Fn(usize, &str) -> String| {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!(", {} AS null_{i}", sum(i, c)))
            .collect::<String>()
    };
    let key = rules.key();
    let statement = if key.is_empty() {
        format!(
            "SELECT COUNT(*) AS row_count{} FROM {from}",
            nulls(&|_, c| format!(
                "COALESCE(SUM(CASE WHEN {} IS NULL THEN 1 ELSE 0 END), 0)",
                quoted(c)
            ))
        )
    } else {
        let group: Vec<String> = key.iter().map(|k| quoted(k)).collect();
        format!(
            "SELECT COALESCE(SUM(n), 0) AS row_count, \
             COALESCE(SUM(CASE WHEN n > 1 THEN 1 ELSE 0 END), 0) AS duplicate_keys{} \
             FROM (SELECT COUNT(*) AS n{} FROM {from} GROUP BY {}) AS g",
            nulls(&|i, _| format!("COALESCE(SUM(null_{i}), 0)")),
            nulls(&|_, c| format!("SUM(CASE WHEN {} IS NULL THEN 1 ELSE 0 END)", quoted(c))),
            group.join(", ")
        )
    };
    Count {
        statement,
        keyed: !key.is_empty(),
        columns,
    }
}

impl Count {
    /// The counts in the statement's answer; what is missing or not a count, in words.
    pub fn read(&self, table: &Table) -> Result<Counted, String> {
        let number = |column: &str| -> Result<u64, String> {
            let value = table.first(column);
            value
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| format!("the answer's {column} is {value:?}, not a count"))
        };
        let rows = number("row_count")?;
        let duplicate_keys = self.keyed.then(|| number("duplicate_keys")).transpose()?;
        let mut null_keys = BTreeMap::new();
        for (i, column) in self.columns.iter().enumerate() {
            null_keys.insert(column.clone(), number(&format!("null_{i}"))?);
        }
        Ok(Counted {
            rows,
            null_keys,
            duplicate_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::declared::Declared;
    use super::*;

    fn rules(sql: &str) -> Rules {
        let files = BTreeMap::from([("/p/t.sql".to_string(), sql.to_string())]);
        Declared::read(&files).0.of("main.s.t")
    }

    #[test]
    fn one_scan_counts_rows_null_keys_and_duplicates() {
        let keyed = rules(
            "CREATE TABLE t (CONSTRAINT pk PRIMARY KEY (id), \
             CONSTRAINT c EXPECT (email IS NOT NULL)) AS SELECT 1",
        );
        let count = statement("main.s.t", &keyed);
        assert_eq!(
            count.statement,
            "SELECT COALESCE(SUM(n), 0) AS row_count, COALESCE(SUM(CASE WHEN n > 1 THEN 1 ELSE 0 \
             END), 0) AS duplicate_keys, COALESCE(SUM(null_0), 0) AS null_0, COALESCE(SUM(null_1), \
             0) AS null_1 FROM (SELECT COUNT(*) AS n, SUM(CASE WHEN `id` IS NULL THEN 1 ELSE 0 \
             END) AS null_0, SUM(CASE WHEN `email` IS NULL THEN 1 ELSE 0 END) AS null_1 FROM \
             `main`.`s`.`t` GROUP BY `id`) AS g"
        );
        let answer = Table {
            columns: ["row_count", "duplicate_keys", "null_0", "null_1"]
                .map(String::from)
                .to_vec(),
            rows: vec![["10", "1", "0", "3"].map(|v| Some(v.to_string())).to_vec()],
        };
        assert_eq!(
            count.read(&answer).unwrap(),
            Counted {
                rows: 10,
                null_keys: BTreeMap::from([("id".into(), 0), ("email".into(), 3)]),
                duplicate_keys: Some(1),
            }
        );
        let missing = Table {
            columns: vec!["row_count".into()],
            rows: vec![vec![Some("10".into())]],
        };
        assert!(count.read(&missing).unwrap_err().contains("duplicate_keys"));
    }

    /// Names come from the caller's sources: whatever they hold stays one quoted identifier.
    #[test]
    fn hostile_names_stay_identifiers() {
        let count = statement("main.s.t`; DROP TABLE x; --", &rules("SELECT 1"));
        assert_eq!(
            count.statement,
            "SELECT COUNT(*) AS row_count FROM `main`.`s`.`t``; DROP TABLE x; --`"
        );
        let keyed = rules(
            "CREATE TABLE t (CONSTRAINT pk PRIMARY KEY (`id`` FROM y; DROP TABLE x; --`)) AS SELECT 1",
        );
        let count = statement("main.s.t", &keyed);
        assert!(
            count
                .statement
                .contains("GROUP BY `id`` FROM y; DROP TABLE x; --`)"),
            "{}",
            count.statement
        );
    }

    #[test]
    fn without_a_key_rows_and_nulls_only() {
        let count = statement("m.s.t", &rules("SELECT 1"));
        assert_eq!(
            count.statement,
            "SELECT COUNT(*) AS row_count FROM `m`.`s`.`t`"
        );
        let answer = Table {
            columns: vec!["row_count".into()],
            rows: vec![vec![Some("0".into())]],
        };
        let counted = count.read(&answer).unwrap();
        assert_eq!((counted.rows, counted.duplicate_keys), (0, None));
        assert!(counted.null_keys.is_empty());
    }
}
