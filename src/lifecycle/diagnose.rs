//! Why a run does not move: ready jobs that no live elf instance serves.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::Store;
use crate::model::{ElfState, JobState, RunId};
use crate::storage::{JobQuery, Result};

/// Ready jobs waiting for a task that no running elf instance serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unserved {
    /// The elf that should serve them.
    pub elf: String,
    /// The task.
    pub task: String,
    /// How many of the run's jobs wait for it (counted up to a sample).
    pub ready: u64,
    /// The binary that last served this elf, when one ever registered.
    pub program: Option<String>,
}

impl Unserved {
    /// What to do about it, for people.
    pub fn advice(&self) -> String {
        let start = match &self.program {
            Some(p) => format!("start `{p}`"),
            None => format!("start the binary of elf `{}` (no instance of it ever registered here)", self.elf),
        };
        format!("{} job(s) of {}/{} wait for an elf: {start} against this store", self.ready, self.elf, self.task)
    }
}

/// Ready jobs looked at per diagnosis.
const SAMPLE: u32 = 10_000;

impl Store {
    /// The tasks whose ready jobs in `run` no running elf instance serves.
    pub fn unserved(&self, run: RunId) -> Result<Vec<Unserved>> {
        let ready = self.jobs(&JobQuery {
            run: Some(run),
            states: vec![JobState::Ready],
            limit: Some(SAMPLE),
            ..JobQuery::default()
        })?;
        if ready.is_empty() {
            return Ok(Vec::new());
        }
        let mut waiting: BTreeMap<(String, String), u64> = BTreeMap::new();
        for j in ready {
            *waiting.entry((j.elf, j.task)).or_default() += 1;
        }
        let elves = self.elves()?;
        let mut out = Vec::new();
        for ((elf, task), n) in waiting {
            let versions: HashSet<_> = self.task_versions(&elf, &task)?.into_iter().map(|v| v.sha).collect();
            let served = elves
                .iter()
                .any(|e| e.state == ElfState::Running && e.elf == elf && e.tasks.iter().any(|t| versions.contains(t)));
            if !served {
                let program = elves.iter().find(|e| e.elf == elf).and_then(|e| e.build.program.clone());
                out.push(Unserved { elf, task, ready: n, program });
            }
        }
        Ok(out)
    }
}
