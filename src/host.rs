//! This machine's processes: whether one is alive, and when it started (to
//! tell a dead process from a new one that reused its pid).

/// When process `pid` started, in clock ticks since boot (Linux); `None`
/// when it does not exist or the platform does not say.
pub(crate) fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    // Fields from 3 on; the start time is field 22.
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether process `pid` is running (not a zombie) and, when `started` is
/// given, is the process that started then.
pub(crate) fn is_alive(pid: u32, started: Option<u64>) -> bool {
    if !std::path::Path::new("/proc/self/stat").exists() {
        // No procfs: no evidence of death either way.
        return true;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some(close) = stat.rfind(')') else { return false };
    let rest = &stat[close + 2..];
    let mut fields = rest.split(' ');
    if fields.next() == Some("Z") {
        return false;
    }
    match started {
        Some(at) => rest.split(' ').nth(19).and_then(|v| v.parse::<u64>().ok()) == Some(at),
        None => true,
    }
}

/// This machine's name, as elves record it.
pub(crate) fn name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_not() {
        let me = std::process::id();
        let start = process_start(me);
        assert!(start.is_some());
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start.map(|s| s + 1)), "a reused pid is not the same process");
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(!is_alive(pid, None), "a reaped child is dead");
    }

    #[test]
    fn a_zombie_is_dead() {
        let child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        // Not waited for: it stays a zombie until reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while is_alive(pid, None) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!is_alive(pid, None));
        drop(child);
    }
}
