//! What is wrong with a manifest: each problem names its line and the fix.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

/// One thing wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Where in the manifest's text (byte offsets), when known.
    pub(crate) span: Option<Range<usize>>,
    /// What is wrong.
    pub(crate) message: String,
    /// How to fix it.
    pub(crate) fix: String,
}

impl Problem {
    /// A problem at `span`.
    pub(crate) fn at(span: Range<usize>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { span: Some(span), message: message.into(), fix: fix.into() }
    }

    /// A problem with no place in the text (the file itself).
    pub(crate) fn whole(message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { span: None, message: message.into(), fix: fix.into() }
    }

    /// The 1-based line and column of the problem in `text`.
    pub(crate) fn line_col(&self, text: &str) -> Option<(usize, usize)> {
        let start = self.span.as_ref()?.start.min(text.len());
        let before = text.get(..start)?;
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
        Some((line, col))
    }

    /// The problem as the user reads it:
    ///
    /// ```text
    /// mycelium.toml:12:1: unknown key `replica` in [elves.animals]
    ///    12 | replica = 2
    ///   fix: did you mean `replicas`? ...
    /// ```
    pub(crate) fn render(&self, path: &Path, text: &str) -> String {
        let mut out = String::new();
        match self.line_col(text) {
            Some((line, col)) => {
                let _ = writeln!(out, "{}:{line}:{col}: {}", path.display(), self.message);
                if let Some(source) = text.lines().nth(line - 1) {
                    let _ = writeln!(out, "  {line:>4} | {}", source.trim_end());
                }
            }
            None => {
                let _ = writeln!(out, "{}: {}", path.display(), self.message);
            }
        }
        let _ = write!(out, "  fix: {}", self.fix);
        out
    }
}

/// The 1-based line of byte offset `at` in `text`.
pub(crate) fn line_of(text: &str, at: usize) -> usize {
    text.get(..at.min(text.len())).map_or(1, |t| t.matches('\n').count() + 1)
}

/// The closest of `candidates` to `word`, if it is close enough to be a
/// likely typo (`replica` for `replicas`, `on_failure` for `on-failure`).
pub(crate) fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_norm = word.to_ascii_lowercase().replace('_', "-");
    candidates
        .into_iter()
        .map(|c| (distance(&word_norm, &c.to_ascii_lowercase().replace('_', "-")), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance between two short strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

/// The names serde lists after "expected one of" (or "expected") in an
/// unknown field or variant message, in order.
pub(crate) fn expected_names(message: &str) -> Vec<&str> {
    let Some(rest) = message.split_once("expected").map(|(_, r)| r) else {
        return Vec::new();
    };
    rest.split('`').skip(1).step_by(2).collect()
}

/// The first backquoted name in a serde message (`unknown field `x``).
pub(crate) fn quoted(message: &str) -> Option<&str> {
    message.split('`').nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based() {
        let text = "a = 1\nbb = 2\n";
        let p = Problem::at(9..10, "m", "f");
        assert_eq!(p.line_col(text), Some((2, 4)));
        assert_eq!(Problem::at(0..1, "m", "f").line_col(text), Some((1, 1)));
        assert_eq!(line_of(text, 6), 2);
        let shown = p.render(Path::new("m.toml"), text);
        assert_eq!(shown, "m.toml:2:4: m\n     2 | bb = 2\n  fix: f");
        assert_eq!(Problem::whole("gone", "make it").render(Path::new("m.toml"), text), "m.toml: gone\n  fix: make it");
    }

    #[test]
    fn typos_find_their_word_and_strangers_find_none() {
        let keys = ["binary", "replicas", "slots", "restart"];
        assert_eq!(closest("replica", keys), Some("replicas"));
        assert_eq!(closest("Slots", keys), Some("slots"));
        assert_eq!(closest("colour", keys), None);
        assert_eq!(closest("on_failure", ["always", "on-failure", "never"]), Some("on-failure"));
    }

    #[test]
    fn serde_messages_yield_their_names() {
        let m = "unknown field `replica`, expected one of `binary`, `replicas`";
        assert_eq!(quoted(m), Some("replica"));
        assert_eq!(expected_names(m), vec!["binary", "replicas"]);
        assert_eq!(expected_names("unknown variant `x`, expected `a` or `b`"), vec!["a", "b"]);
        assert!(expected_names("invalid type").is_empty());
    }
}
