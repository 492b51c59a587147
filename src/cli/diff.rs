//! A small unified line diff (longest common subsequence), enough for task
//! sources, which are a function each.

use std::io::Write;

/// One step of an edit script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// The line is in both (index in a, index in b).
    Same(usize, usize),
    /// Only in a.
    Removed(usize),
    /// Only in b.
    Added(usize),
}

/// The edit script turning `a` into `b`.
fn script(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Same(i, j));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(Op::Removed(i));
            i += 1;
        } else {
            ops.push(Op::Added(j));
            j += 1;
        }
    }
    ops
}

/// Writes the unified diff of `a` and `b` (whose first lines are lines
/// `a_first` and `b_first` of their files) with `context` lines around each
/// change. Writes nothing but the headers when they are equal.
pub fn unified(
    out: &mut dyn Write,
    (a_name, a, a_first): (&str, &str, u32),
    (b_name, b, b_first): (&str, &str, u32),
    context: usize,
) -> std::io::Result<bool> {
    let a: Vec<_> = a.lines().collect();
    let b: Vec<_> = b.lines().collect();
    let ops = script(&a, &b);
    writeln!(out, "--- {a_name}")?;
    writeln!(out, "+++ {b_name}")?;
    let changed: Vec<usize> =
        ops.iter().enumerate().filter(|(_, op)| !matches!(op, Op::Same(..))).map(|(k, _)| k).collect();
    if changed.is_empty() {
        return Ok(false);
    }
    // Group changes whose contexts touch into hunks of op indices.
    let mut hunks: Vec<(usize, usize)> = Vec::new();
    for &k in &changed {
        let start = k.saturating_sub(context);
        let end = (k + context + 1).min(ops.len());
        match hunks.last_mut() {
            Some(h) if start <= h.1 => h.1 = end,
            _ => hunks.push((start, end)),
        }
    }
    for (start, end) in hunks {
        let slice = &ops[start..end];
        // Where the hunk starts in a and in b: the first index either side has
        // at or after `start`.
        let (mut ai, mut bi) = (0usize, 0usize);
        for op in &ops[..start] {
            match op {
                Op::Same(..) => {
                    ai += 1;
                    bi += 1;
                }
                Op::Removed(_) => ai += 1,
                Op::Added(_) => bi += 1,
            }
        }
        let a_len = slice.iter().filter(|op| !matches!(op, Op::Added(_))).count();
        let b_len = slice.iter().filter(|op| !matches!(op, Op::Removed(_))).count();
        let a_at = (a_first as usize + ai).saturating_sub(usize::from(a_len == 0));
        let b_at = (b_first as usize + bi).saturating_sub(usize::from(b_len == 0));
        writeln!(out, "@@ -{a_at},{a_len} +{b_at},{b_len} @@")?;
        for op in slice {
            match *op {
                Op::Same(i, _) => writeln!(out, " {}", a[i])?,
                Op::Removed(i) => writeln!(out, "-{}", a[i])?,
                Op::Added(j) => writeln!(out, "+{}", b[j])?,
            }
        }
    }
    Ok(true)
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
