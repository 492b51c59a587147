//! Backtraces as traceback frames, with the frames of interest marked.

use crate::model::Frame;

/// Function-name prefixes of the standard library, the runtime and
/// mycelium's own machinery: never "of interest".
const FOREIGN: &[&str] = &[
    "std::",
    "core::",
    "alloc::",
    "tokio::",
    "backtrace::",
    "mycelium::elf::",
    "mycelium::__private::",
    "mycelium::task::",
    "<core::",
    "<alloc::",
    "<std::",
    "<tokio::",
    "__rust",
    "rust_",
    "_start",
    "__libc",
    "clone",
    "start_thread",
    "futures_",
];

/// Symbolizes `bt` into frames, innermost first.
pub fn frames_of(bt: &mut backtrace::Backtrace) -> Vec<Frame> {
    bt.resolve();
    let mut out = Vec::new();
    for frame in bt.frames() {
        for sym in frame.symbols() {
            let function = sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| "<unknown>".to_owned());
            let file = sym.filename().map(|f| f.display().to_string());
            let of_interest = is_of_interest(&function, file.as_deref());
            out.push(Frame { function, file, line: sym.lineno(), column: sym.colno(), of_interest });
        }
    }
    out
}

fn is_of_interest(function: &str, file: Option<&str>) -> bool {
    let Some(file) = file else { return false };
    if FOREIGN.iter().any(|p| function.starts_with(p)) {
        return false;
    }
    !(file.starts_with("/rustc/") || file.contains("/.cargo/registry/") || file.contains("/.cargo/git/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_and_std_frames_are_not_of_interest() {
        assert!(!is_of_interest("std::panicking::begin_panic", Some("/rustc/abc/library/std/src/panicking.rs")));
        assert!(!is_of_interest("tokio::runtime::task::harness", Some("/root/.cargo/registry/src/x/tokio/src/a.rs")));
        assert!(!is_of_interest("animals::draw", None));
        assert!(is_of_interest("animals::draw", Some("elves/animals/tasks.rs")));
    }

    #[test]
    fn a_captured_backtrace_is_symbolized_with_files_and_lines() {
        let mut bt = backtrace::Backtrace::new_unresolved();
        let frames = frames_of(&mut bt);
        let me = frames.iter().find(|f| f.function.contains("a_captured_backtrace")).expect("this test's frame");
        assert!(me.file.as_deref().is_some_and(|f| f.ends_with("src/elf/frames.rs")) && me.line.is_some(), "{me:?}");
        // mycelium's own runtime is never "of interest" to a user.
        assert!(!me.of_interest);
    }
}
