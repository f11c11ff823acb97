//! What a pipeline's source files declare that the data checks count by: each table's key
//! (SQL `PRIMARY KEY (cols)`, else AUTO CDC `KEYS (cols)` / Python `keys=[...]`), the columns
//! its `<col> IS NOT NULL` expectations name, and what each expectation does to a failing row
//! (warn, drop, fail). Read with sqlparser's tokenizer, never by running the code.

mod python;
mod sql;

use sqlparser::dialect::{BigQueryDialect, DatabricksDialect, Dialect};
use sqlparser::tokenizer::{Token, Tokenizer};
use std::collections::BTreeMap;

/// What an expectation does to a row that fails it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Kept and counted (`EXPECT`, `@dp.expect`).
    Warn,
    /// Left out of the table (`ON VIOLATION DROP ROW`, `@dp.expect_or_drop`).
    Drop,
    /// Fails the update (`ON VIOLATION FAIL UPDATE`, `@dp.expect_or_fail`).
    Fail,
}

/// One table's rules, as its sources declare them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    primary_key: Vec<String>,
    cdc_keys: Vec<String>,
    not_null: Vec<String>,
    /// Each expectation's action, by name.
    pub actions: BTreeMap<String, Action>,
}

impl Rules {
    /// The columns the table's rows are unique by: its primary key, else its AUTO CDC keys.
    pub fn key(&self) -> &[String] {
        if self.primary_key.is_empty() {
            &self.cdc_keys
        } else {
            &self.primary_key
        }
    }

    /// Every column named as a key (the key's, then the `IS NOT NULL` expectations'), once.
    pub fn key_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let named = self.primary_key.iter().chain(&self.cdc_keys);
        for column in named.chain(&self.not_null) {
            if !out.iter().any(|c| c.eq_ignore_ascii_case(column)) {
                out.push(column.clone());
            }
        }
        out
    }

    fn merge(&mut self, other: &Rules) {
        for (mine, theirs) in [
            (&mut self.primary_key, &other.primary_key),
            (&mut self.cdc_keys, &other.cdc_keys),
        ] {
            if mine.is_empty() {
                mine.clone_from(theirs);
            }
        }
        self.not_null.extend(other.not_null.iter().cloned());
        for (name, action) in &other.actions {
            self.actions.entry(name.clone()).or_insert(*action);
        }
    }

    fn expect(&mut self, name: &str, action: Action, constraint: &[Token]) {
        self.actions.insert(name.to_string(), action);
        self.not_null.extend(not_null_columns(constraint));
    }
}

/// The rules of every table the sources name, by the name as written (dotted parts).
#[derive(Debug, Default)]
pub struct Declared {
    tables: Vec<(Vec<String>, Rules)>,
}

impl Declared {
    /// Reads every `.sql` and `.py` file of `files` (path → text); a file that cannot be read
    /// is a note (its tables are counted without its rules), never a failure.
    pub fn read<'a>(
        files: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> (Self, Vec<String>) {
        let mut declared = Declared::default();
        let mut notes = Vec::new();
        for (path, text) in files {
            let read = if path.ends_with(".py") {
                python::read(text, &mut declared)
            } else if path.ends_with(".sql") {
                sql::read(text, &mut declared)
            } else {
                Ok(())
            };
            if let Err(e) = read {
                notes.push(format!("keys and expectations of {path} not read: {e}"));
            }
        }
        (declared, notes)
    }

    /// The rules for `dataset` (as the workspace names it, e.g. `main.sales.orders`): those of
    /// every table of the sources whose name is it or its last parts, ignoring case.
    pub fn of(&self, dataset: &str) -> Rules {
        let mut rules = Rules::default();
        for r in self.matching(dataset) {
            rules.merge(r);
        }
        rules
    }

    /// Whether the sources define `dataset` (as the workspace names it, or its last parts).
    pub fn declares(&self, dataset: &str) -> bool {
        self.matching(dataset).next().is_some()
    }

