//! Unified line diffs of task sources (by `similar`), with hunk headers in
//! the files' own line numbers.

use std::io::Write;

use similar::{ChangeTag, TextDiff};

/// Writes the unified diff of `a` and `b` (whose first lines are lines
/// `a_first` and `b_first` of their files) with `context` lines around each
/// change. Writes nothing but the headers when they are equal; returns
/// whether they differ.
pub(crate) fn unified(
    out: &mut dyn Write,
    (a_name, a, a_first): (&str, &str, u32),
    (b_name, b, b_first): (&str, &str, u32),
    context: usize,
) -> std::io::Result<bool> {
    let diff = TextDiff::from_lines(a, b);
    writeln!(out, "--- {a_name}")?;
    writeln!(out, "+++ {b_name}")?;
    let groups = diff.grouped_ops(context);
    for group in &groups {
        let (Some(first), Some(last)) = (group.first(), group.last()) else { continue };
        let (old, new) = (first.old_range().start..last.old_range().end, first.new_range().start..last.new_range().end);
        // An empty side is numbered by the line before it, as diff(1) does.
        let at = |first_line: u32, r: &std::ops::Range<usize>| {
            (first_line as usize + r.start).saturating_sub(usize::from(r.is_empty()))
        };
        writeln!(out, "@@ -{},{} +{},{} @@", at(a_first, &old), old.len(), at(b_first, &new), new.len())?;
        for op in group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                };
                writeln!(out, "{sign}{}", change.value().trim_end_matches(['\n', '\r']))?;
            }
        }
    }
    Ok(!groups.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(a: &str, b: &str) -> String {
        let mut out = Vec::new();
        unified(&mut out, ("a", a, 1), ("b", b, 1), 1).ok();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn a_changed_line_is_removed_and_added_with_context() {
        let d = diff("1\n2\n3\n4\n5\n6\n", "1\n2\nthree\n4\n5\n6\n");
        assert_eq!(d, "--- a\n+++ b\n@@ -2,3 +2,3 @@\n 2\n-3\n+three\n 4\n");
    }

    #[test]
    fn equal_texts_have_no_hunk_and_additions_count_right() {
        assert_eq!(diff("x\n", "x\n"), "--- a\n+++ b\n");
        assert_eq!(diff("x\n", "x\ny\n"), "--- a\n+++ b\n@@ -1,1 +1,2 @@\n x\n+y\n");
    }
}
