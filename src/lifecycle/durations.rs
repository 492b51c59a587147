//! Tasks' measured durations: the median of their recent successful
//! attempts, which critical-path ranks weigh jobs by.

use std::collections::HashMap;

use super::Store;
use super::rank::median;
use crate::storage::Result;

/// How many of a task's most recent successful attempts its measured
/// duration is the median of.
pub const DURATION_SAMPLE: u32 = 100;

impl Store {
    /// The measured duration of `elf`/`task` in milliseconds: the median of
    /// its most recent successful attempts (at most [`DURATION_SAMPLE`]);
    /// `None` before any succeeded.
    pub fn task_duration(&self, elf: &str, task: &str) -> Result<Option<u64>> {
        self.read(|r| Ok(median(&r.recent_durations(elf, task, DURATION_SAMPLE)?)))
    }

    /// [`Store::task_duration`] of several tasks, in one read; tasks with no
    /// successful attempt are left out.
    pub fn task_durations(&self, tasks: &[(String, String)]) -> Result<HashMap<(String, String), u64>> {
        self.read(|r| {
            let mut out = HashMap::with_capacity(tasks.len());
            for (elf, task) in tasks {
                if let Some(m) = median(&r.recent_durations(elf, task, DURATION_SAMPLE)?) {
                    out.insert((elf.clone(), task.clone()), m);
                }
            }
            Ok(out)
        })
    }
}
