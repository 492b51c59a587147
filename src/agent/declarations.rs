//! What an elf declares when it registers: the signals it receives, the
//! queues it consumes, the schedules of its tasks, built from its tasks'
//! roles and checked.

use serde_json::Value;

use super::role::Role;
use super::schedule::{Missed, Origin, Overlap, Schedule};
use super::spec::Spec;
use super::{QueueDecl, SignalDecl, Subscription};
use crate::task::Task;

/// A signal an elf emits: its name and its schema.
pub type Emits = (&'static str, fn() -> Value);

/// An elf's declarations (times are set by the store when it records them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Declarations {
    /// The elf.
    pub elf: String,
    /// Signals with their payload schemas.
    pub signals: Vec<SignalDecl>,
    /// Its receivers' subscriptions: the elf's whole set.
    pub subscriptions: Vec<Subscription>,
    /// The queues it consumes: the elf's whole set.
    pub queues: Vec<QueueDecl>,
    /// Its tasks' schedules: the elf's whole set.
    pub schedules: Vec<Schedule>,
}

impl Declarations {
    /// Whether it declares nothing.
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty() && self.subscriptions.is_empty() && self.queues.is_empty() && self.schedules.is_empty()
    }

    /// The declarations of elf `elf` serving `tasks` (also signals it only
    /// emits: `emits`). The error names the task and the fix.
    pub fn of(elf: &str, tasks: &[&'static Task], emits: &[Emits]) -> Result<Self, String> {
        let mut d = Declarations { elf: elf.to_owned(), ..Declarations::default() };
        let signal = |d: &mut Declarations, name: &str, schema: Value| {
            if !d.signals.iter().any(|s| s.name == name) {
                d.signals.push(SignalDecl {
                    name: name.to_owned(),
                    schema,
                    declared_by: elf.to_owned(),
                    declared_at: 0,
                    emitted: 0,
                    last_emitted_at: None,
                });
            }
        };
        for (name, schema) in emits {
            signal(&mut d, name, schema());
        }
        for t in tasks {
            let info = t.info;
            let what = || format!("task {elf}/{}", info.name);
            let params = info.params.len();
            match t.role {
                Role::Plain => {}
                Role::Receiver(signals) => {
                    if params > 1 {
                        return Err(format!(
                            "{} receives signals but takes {params} arguments: a receiver takes the payload (one argument) or nothing",
                            what()
                        ));
                    }
                    for s in signals {
                        signal(&mut d, s.name, (s.schema)());
                        d.subscriptions.push(Subscription {
                            signal: s.name.to_owned(),
                            elf: elf.to_owned(),
                            task: info.name.to_owned(),
                            takes_payload: params == 1,
                            retry: info.retry.policy(),
                            timeout_ms: info.timeout_ms,
                            since: 0,
                        });
                    }
                }
                Role::Consumer(q) => {
                    if params != 1 {
                        return Err(format!(
                            "{} consumes queue `{}` but takes {params} arguments: a consumer takes the message (one argument)",
                            what(),
                            q.name
                        ));
                    }
                    if d.queues.iter().any(|other| other.name == q.name) {
                        return Err(format!(
                            "{} consumes queue `{}`, which another task of this elf consumes already: a queue has one consumer task",
                            what(),
                            q.name
                        ));
                    }
                    d.queues.push(QueueDecl {
                        name: q.name.to_owned(),
                        elf: elf.to_owned(),
                        task: info.name.to_owned(),
                        schema: (q.schema)(),
                        retry: info.retry.policy(),
                        timeout_ms: info.timeout_ms,
                        exchange: q.exchange.map(str::to_owned),
                        topics: q.topics.iter().map(|t| (*t).to_owned()).collect(),
                        declared_at: 0,
                    });
                }
                Role::Scheduled(s) => {
                    if params != 0 {
                        return Err(format!(
                            "{} is scheduled but takes {params} argument(s) ({}), which a tick cannot fill: a scheduled task takes none (read the tick's time from its context), or schedule it with arguments: `mycelium schedules add --args`",
                            what(),
                            info.params.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    let spec = match (s.every, s.cron) {
                        (Some(every), None) => Spec::every(every, s.start_after),
                        (None, Some(cron)) => Spec::cron(cron, s.tz),
                        _ => Err("give either `every` or `cron`".to_owned()),
                    }
                    .map_err(|e| format!("{}: {e}", what()))?;
                    let missed: Missed = s
                        .missed
                        .map(str::parse)
                        .transpose()
                        .map_err(|e| format!("{}: {e}", what()))?
                        .unwrap_or_default();
                    let overlap: Overlap = s
                        .overlap
                        .map(str::parse)
                        .transpose()
                        .map_err(|e| format!("{}: {e}", what()))?
                        .unwrap_or_default();
                    d.schedules.push(Schedule {
                        missed,
                        overlap,
                        retry: info.retry.policy(),
                        timeout_ms: info.timeout_ms,
                        ..Schedule::new(
                            format!("{elf}/{}", info.name),
                            elf.to_owned(),
                            info.name.to_owned(),
                            Value::Array(Vec::new()),
                            spec,
                            Origin::Declared,
                        )
                    });
                }
            }
        }
        Ok(d)
    }
}
