//! Panics inside tasks: the elf catches them per job and keeps serving; a
//! panic hook keeps the backtrace of the last panic on each thread.

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether caught panics are printed to stderr too (`--panic-stderr`).
static ECHO: AtomicBool = AtomicBool::new(false);

/// Prints caught panics to stderr too (as the default hook does), or not.
pub(super) fn echo_to_stderr(on: bool) {
    ECHO.store(on, Ordering::Relaxed);
}

thread_local! {
    static LAST: RefCell<Option<(String, backtrace::Backtrace)>> = const { RefCell::new(None) };
    /// How many [`catch`]es this thread is inside: a panic outside any is
    /// not a task's, and goes to the previous hook as if none were here.
    static CATCHING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, catching a panic as a task's (recorded, not printed unless
/// asked).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    struct Inside;
    impl Drop for Inside {
        fn drop(&mut self) {
            CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
    CATCHING.with(|c| c.set(c.get() + 1));
    let _inside = Inside;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}

/// Installs the hook once per process; it chains to the previous hook. The
/// symbolizer is warmed up too (see `frames::warm_up`), if it was not yet.
pub(super) fn install_hook() {
    super::frames::warm_up(&[]);
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let bt = backtrace::Backtrace::new_unresolved();
            let message = message_of(info.payload());
            let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            LAST.with(|last| *last.borrow_mut() = Some((format!("{message}{location}"), bt)));
            // The variable counts for elves that call `serve` without the
            // command line.
            let a_tasks = CATCHING.with(|c| c.get() > 0);
            if !a_tasks || ECHO.load(Ordering::Relaxed) || std::env::var_os("MYCELIUM_PANIC_STDERR").is_some() {
                previous(info);
            }
        }));
    });
}

/// Takes the message and backtrace of the last panic on this thread.
pub(super) fn take_last() -> Option<(String, backtrace::Backtrace)> {
    LAST.with(|last| last.borrow_mut().take())
}

/// A panic payload's message.
pub(super) fn message_of(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
