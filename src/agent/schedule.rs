//! Schedules: a task run at every tick of an interval or a cron expression,
//! one job per tick, made by the leading coordinator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::Spec;
use crate::model::{JobId, Millis, RetryPolicy};

/// What to do with ticks that could not be turned into jobs on time (no
/// coordinator led, the schedule's previous job held them back): a tick is
/// *missed* once it is [`MISSED_AFTER_MS`] late.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Missed {
    /// Drop them.
    Skip,
    /// One job for all of them (for the latest).
    Once,
    /// One job for each (at most [`CATCH_UP_MAX`], the most recent).
    #[default]
    CatchUp,
}

/// What to do at a tick while the previous tick's job has not finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Overlap {
    /// Make its job anyway: jobs of successive ticks may run at once.
    #[default]
    Allow,
    /// Drop the tick.
    Skip,
    /// Hold the tick until the previous job has finished, then make its job:
    /// ticks run one after the other, none dropped.
    Queue,
}

/// How late a tick may be turned into a job before it counts as missed.
pub const MISSED_AFTER_MS: Millis = 5_000;

/// The most missed ticks `catch_up` makes jobs for at once.
pub const CATCH_UP_MAX: usize = 1_000;

impl std::str::FromStr for Missed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(Missed::Skip),
            "once" => Ok(Missed::Once),
            "catch_up" | "catch-up" => Ok(Missed::CatchUp),
            _ => Err(format!("`{s}` is not a missed-tick policy: use skip, once or catch_up")),
        }
    }
}

impl std::str::FromStr for Overlap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "allow" => Ok(Overlap::Allow),
            "skip" => Ok(Overlap::Skip),
            "queue" => Ok(Overlap::Queue),
            _ => Err(format!("`{s}` is not an overlap policy: use allow, skip or queue")),
        }
    }
}

/// Who made a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Origin {
    /// A task's attribute (`#[task(every = ..)]`), recorded when its elf
    /// registered; the elf's next registration updates or removes it.
    Declared,
    /// An operator (`mycelium schedules add`) or a program; stays until removed.
    Added,
}

/// A schedule as the mycelium keeps it: what it runs, when, and where it
/// stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Schedule {
    /// Its name (`elf/task` for a declared one).
    pub name: String,
    /// The elf serving the task.
    pub elf: String,
    /// The task.
    pub task: String,
    /// The task's arguments, a JSON array (empty for a task that takes none).
    pub args: Value,
    /// When it fires.
    pub spec: Spec,
    /// What to do with missed ticks.
    pub missed: Missed,
    /// What to do when a tick comes while the previous job runs.
    pub overlap: Overlap,
    /// Each tick's job's retry policy.
    pub retry: RetryPolicy,
    /// Each tick's job's time limit per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Who made it.
    pub origin: Origin,
    /// Paused: no tick makes a job until it is resumed.
    #[serde(default)]
    pub paused: bool,
    /// Where intervals count from (when it was first registered with this spec).
    pub anchor: Millis,
    /// The next tick not yet turned into a job.
    pub next_due: Millis,
    /// The last tick turned into a job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tick: Option<Millis>,
    /// That tick's job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_job: Option<JobId>,
    /// Ticks that made jobs so far.
    #[serde(default)]
    pub fired: u64,
    /// Ticks dropped so far (missed, overlapping or paused).
    #[serde(default)]
    pub skipped: u64,
    /// When it was created.
    pub created_at: Millis,
    /// When it was last changed.
    pub updated_at: Millis,
}

impl Schedule {
    /// A schedule not yet recorded: `name` makes a job of `elf`/`task` with
    /// `args` at each tick of `spec`; missed ticks caught up, overlap
    /// allowed, the default retry policy and no time limit (set the fields
    /// to change them). The store fills its times and counters when it
    /// records it.
    pub fn new(name: String, elf: String, task: String, args: Value, spec: Spec, origin: Origin) -> Self {
        Self {
            name,
            elf,
            task,
            args,
            spec,
            missed: Missed::default(),
            overlap: Overlap::default(),
            retry: RetryPolicy::default(),
            timeout_ms: None,
            origin,
            paused: false,
            anchor: 0,
            next_due: 0,
            last_tick: None,
            last_job: None,
            fired: 0,
            skipped: 0,
            created_at: 0,
            updated_at: 0,
        }
    }
}

