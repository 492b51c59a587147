//! Panics inside tasks: the elf catches them per job and keeps serving; a
//! panic hook keeps the backtrace of the last panic on each thread.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LAST: RefCell<Option<(String, backtrace::Backtrace)>> = const { RefCell::new(None) };
}

/// Installs the hook once per process; it chains to the previous hook.
pub(super) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let bt = backtrace::Backtrace::new_unresolved();
            let message = message_of(info.payload());
            let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            LAST.with(|last| *last.borrow_mut() = Some((format!("{message}{location}"), bt)));
            if std::env::var_os("MYCELIUM_PANIC_STDERR").is_some() {
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
