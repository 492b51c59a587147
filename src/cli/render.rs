//! Shared formatting of the inspection commands: aligned tables, ages,
//! durations and JSON output.

use std::io::Write;

use serde::Serialize;

use crate::model::{Millis, TaskSha};

/// A table of text cells printed with aligned columns.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub(crate) fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|h| (*h).to_uppercase()).collect(), rows: Vec::new() }
    }

    /// Adds a row (cells beyond the header's width are kept, missing ones are blank).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the header and rows, columns padded to their widest cell, two
    /// spaces apart; the last column is not padded.
    pub(crate) fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let columns = self.rows.iter().map(Vec::len).chain([self.header.len()]).max().unwrap_or(0);
        let mut widths = vec![0usize; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', widths[i].saturating_sub(cell.chars().count())));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// How long ago `at` was, seen at `now`: "3s ago", "5m ago", "2h ago", "4d ago".
pub(crate) fn age(now: Millis, at: Millis) -> String {
    let secs = (now - at) / 1000;
    if secs < 0 {
        return "just now".to_owned();
    }
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..172_800 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// An age, or `-` when there is no time.
pub(crate) fn age_opt(now: Millis, at: Option<Millis>) -> String {
    at.map_or_else(|| "-".to_owned(), |t| age(now, t))
}

/// A duration in milliseconds: "350ms", "1.2s", "3m05s", "2h10m".
pub(crate) fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// The duration from `start` to `end` (or to `now` while not ended), or `-`.
pub(crate) fn span(now: Millis, start: Option<Millis>, end: Option<Millis>) -> String {
    start.map_or_else(|| "-".to_owned(), |s| duration(end.unwrap_or(now) - s))
}

/// The first line of `text`, cut to `max` characters with an ellipsis.
pub(crate) fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > max {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// A task version's short form, or `-`.
pub(crate) fn short_sha(sha: Option<&TaskSha>) -> String {
    sha.map_or_else(|| "-".to_owned(), |s| s.short().to_owned())
}

/// Parses an age such as `30s`, `15m`, `1h`, `2d` or `1w` into milliseconds.
pub(crate) fn parse_duration(text: &str) -> super::Result<i64> {
    let bad = || {
        super::Error::msg(format!(
            "`{text}` is not a duration: expected a number followed by s, m, h, d or w, such as 30m, 1h or 2d"
        ))
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let unit_ms = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_ms).ok_or_else(bad)
}

/// Writes `value` as pretty JSON and a newline.
pub(crate) fn write_json<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> super::Result<()> {
    // serde_json meets a closed pipe as its own error: give it back as the
    // output's I/O error, so that `| head` ends the command cleanly.
    serde_json::to_writer_pretty(&mut *out, value).map_err(|e| {
        if e.is_io() {
            super::Error::Output(e.into())
        } else {
            super::Error::Other { context: Some("write JSON".into()), source: Box::new(e) }
        }
    })?;
    writeln!(out)?;
    Ok(())
}

/// Writes `source` with its file's line numbers starting at `first_line`,
/// prefixing the line `marked` (a file line) with `>>`.
pub(crate) fn write_source(
    out: &mut dyn Write,
    source: &str,
    first_line: u32,
    marked: Option<u32>,
) -> std::io::Result<()> {
    let last = first_line as usize + source.lines().count().saturating_sub(1);
    let width = last.to_string().len();
    for (i, text) in source.lines().enumerate() {
        let n = first_line as usize + i;
        let mark = if marked.is_some_and(|m| m as usize == n) { ">>" } else { "  " };
        writeln!(out, "{mark} {n:>width$} | {text}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_durations_read_like_a_person_would_say_them() {
        assert_eq!(age(10_000, 7_000), "3s ago");
        assert_eq!(age(2 * 3_600_000 + 5, 0), "2h ago");
        assert_eq!(age(3 * 86_400_000, 0), "3d ago");
        assert_eq!(duration(1_234), "1.2s");
        assert_eq!(duration(350), "350ms");
        assert_eq!(duration(185_000), "3m05s");
    }

    #[test]
    fn durations_parse_with_their_unit() {
        assert_eq!(parse_duration("30m").ok(), Some(1_800_000));
        assert_eq!(parse_duration("2d").ok(), Some(172_800_000));
        for bad in ["", "h", "10", "3y", "-1h"] {
            let err = parse_duration(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(&format!("`{bad}`")), "{bad}: {err}");
        }
    }

    #[test]
    fn tables_align_their_columns() {
        let mut t = Table::new(&["id", "name"]);
        t.row(vec!["1".into(), "a".into()]);
        t.row(vec!["100".into(), "b".into()]);
        let mut out = Vec::new();
        t.write(&mut out).ok();
        assert_eq!(String::from_utf8_lossy(&out), "ID   NAME\n1    a\n100  b\n");
    }
}
