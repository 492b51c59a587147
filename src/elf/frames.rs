//! Backtraces as traceback frames, with the frames of interest marked.
//!
//! A frame is of interest when its source file is the project's own: not
//! the standard library, not a dependency, not mycelium itself. The test is
//! on file paths, not function names, because an optimised build (the
//! release profile's `debug = "line-tables-only"`) names inlined frames
//! without their module path (`invoke`, `{closure#0}`), while their files
//! and lines are the same in every profile.
//!
//! Symbolizing reads the binary's debug information, which takes a few
//! hundred milliseconds the first time (parsing it) and about a millisecond
//! after; [`warm_up`] pays the first time in a background thread when the
//! elf starts, so that no failure waits for it. The parsed information stays
//! in memory (some 60 MB of heap and 35 MB of the mapped binary for the
//! release build of `elf-trials`), as it would after a first failure
//! anyway; `--lazy-symbols` leaves it to the first failure.

use std::ffi::c_void;
use std::path::Path;
use std::sync::Once;

use crate::model::Frame;
use crate::task::{Body, ErrorSite, Task, TaskError, TaskInfo};

/// Function-name prefixes of the standard library, the runtime and
/// mycelium's own machinery: never "of interest", whatever their file says.
const FOREIGN: &[&str] = &[
    "std::",
    "core::",
    "alloc::",
    "tokio::",
    "backtrace::",
    "mycelium::",
    "<core::",
    "<alloc::",
    "<std::",
    "<tokio::",
    "<mycelium::",
    "__rust",
    "rust_",
    "_start",
    "__libc",
    "clone",
    "start_thread",
    "futures_",
];

/// mycelium's own sources, as this build of it sees them.
const OWN_SOURCES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

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

/// Whether a frame of `function` in `file` is the project's own code.
fn is_of_interest(function: &str, file: Option<&str>) -> bool {
    let Some(file) = file else { return false };
    if FOREIGN.iter().any(|p| function.starts_with(p)) {
        return false;
    }
    let foreign_file = file.starts_with("/rustc/")
        || file.contains("/.cargo/registry/")
        || file.contains("/.cargo/git/")
        || file.starts_with(OWN_SOURCES)
        // The C library's own sources (`./nptl/pthread_create.c`).
        || file.starts_with("./");
    !foreign_file
}

/// Adds the frame of `site` (where the task's `Err` arose) to `frames`,
/// innermost among the frames of interest, in the file form the other
/// frames of that file use.
pub(super) fn add_site(frames: &mut Vec<Frame>, site: &ErrorSite) {
    let file = frames
        .iter()
        .filter_map(|f| f.file.as_deref())
        .find(|f| Path::new(f).ends_with(site.file))
        .unwrap_or(site.file)
        .to_owned();
    let at = frames.iter().position(|f| f.of_interest).unwrap_or(frames.len());
    let frame = Frame {
        function: site.function.to_owned(),
        file: Some(file),
        line: Some(site.line),
        column: Some(site.column),
        of_interest: true,
    };
    frames.insert(at, frame);
}

/// Gives the task's own frames their full names in every build profile.
///
/// An optimised build (`debug = "line-tables-only"`) names inlined frames
/// without their module path: `pick` for `mycelium_elves::trials::tasks::pick`,
/// `invoke` for the generated `mycelium_elves::trials::tasks::pick::invoke`. In the
/// task's file, a frame so named at or before the task's last line is the
/// task's own, and gets the name a debug build gives it; an async body's
/// frame (`{async_fn#0}`) in the task's lines is named after the task.
///
/// A frame inside the task's own source is of interest wherever the task
/// lives (a task defined inside mycelium's own sources, as its tests do, too).
pub(crate) fn name_task_frames(frames: &mut [Frame], info: &TaskInfo) {
    let last = info.line.saturating_add(u32::try_from(info.source.lines().count()).unwrap_or(u32::MAX));
    for frame in frames.iter_mut() {
        let (Some(file), Some(line)) = (frame.file.as_deref(), frame.line) else { continue };
        if !Path::new(file).ends_with(info.file) || line > last {
            continue;
        }
        if line >= info.line {
            frame.of_interest = true;
        }
        if !frame.of_interest || frame.function.contains("::") {
            continue;
        }
        if frame.function == info.name && line >= info.line {
            frame.function = info.path.to_owned();
        } else if frame.function.starts_with('{') && line >= info.line {
            // The body of an async task or flow, as line tables alone name
            // it (`{async_fn#0}`): named after the task it is the body of.
            frame.function = format!("{}::{}", info.path, frame.function);
        } else if ["invoke", "run"].contains(&frame.function.as_str()) && line <= info.line {
            frame.function = format!("{}::{}", info.path, frame.function);
        }
    }
}

/// The line an elf prints on stdout once its symbolizer is warm.
pub(crate) const WARMED_UP: &str = "symbolizer warmed up";

/// Guards the warm-up: it happens at most once per process.
static WARM_UP: Once = Once::new();

/// Leaves symbolizing to the first failure (`--lazy-symbols`): later calls
/// of [`warm_up`] do nothing.
pub(crate) fn skip_warm_up() {
    WARM_UP.call_once(|| {});
}