/// What the ticks due now come to, by the missed-tick policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Ticks to turn into jobs, oldest first.
    pub fire: Vec<Millis>,
    /// Ticks dropped.
    pub skipped: u64,
    /// The first tick after all of these.
    pub next: Millis,
}

/// The ticks of `spec` (anchored at `anchor`) from `next_due` up to `now`,
/// and what `missed` makes of them.
pub fn due(spec: &Spec, anchor: Millis, next_due: Millis, now: Millis, missed: Missed) -> Result<Due, String> {
    let mut ticks: Vec<Millis> = Vec::new();
    let mut dropped: u64 = 0;
    let mut t = next_due;
    while t <= now {
        // Keep only the most recent CATCH_UP_MAX (+1 for an on-time tick).
        if ticks.len() > CATCH_UP_MAX {
            ticks.remove(0);
            dropped += 1;
        }
        ticks.push(t);
        t = spec.next_from(anchor, t)?;
    }
    let next = t;
    let (late, on_time): (Vec<Millis>, Vec<Millis>) = ticks.into_iter().partition(|t| now - t > MISSED_AFTER_MS);
    let mut fire = Vec::new();
    let mut skipped = dropped;
    match missed {
        Missed::Skip => skipped += late.len() as u64,
        Missed::Once => {
            if let Some(last) = late.last() {
                fire.push(*last);
                skipped += late.len() as u64 - 1;
            }
        }
        Missed::CatchUp => {
            let keep = late.len().saturating_sub(CATCH_UP_MAX);
            skipped += keep as u64;
            fire.extend(late.into_iter().skip(keep));
        }
    }
    fire.extend(on_time);
    Ok(Due { fire, skipped, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(ms: u64) -> Spec {
        Spec::Every { period_ms: ms, start_after_ms: 0 }
    }

    #[test]
    fn on_time_ticks_always_fire() {
        let d = due(&every(1000), 0, 5000, 5010, Missed::Skip).expect("due");
        assert_eq!(d, Due { fire: vec![5000], skipped: 0, next: 6000 });
        let d = due(&every(1000), 0, 5000, 4999, Missed::Skip).expect("due");
        assert_eq!(d, Due { fire: vec![], skipped: 0, next: 5000 });
    }

    #[test]
    fn missed_ticks_follow_the_policy() {
        // Down from 1s to 20.5s: ticks 1..=15 are over 5s late, 16..=20 on time.
        let (spec, next_due, now) = (every(1000), 1000, 20_500);
        let d = due(&spec, 0, next_due, now, Missed::CatchUp).expect("due");
        assert_eq!(d.fire, (1..=20).map(|k| k * 1000).collect::<Vec<_>>());
        assert_eq!((d.skipped, d.next), (0, 21_000));
        let d = due(&spec, 0, next_due, now, Missed::Once).expect("due");
        assert_eq!(d.fire, vec![15_000, 16_000, 17_000, 18_000, 19_000, 20_000]);
        assert_eq!(d.skipped, 14);
        let d = due(&spec, 0, next_due, now, Missed::Skip).expect("due");
        assert_eq!(d.fire, vec![16_000, 17_000, 18_000, 19_000, 20_000]);
        assert_eq!(d.skipped, 15);
    }

    #[test]
    fn catch_up_is_bounded() {
        let d = due(&every(10), 0, 10, 10 * 5_000, Missed::CatchUp).expect("due");
        assert!(d.fire.len() <= CATCH_UP_MAX + (MISSED_AFTER_MS / 10) as usize + 1, "{}", d.fire.len());
        assert_eq!(d.fire.len() as u64 + d.skipped, 5_000);
        assert_eq!(d.fire.last(), Some(&50_000));
    }
}
