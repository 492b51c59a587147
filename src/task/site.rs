//! Error sites: where in a task's own code an `Err` arose.
//!
//! The `#[task]` expansion rewrites a fallible task's body so that each `?`,
//! `return`, tail expression and `bail!` that gives up an `Err` records its
//! location here, on the current thread, before the function returns; the
//! generated `invoke` takes it in the same call (or, for an async task, the
//! same poll) and the elf shows it as the innermost frame of the task. A
//! backtrace taken after the function returned cannot: the function's frame
//! is gone by then.

use std::cell::Cell;
use std::task::Poll;

use super::TaskInfo;

/// A location inside a task's body, as `file!()`, `line!()` and `column!()`
/// give it at the token that let an `Err` out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorSite {
    /// The task's path (`crate::module::task`).
    pub function: &'static str,
    /// The source file, as `file!()` gives it.
    pub file: &'static str,
    /// The line (1-based).
    pub line: u32,
    /// The column (1-based).
    pub column: u32,
}

impl ErrorSite {
    /// Whether the site lies within `info`'s recorded source.
    pub fn within(&self, info: &TaskInfo) -> bool {
        let lines = u32::try_from(info.source.lines().count()).unwrap_or(u32::MAX);
        self.file == info.file && (info.line..info.line.saturating_add(lines.max(1))).contains(&self.line)
    }
}

thread_local! {
    static LAST: Cell<Option<ErrorSite>> = const { Cell::new(None) };
}

/// Records `site` as where the current task's `Err` arose.
pub fn record(site: ErrorSite) {
    LAST.with(|last| last.set(Some(site)));
}

/// Forgets any recorded site (before a task runs).
pub(crate) fn clear() {
    LAST.with(|last| last.set(None));
}

/// Takes the recorded site if it lies within `info`'s source (a site left
/// by another task's function, called directly, is not this task's).
pub(crate) fn take(info: &TaskInfo) -> Option<ErrorSite> {
    LAST.with(Cell::take).filter(|site| site.within(info))
}

/// `value`, with `site` recorded when it is a failure: what the expansion
/// wraps around each `?` operand, returned value and tail expression.
pub fn traced<R: Traced>(value: R, site: ErrorSite) -> R {
    if value.is_failure() {
        record(site);
    }
    value
}

/// Values a task's `?`, `return` or tail can give up as a failure.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot leave a `#[task]` function through `?` or as its value",
    label = "a fallible task's `?` takes a `Result`",
    note = "a task that returns `Result<T, E>` can apply `?` to a `Result` whose error converts into `E`"
)]
pub trait Traced {
    /// Whether it is the failing variant.
    fn is_failure(&self) -> bool;
}

impl<T, E> Traced for Result<T, E> {
    fn is_failure(&self) -> bool {
        self.is_err()
    }
}

/// Never a task's failure (a fallible task cannot apply `?` to an `Option`;
/// with this impl the compiler says so in its own words).
impl<T> Traced for Option<T> {
    fn is_failure(&self) -> bool {
        false
    }
}

impl<T, E> Traced for Poll<Result<T, E>> {
    fn is_failure(&self) -> bool {
        matches!(self, Poll::Ready(Err(_)))
    }
}

impl<T, E> Traced for Poll<Option<Result<T, E>>> {
    fn is_failure(&self) -> bool {
        matches!(self, Poll::Ready(Some(Err(_))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::RetryDefaults;

    static INFO: TaskInfo = TaskInfo {
        elf: "e",
        name: "t",
        path: "c::t",
        source: "fn t() -> Result<(), E> {\n    f()?;\n    Ok(())\n}",
        file: "src/t.rs",
        line: 10,
        doc: "",
        params: &[],
        output: "()",
        is_async: false,
        fallible: true,
        retry: RetryDefaults::NONE,
        timeout_ms: None,
    };

    fn at(file: &'static str, line: u32) -> ErrorSite {
        ErrorSite { function: "c::t", file, line, column: 5 }
    }

    #[test]
    fn only_failures_are_recorded_and_taken_once() {
        clear();
        let ok: Result<u32, ()> = traced(Ok(1), at("src/t.rs", 11));
        assert_eq!(ok, Ok(1));
        assert_eq!(take(&INFO), None);
        let err: Result<u32, ()> = traced(Err(()), at("src/t.rs", 11));
        assert_eq!(err, Err(()));
        assert_eq!(take(&INFO), Some(at("src/t.rs", 11)));
        assert_eq!(take(&INFO), None, "taken once");
        let _ = traced(Poll::<Result<(), ()>>::Ready(Err(())), at("src/t.rs", 12));
        assert_eq!(take(&INFO).map(|s| s.line), Some(12));
    }

    #[test]
    fn a_site_outside_the_task_is_not_its_own() {
        for site in [at("src/t.rs", 9), at("src/t.rs", 14), at("src/other.rs", 11)] {
            record(site);
            assert_eq!(take(&INFO), None, "{site:?}");
        }
        record(at("src/t.rs", 13));
        assert!(take(&INFO).is_some(), "the closing brace is within");
    }
}
