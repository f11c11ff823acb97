//! sqlparser's tokens with their place in the file, and the small readers every statement
//! form uses (dotted names, matching parentheses).

use std::ops::Range;

use sqlparser::dialect::DatabricksDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

use crate::engine::{PARSE_EXCEPTION, Problem};

/// A significant token (no whitespace or comment) and where it is in the file.
#[derive(Clone, Debug)]
pub struct Tok {
    pub token: Token,
    /// Byte range in the file text.
    pub bytes: Range<usize>,
    pub line: u64,
}

impl Tok {
    /// The unquoted word in upper case, or "" for anything else (quoted identifiers included).
    pub fn keyword(&self) -> String {
        match &self.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
            _ => String::new(),
        }
    }

    pub fn is(&self, keyword: &str) -> bool {
        self.keyword() == keyword
    }

    /// An identifier (quoted or not).
    pub fn ident(&self) -> Option<&str> {
        match &self.token {
            Token::Word(w) => Some(&w.value),
            _ => None,
        }
    }
}

/// The significant tokens of `text`, or the syntax error that stops tokenizing.
pub fn lex(text: &str) -> Result<Vec<Tok>, Problem> {
    let dialect = DatabricksDialect {};
    let tokens = Tokenizer::new(&dialect, text)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| {
            Problem::new(
                "PARSE_SYNTAX_ERROR",
                format!(
                    "Syntax error: {}. SQLSTATE: 42601 (line {}, pos {})",
                    e.message,
                    e.location.line,
                    e.location.column.saturating_sub(1)
                ),
                PARSE_EXCEPTION,
            )
        })?;
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |line: u64, column: u64| -> usize {
        let Some(&start) = line_starts.get((line as usize).saturating_sub(1)) else {
            return text.len();
        };
        text[start..]
            .char_indices()
            .nth((column as usize).saturating_sub(1))
            .map_or(text.len(), |(i, _)| start + i)
    };
    let starts: Vec<usize> = tokens
        .iter()
        .map(|t| offset(t.span.start.line, t.span.start.column))
        .collect();
    Ok(tokens
        .into_iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
        .map(|(i, t)| Tok {
            bytes: starts[i]..starts.get(i + 1).copied().unwrap_or(text.len()),
            line: t.span.start.line,
            token: t.token,
        })
        .collect())
}

/// A dotted name starting at `i`: the name (without `LIVE.`) and the index after it.
pub fn dotted_name(tokens: &[Tok], mut i: usize) -> Option<(String, usize)> {
    let mut parts = vec![tokens.get(i)?.ident()?.to_string()];
    i += 1;
    while tokens.get(i).is_some_and(|t| t.token == Token::Period) {
        parts.push(tokens.get(i + 1)?.ident()?.to_string());
        i += 2;
    }
    if parts.len() > 1 && parts[0].eq_ignore_ascii_case("live") {
        parts.remove(0);
    }
    Some((parts.join("."), i))
}

/// Index of the `)` matching the `(` at `open`.
pub fn matching_paren(tokens: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
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
