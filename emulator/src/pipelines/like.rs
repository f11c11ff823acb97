//! SQL LIKE as the pipelines list filter applies it: `%` any run, `_` one character; `\`
//! makes the next character literal, or (the docs name no escape character) is an ordinary
//! character in the mode that says so. Case-sensitive.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    Literal(char),
    One,
    Run,
}

/// A compiled LIKE pattern.
#[derive(Clone, Debug)]
pub struct LikePattern {
    tokens: Vec<Token>,
}

impl LikePattern {
    /// `backslash_escapes`: whether `\` makes the next character literal.
    pub fn new(pattern: &str, backslash_escapes: bool) -> Self {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '%' => Token::Run,
                '_' => Token::One,
                // A trailing lone backslash has nothing to escape: it stands for itself.
                '\\' if backslash_escapes => Token::Literal(chars.next().unwrap_or('\\')),
                c => Token::Literal(c),
            });
        }
        Self { tokens }
    }

    /// Wildcard matching with a single backtrack point (the last `%` seen): linear in practice
    /// and never exponential.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Run) => {
                    backtrack = Some((p, t));
                    p += 1;
                }
                Some(Token::One) => {
                    p += 1;
                    t += 1;
                }
                Some(Token::Literal(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match backtrack {
                    Some((run_p, run_t)) => {
                        backtrack = Some((run_p, run_t + 1));
                        p = run_p + 1;
                        t = run_t + 1;
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|tok| *tok == Token::Run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(text: &str, pattern: &str) -> bool {
        LikePattern::new(pattern, true).matches(text)
    }

    #[test]
    fn backslash_is_ordinary_without_escapes() {
        let plain = |text: &str, pattern: &str| LikePattern::new(pattern, false).matches(text);
        assert!(plain(r"sdp\_demo", r"sdp\_demo"));
        assert!(plain(r"sdp\Xdemo", r"sdp\_demo"));
        assert!(!plain("sdp_demo", r"sdp\_demo"));
        assert!(plain(r"a\b", r"a_b"));
    }

    #[test]
    fn wildcards() {
        assert!(like("sdp_clickstream", "sdp%"));
        assert!(like("sdp_clickstream", "%stream"));
        assert!(like("sdp_clickstream", "%click%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abbc", "a_c"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("a%b", "a%b"));
        assert!(like("aXXbYYb", "a%b"));
        assert!(like("mississippi", "%iss%ip%"));
        assert!(!like("mississippi", "%iss%x%"));
    }

    #[test]
    fn case_sensitive_and_exact() {
        assert!(like("demo", "demo"));
        assert!(!like("Demo", "demo"));
        assert!(!like("demo2", "demo"));
        assert!(!like("demo", "demo2"));
    }

    #[test]
    fn underscore_is_a_wildcard_unless_escaped() {
        // The classic trap: `sdp_demo` as a LIKE pattern also matches `sdpXdemo`.
        assert!(like("sdpXdemo", "sdp_demo"));
        assert!(!like("sdpXdemo", r"sdp\_demo"));
        assert!(like("sdp_demo", r"sdp\_demo"));
    }

    #[test]
    fn escapes() {
        assert!(like("100%", r"100\%"));
        assert!(!like("1000", r"100\%"));
        assert!(like(r"a\b", r"a\\b"));
        assert!(!like("ab", r"a\\b"));
        assert!(like(r"ends\", r"ends\"));
    }
}