    /// The rules of each table whose name is `dataset` or its last parts, ignoring case.
    fn matching(&self, dataset: &str) -> impl Iterator<Item = &Rules> {
        let parts: Vec<String> = dataset
            .split('.')
            .map(|p| p.trim_matches('`').to_ascii_lowercase())
            .collect();
        self.tables.iter().filter_map(move |(name, rules)| {
            let name: Vec<String> = name.iter().map(|p| p.to_ascii_lowercase()).collect();
            parts.ends_with(&name).then_some(rules)
        })
    }

    fn table(&mut self, mut name: Vec<String>) -> &mut Rules {
        // The older `LIVE.t` names the pipeline's own `t`.
        if name.len() > 1 && name[0].eq_ignore_ascii_case("LIVE") {
            name.remove(0);
        }
        let index = match self.tables.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.tables.push((name, Rules::default()));
                self.tables.len() - 1
            }
        };
        &mut self.tables[index].1
    }
}

/// The significant tokens of `text` (no whitespace or comments) under `dialect`'s rules.
fn tokens(dialect: &dyn Dialect, text: &str) -> Result<Vec<Token>, String> {
    let all = Tokenizer::new(dialect, text)
        .with_unescape(false)
        .tokenize()
        .map_err(|e| e.to_string())?;
    Ok(all
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect())
}

fn sql_tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = tokens(&DatabricksDialect {}, text)?;
    // The tokenizer keeps escapes: a backtick inside a quoted identifier is written doubled.
    for t in &mut tokens {
        if let Token::Word(w) = t
            && w.quote_style == Some('`')
        {
            w.value = w.value.replace("``", "`");
        }
    }
    Ok(tokens)
}

/// Python's strings and `#` comments are BigQuery's lexical rules too.
fn python_tokens(text: &str) -> Result<Vec<Token>, String> {
    tokens(&BigQueryDialect {}, text)
}

/// A word's text (quoted identifiers unquoted).
fn word(t: &Token) -> Option<&str> {
    match t {
        Token::Word(w) => Some(&w.value),
        _ => None,
    }
}

/// Whether `t` is the unquoted word `keyword`, in any case.
fn is(t: Option<&Token>, keyword: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
}

/// The index of the bracket closing the one at `open`.
fn closing(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The tokens inside the brackets opening at `open`, and the index after the closing one.
fn inside(tokens: &[Token], open: usize) -> Option<(&[Token], usize)> {
    let close = closing(tokens, open)?;
    Some((&tokens[open + 1..close], close + 1))
}

/// `tokens` split where `at` holds outside any brackets.
fn split_top(tokens: &[Token], at: impl Fn(&Token) -> bool) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            t if depth == 0 && at(t) => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts.retain(|p| !p.is_empty());
    parts
}

/// A dotted name starting at `at` (`a`, `` `c`.s.t ``), and the index after it.
fn dotted(tokens: &[Token], mut at: usize) -> Option<(Vec<String>, usize)> {
    let mut parts = vec![word(tokens.get(at)?)?.to_string()];
    while tokens.get(at + 1) == Some(&Token::Period) {
        parts.push(word(tokens.get(at + 2)?)?.to_string());
        at += 2;
    }
    Some((parts, at + 1))
}

/// The columns of a parenthesised list `(a, t.b)` (each by its last part).
fn column_list(tokens: &[Token]) -> Vec<String> {
    split_top(tokens, |t| *t == Token::Comma)
        .into_iter()
        .filter_map(|c| dotted(c, 0).and_then(|(mut parts, _)| parts.pop()))
        .collect()
}

/// The columns a constraint requires to be non-null: each conjunct (of top-level `AND`s) that
/// is `<col> IS NOT NULL`, brackets around it allowed.
fn not_null_columns(constraint: &[Token]) -> Vec<String> {
    let mut columns = Vec::new();
    for mut part in split_top(constraint, |t| is(Some(t), "AND")) {
        while part.first() == Some(&Token::LParen) && closing(part, 0) == Some(part.len() - 1) {
            part = &part[1..part.len() - 1];
        }
        if let Some((mut name, next)) = dotted(part, 0)
            && next + 3 == part.len()
            && is(part.get(next), "IS")
            && is(part.get(next + 1), "NOT")
            && is(part.get(next + 2), "NULL")
            && let Some(column) = name.pop()
        {
            columns.push(column);
        }
    }
    columns
}

#[cfg(test)]
mod tests;