/// Symbolizes once, in a background thread, what a failure of `tasks`
/// will: this binary's debug information, the standard library, the
/// runtime's blocking pool (when called on a runtime), mycelium's failure
/// path and the tasks' own code. Later calls do nothing.
pub(crate) fn warm_up(tasks: &[&'static Task]) {
    let entries: Vec<usize> = tasks
        .iter()
        .map(|t| match t.body {
            Body::Sync(f) => f as usize,
            Body::Async(f) => f as usize,
        })
        .collect();
    WARM_UP.call_once(move || {
        let work = move || {
            let started = std::time::Instant::now();
            // The very path a task's error takes, on a thread like the one
            // a sync task runs on.
            if let TaskError::Failed { mut backtrace, .. } = TaskError::from_error("warm-up".into()) {
                frames_of(&mut backtrace);
            }
            for entry in entries {
                backtrace::resolve(entry as *mut c_void, |_| {});
            }
            let took_ms = started.elapsed().as_millis() as u64;
            tracing::debug!(took_ms, "symbolizer warmed up");
            // On stdout, after the readiness line or before it: what waits
            // for a steady elf (the benchmark) waits for this line too.
            println!("{WARMED_UP} in {took_ms} ms");
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(runtime.spawn_blocking(work));
        } else if let Err(e) = std::thread::Builder::new().name("mycelium-symbols".into()).spawn(work) {
            tracing::warn!("cannot start the symbolizer's warm-up thread: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_std_and_mycelium_frames_are_not_of_interest() {
        assert!(!is_of_interest("std::panicking::begin_panic", Some("/rustc/abc/library/std/src/panicking.rs")));
        assert!(!is_of_interest("tokio::runtime::task::harness", Some("/root/.cargo/registry/src/x/tokio/src/a.rs")));
        assert!(!is_of_interest("animals::draw", None));
        assert!(is_of_interest("animals::draw", Some("/home/me/elves/animals/tasks.rs")));
        assert!(is_of_interest("animals::draw", Some("elves/animals/tasks.rs")));
    }

    #[test]
    fn mycelium_frames_are_not_of_interest_even_with_short_names() {
        // What a release build (`debug = "line-tables-only"`) calls inlined
        // frames: no module path, so only the file tells.
        let runner = format!("{OWN_SOURCES}elf/runner.rs");
        assert!(!is_of_interest("{closure#0}", Some(&runner)));
        assert!(!is_of_interest("from_error", Some(&format!("{OWN_SOURCES}task/error.rs"))));
        assert!(!is_of_interest("mycelium::elf::runner::run", Some(&runner)));
        // The task's own inlined frames stay of interest.
        let tasks = format!("{}/elves/trials/tasks.rs", env!("CARGO_MANIFEST_DIR"));
        assert!(is_of_interest("pick", Some(&tasks)));
        assert!(is_of_interest("invoke", Some(&tasks)));
    }

    #[test]
    fn a_captured_backtrace_is_symbolized_with_files_and_lines() {
        let mut bt = backtrace::Backtrace::new_unresolved();
        let frames = frames_of(&mut bt);
        let me = frames.iter().find(|f| f.function.contains("a_captured_backtrace")).expect("this test's frame");
        assert!(me.file.as_deref().is_some_and(|f| f.ends_with("src/elf/frames.rs")) && me.line.is_some(), "{me:?}");
        // mycelium's own code is never "of interest" to a user.
        assert!(!me.of_interest);
    }

    #[test]
    fn the_task_s_own_short_names_get_their_paths() {
        static INFO: TaskInfo = TaskInfo {
            elf: "trials",
            name: "pick",
            path: "elf_trials::tasks::pick",
            source: "pub fn pick(n: u32) -> String {\n    FRUITS[n as usize].to_owned()\n}",
            file: "elves/trials/tasks.rs",
            line: 13,
            doc: "",
            params: &[],
            output: "String",
            is_async: false,
            fallible: false,
            retry: crate::task::RetryDefaults::NONE,
            timeout_ms: None,
        };
        let frame = |function: &str, file: &str, line| Frame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(line),
            column: Some(5),
            of_interest: true,
        };
        let tasks = "/w/elves/trials/tasks.rs";
        let mut frames = vec![
            frame("pick", tasks, 14),
            frame("invoke", tasks, 12),
            frame("split", "/w/elves/trials/util.rs", 3),
            frame("invoke", tasks, 40),
            frame("elf_trials::tasks::pick", tasks, 14),
            frame("{async_fn#0}", tasks, 15),
            frame("{closure#0}", tasks, 9),
        ];
        name_task_frames(&mut frames, &INFO);
        let names: Vec<&str> = frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "elf_trials::tasks::pick",
                "elf_trials::tasks::pick::invoke",
                "split",
                "invoke",
                "elf_trials::tasks::pick",
                "elf_trials::tasks::pick::{async_fn#0}",
                "{closure#0}"
            ]
        );
    }

    #[test]
    fn the_site_is_the_innermost_frame_of_interest_in_the_file_form_of_its_neighbours() {
        let frame = |function: &str, file: &str, line, of_interest| Frame {
            function: function.into(),
            file: Some(file.into()),
            line: Some(line),
            column: Some(1),
            of_interest,
        };
        let mut frames = vec![
            frame("mycelium::__private::task_failed", &format!("{OWN_SOURCES}private.rs"), 50, false),
            frame("elf_trials::tasks::read_number::invoke", "/w/elves/trials/tasks.rs", 71, true),
            frame("mycelium::elf::runner::run", &format!("{OWN_SOURCES}elf/runner.rs"), 43, false),
        ];
        let site = ErrorSite {
            function: "elf_trials::tasks::read_number",
            file: "elves/trials/tasks.rs",
            line: 73,
            column: 84,
        };
        add_site(&mut frames, &site);
        assert_eq!(frames.len(), 4);
        let mut expected = frame("elf_trials::tasks::read_number", "/w/elves/trials/tasks.rs", 73, true);
        expected.column = Some(84);
        assert_eq!(frames[1], expected);
    }
}
