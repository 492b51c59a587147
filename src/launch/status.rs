//! The status summary: one row per process (state, pid, restarts, last
//! exit, uptime, last line of stderr), printed on SIGUSR1 and at the end.

use std::time::Duration;

/// One process, as the summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// `<group>.<replica>`.
    pub(crate) label: String,
    /// `running`, `restarting in 2.0s`, `stopped`, `killed`, ...
    pub(crate) state: String,
    /// Its pid while it runs.
    pub(crate) pid: Option<u32>,
    /// How often it was started again.
    pub(crate) restarts: u32,
    /// How its last run ended.
    pub(crate) last_exit: Option<String>,
    /// How long the current run has lasted.
    pub(crate) up: Option<Duration>,
    /// The last line its last run wrote to stderr.
    pub(crate) last_stderr: Option<String>,
}

/// The rows as aligned lines of text, a header first; a row whose last run
/// failed is followed by its last line of stderr.
pub(crate) fn table(rows: &[Row]) -> Vec<String> {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.label.clone(),
                r.state.clone(),
                r.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
                r.restarts.to_string(),
                r.last_exit.clone().unwrap_or_else(|| "-".to_owned()),
                r.up.map_or_else(|| "-".to_owned(), human),
            ]
        })
        .collect();
    let header = ["PROCESS", "STATE", "PID", "RESTARTS", "LAST EXIT", "UP"].map(str::to_owned);
    let mut widths = header.clone().map(|h| h.len());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String; 6]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s
    };
    let mut out = vec![line(&header)];
    for (row, r) in cells.iter().zip(rows) {
        out.push(line(row));
        let failed = r.last_exit.as_deref().is_some_and(|e| e != "exit 0");
        if let Some(err) = r.last_stderr.as_deref().filter(|_| failed) {
            out.push(format!("  last stderr: {err}"));
        }
    }
    out
}

/// `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_align_and_failures_show_their_stderr() {
        let rows = vec![
            Row {
                label: "coordinator.1".into(),
                state: "running".into(),
                pid: Some(42),
                restarts: 0,
                last_exit: None,
                up: Some(Duration::from_millis(12_340)),
                last_stderr: None,
            },
            Row {
                label: "a.1".into(),
                state: "restarting in 1.0s".into(),
                pid: None,
                restarts: 3,
                last_exit: Some("exit 1".into()),
                up: None,
                last_stderr: Some("error: no store".into()),
            },
        ];
        assert_eq!(
            table(&rows),
            vec![
                "PROCESS        STATE               PID  RESTARTS  LAST EXIT  UP",
                "coordinator.1  running             42   0         -          12.3s",
                "a.1            restarting in 1.0s  -    3         exit 1     -",
                "  last stderr: error: no store",
            ]
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(850)), "850ms");
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(7380)), "2h03m");
    }
}
