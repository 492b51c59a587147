//! The coordinator: a [`Coordinator`] over a store handle it is given.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::audit_run;
use super::graphs::{DEFAULT_GRAPH_MAX_JOBS, Graphs, publish_ranks};
use crate::doorbell::{Endpoint, Server, ServerOptions};
use crate::host;
use crate::model::{JobState, Origin, RunState};
use crate::storage::{self, Reaped, RunQuery, Store};

/// How the coordinator runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// How often to reap and renew leadership (the leader lease lasts four
    /// ticks: a standby takes over that long after a leader dies).
    pub tick: Duration,
    /// How often to checkpoint the store.
    pub checkpoint_every: Duration,
    /// How often to audit the graphs of unfinished runs.
    pub audit_every: Duration,
    /// A TCP address for remote elves' doorbells (`0.0.0.0:7474`).
    pub doorbell_tcp: Option<String>,
    /// The token remote doorbell peers must present.
    pub doorbell_token: String,
    /// Delete finished runs this long after they end (with their jobs,
    /// results and events), checked every [`Options::retain_every`]; none
    /// is deleted when `None`.
    pub retain: Option<Duration>,
    /// How often to look for runs past their retention.
    pub retain_every: Duration,
    /// The most jobs the leader holds in its in-memory graphs, in all runs;
    /// a run that would go over is scheduled without the coordinator's rank
    /// updates (see [`crate::coordinator`]).
    pub graph_max_jobs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(250),
            checkpoint_every: Duration::from_secs(1),
            audit_every: Duration::from_secs(30),
            doorbell_tcp: None,
            doorbell_token: String::new(),
            retain: None,
            retain_every: Duration::from_secs(600),
            graph_max_jobs: DEFAULT_GRAPH_MAX_JOBS,
        }
    }
}

/// Runs with more jobs than this are not audited (memory stays bounded).
const AUDIT_MAX_JOBS: u64 = 100_000;

/// How often the leader reads the tasks' measured durations.
const DURATIONS_EVERY: Duration = Duration::from_secs(5);

/// How often at most the leader ranks runs again.
const RANK_EVERY: Duration = Duration::from_secs(2);

/// How often the coordinator looks for ready work that no elf serves.
const UNSERVED_EVERY: Duration = Duration::from_secs(5);

/// The role coordinators compete for.
const ROLE: &str = "coordinator";

/// Runs a coordinator on `store` until `shutdown` resolves.
pub async fn serve(store: Store, options: &Options, shutdown: impl Future<Output = ()>) -> Result<(), storage::Error> {
    let mut c = Coordinator::new(store, options);
    println!(
        "coordinator ready on {} (holder {}; doorbell {})",
        c.store.url(),
        c.holder,
        c.unix
            .iter()
            .map(|p| p.display().to_string())
            .chain(options.doorbell_tcp.clone())
            .collect::<Vec<_>>()
            .join(", ")
    );
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(options.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Schedules fire at their tick's time, not at the next round.
        let due = c.schedule_wait();
        tokio::select! {
            _ = tick.tick() => c.tick().await?,
            _ = tokio::time::sleep(due), if c.leading == Some(true) => c.fire_schedules().await?,
            _ = &mut shutdown => break,
        }
    }
    c.resign().await;
    println!("coordinator stopped");
    Ok(())
}

/// One coordinator process: leader or standby.
pub(crate) struct Coordinator<'a> {
    store: Store,
    options: &'a Options,
    /// Who this coordinator is, in the leader lease.
    holder: String,
    /// The doorbell's unix socket beside a local store.
    unix: Option<PathBuf>,
    /// Whether it led at the last tick (`None` before the first).
    leading: Option<bool>,
    /// The doorbell, open while it leads.
    bell: Option<Server>,
    last_checkpoint: Instant,
    last_audit: Option<Instant>,
    last_unserved: Option<Instant>,
    last_retention: Option<Instant>,
    /// The (elf, task) pairs already reported as served by no live elf.
    unserved: std::collections::BTreeSet<(String, String)>,
    /// When the next schedule tick is due, as last seen.
    next_due: Option<crate::model::Millis>,
    /// What this coordinator did, counted since it started.
    stats: Stats,
    /// The graphs of the unfinished runs, while it leads.
    graphs: Option<Arc<Mutex<Graphs>>>,
    last_durations: Option<Instant>,
    last_rank: Option<Instant>,
}

/// What a coordinator did since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Pending jobs whose producers had all succeeded, made ready.
    pub(crate) repaired_stuck: u64,
    /// Pending jobs whose unmet count was wrong, recounted.
    pub(crate) repaired_miscounted: u64,
    /// Times the graphs were built from the store (once per lead taken).
    pub(crate) graph_builds: u64,
    /// Events read from the log into the graphs.
    pub(crate) events_followed: u64,
    /// Runs ranked (again).
    pub(crate) runs_ranked: u64,
    /// Ranks handed to the store.
    pub(crate) ranks_published: u64,
}

impl<'a> Coordinator<'a> {
    pub(crate) fn new(store: Store, options: &'a Options) -> Self {
        let origin = Origin::current();
        let unix = match Endpoint::for_store(&store) {
            Some(Endpoint::Unix(path)) => Some(path),
            _ => None,
        };
        Self {
            holder: format!("{}:{}:{}", origin.host, origin.pid, uuid::Uuid::new_v4()),
            unix,
            store,
            options,
            leading: None,
            bell: None,
            last_checkpoint: Instant::now(),
            last_audit: None,
            last_unserved: None,
            last_retention: None,
            unserved: Default::default(),
            next_due: None,
            stats: Stats::default(),
            graphs: None,
            last_durations: None,
            last_rank: None,
        }
    }

    /// One round: renew (or take) the lead; if leading, reap, checkpoint,
    /// audit.
    pub(crate) async fn tick(&mut self) -> Result<(), storage::Error> {
        let holder = self.holder.clone();
        let ttl_ms = i64::try_from((self.options.tick * 4).as_millis()).unwrap_or(i64::MAX);
        let lead = self.store.call(move |s| s.lead(ROLE, &holder, ttl_ms)).await?;
        if Some(lead) != self.leading {
            println!(
                "coordinator {}",
                if lead { "is the leader" } else { "is standing by: another coordinator leads" }
            );
            self.leading = Some(lead);
        }
        if !lead {
            // A standby holds no graph: it rebuilds them when it leads.
            self.graphs = None;
            return Ok(());
        }
        if self.bell.is_none() {
            let bell_options = ServerOptions {
                unix: self.unix.clone(),
                tcp: self.options.doorbell_tcp.clone(),
                token: self.options.doorbell_token.clone(),
            };
            match Server::start(bell_options, self.store.clone()).await {
                Ok(server) => self.bell = Some(server),
                Err(e) => tracing::warn!("cannot open the doorbell yet (elves fall back to polling): {e}"),
            }
        }
        // Evidence of death first (a pid gone on this host), then leases
        // that ran out.
        let me = host::name();
        let dead = self.store.call(move |s| s.reap_dead(&me, |e| host::is_alive(e.pid, e.process_start))).await?;
        self.report(&dead);
        let reaped = self.store.call(|s| s.reap()).await?;
        self.report(&reaped);
        self.fire_schedules().await?;
        if self.last_checkpoint.elapsed() >= self.options.checkpoint_every {
            self.store.call(|s| s.checkpoint()).await?;
            self.last_checkpoint = Instant::now();
        }
        // The graphs only improve the order of work: failing to keep them
        // ends nothing (they are built again at the next round).
        if let Err(e) = self.schedule().await {
            tracing::warn!("could not keep the runs' graphs: {e}");
            println!("graphs dropped (built again at the next round): {e}");
            self.graphs = None;
        }
        if self.last_audit.is_none_or(|t| t.elapsed() >= self.options.audit_every) {
            self.audit().await?;
            self.last_audit = Some(Instant::now());
        }
        if let Some(age) = self.options.retain
            && self.last_retention.is_none_or(|t| t.elapsed() >= self.options.retain_every)
        {
            self.last_retention = Some(Instant::now());
            let retention = crate::storage::Retention {
                older_than_ms: i64::try_from(age.as_millis()).unwrap_or(i64::MAX),
                keep_failures: false,
                dry_run: false,
                jobs_per_write: None,
            };
            let collected = self.store.call(move |s| s.collect(&retention)).await?;
            if !collected.runs.is_empty() {
                tracing::info!(
                    runs = collected.deleted.runs,
                    jobs = collected.deleted.jobs,
                    events = collected.deleted.events,
                    versions = collected.deleted.versions,
                    writes = collected.writes,
                    longest_write_ms = collected.longest_write_ms,
                    "deleted finished runs past their retention"
                );
            }
        }
        if self.last_unserved.is_none_or(|t| t.elapsed() >= UNSERVED_EVERY) {
            self.report_unserved().await?;
            self.last_unserved = Some(Instant::now());
        }
        Ok(())
    }

    /// Keeps the graphs current: builds them when it just took the lead,
    /// then follows the log; reads the tasks' durations now and then; ranks
    /// again the runs that need it and hands their ranks to the store.
    async fn schedule(&mut self) -> Result<(), storage::Error> {
        let graphs = match &self.graphs {
            Some(g) => g.clone(),
            None => {
                let max = self.options.graph_max_jobs;
                let started = Instant::now();
                let g = self.store.call(move |s| Graphs::build(s, max)).await?;
                println!(
                    "graphs built: {} run(s), {} job(s), about {} MB, in {} ms; {} run(s) over the bound of {max} jobs",
                    g.runs.len(),
                    g.jobs(),
                    g.heap_bytes().div_ceil(1_000_000),
                    started.elapsed().as_millis(),
                    g.over.len()
                );
                self.stats.graph_builds += 1;
                let g = Arc::new(Mutex::new(g));
                self.graphs = Some(g.clone());
                // Durations and ranks at once for what was just built.
                self.last_durations = None;
                self.last_rank = None;
                g
            }
        };
        let g = graphs.clone();
        let followed = self.store.call(move |s| lock(&g).follow(s)).await?;
        self.stats.events_followed += followed.events as u64;
        for run in &followed.entered {
            tracing::debug!(%run, "run entered the graphs");
        }
        if self.last_durations.is_none_or(|t| t.elapsed() >= DURATIONS_EVERY) {
            let g = graphs.clone();
            self.store.call(move |s| lock(&g).refresh_durations(s)).await?;
            self.last_durations = Some(Instant::now());
        }
        if self.last_rank.is_none_or(|t| t.elapsed() >= RANK_EVERY) {
            self.last_rank = Some(Instant::now());
            let g = graphs.clone();
            let published = self
                .store
                .call(move |s| {
                    let ranked = lock(&g).rank();
                    let mut out = Vec::with_capacity(ranked.len());
                    for (run, ranks, changed) in ranked {
                        // Ranks that keep the store's order are not written.
                        out.push((run, if changed { publish_ranks(s, run, &ranks)? } else { 0 }));
                    }
                    Ok(out)
                })
                .await?;
            let g = lock(&graphs);
            for (run, n) in published {
                self.stats.runs_ranked += 1;
                self.stats.ranks_published += n as u64;
                if let Some(rg) = g.runs.get(&run) {
                    tracing::info!(%run, ranked = n, critical_ms = rg.critical_ms, "ranked a run");
                    println!(
                        "ranked run {run}: {n} unclaimed job(s); critical path {} ms over {} job(s)",
                        rg.critical_ms,
                        rg.critical_path.len()
                    );
                }
            }
        }
        Ok(())
    }

    /// Turns the schedule ticks that are due into jobs (only the leader's
    /// transaction makes any) and wakes the elves that serve them.
    pub(crate) async fn fire_schedules(&mut self) -> Result<(), storage::Error> {
        let holder = self.holder.clone();
        let fired = self.store.call(move |s| s.fire_schedules(ROLE, &holder)).await?;
        if let Some(bell) = &self.bell {
            for (elf, n) in &fired.readied {
                bell.ring(elf, *n);
            }
        }
        for (schedule, tick, job) in &fired.jobs {
            tracing::debug!(%schedule, tick, %job, "schedule tick");
        }
        self.next_due = fired.next_due;
        Ok(())
    }

    /// How long until the next schedule tick is due (a minute when none is).
    fn schedule_wait(&self) -> Duration {
        match self.next_due {
            Some(t) => Duration::from_millis(u64::try_from(t - self.store.now()).unwrap_or(0)),
            None => Duration::from_secs(60),
        }
    }

    /// Says, once, which tasks have ready jobs that no live elf serves, and
    /// which binary to start.
    async fn report_unserved(&mut self) -> Result<(), storage::Error> {
        let waiting = self
            .store
            .call(|s| {
                let mut all = Vec::new();
                for r in s.runs(&RunQuery { state: Some(RunState::Running), limit: Some(100) })? {
                    all.extend(s.unserved(r.id)?);
                }
                Ok(all)
            })
            .await?;
        let now: std::collections::BTreeSet<(String, String)> =
            waiting.iter().map(|u| (u.elf.clone(), u.task.clone())).collect();
        for u in &waiting {
            if !self.unserved.contains(&(u.elf.clone(), u.task.clone())) {
                tracing::warn!(elf = %u.elf, task = %u.task, ready = u.ready, "no live elf serves a task");
                println!("waiting: {}", u.advice());
            }
        }
        self.unserved = now;
        Ok(())
    }

    fn report(&self, reaped: &Reaped) {
        if let Some(bell) = &self.bell {
            for (elf, n) in &reaped.readied {
                bell.ring(elf, *n);
            }
        }
        if !reaped.expired.is_empty() || !reaped.lost_elves.is_empty() {
            tracing::info!(
                expired = reaped.expired.len(),
                failed = reaped.failed.len(),
                lost = reaped.lost_elves.len(),
                "reaped"
            );
            println!(
                "reaped {} expired lease(s) ({} failed for good), {} lost elf instance(s)",
                reaped.expired.len(),
                reaped.failed.len(),
                reaped.lost_elves.len()
            );
        }
    }

    /// Audits every unfinished run's graph, repairs the jobs it finds stuck
    /// or miscounted (one transaction per run, re-checked inside it), and
    /// reports what it did and what stays wrong. A run held in the graphs is
    /// audited from them (and, up to [`AUDIT_MAX_JOBS`] jobs, against the
    /// stored counts of its open jobs); another is read from the store when
    /// it is small enough.
    async fn audit(&mut self) -> Result<(), storage::Error> {
        let graphs = self.graphs.clone();
        let repaired = self
            .store
            .call(move |s| {
                let runs = s.runs(&RunQuery { state: Some(RunState::Running), limit: Some(1000) })?;
                let mut out = Vec::new();
                for r in runs {
                    let held = match &graphs {
                        Some(g) => lock(g)
                            .runs
                            .get(&r.id)
                            .map(|rg| (rg.stuck(), (r.total <= AUDIT_MAX_JOBS).then(|| rg.clone_counts()))),
                        None => None,
                    };
                    let mut ids = match held {
                        Some((stuck, counts)) => {
                            let mut ids = stuck;
                            if let Some(counts) = counts {
                                for row in s.read(|rd| rd.open_jobs(r.id))? {
                                    if row.state == JobState::Pending
                                        && counts.get(&row.id).is_some_and(|&u| u != row.unmet)
                                    {
                                        ids.push(row.id);
                                    }
                                }
                            }
                            ids
                        }
                        // The audit holds a run's graph in memory; the largest runs are
                        // left to the store's own transactional bookkeeping.
                        None if r.total <= AUDIT_MAX_JOBS => {
                            let audit = audit_run(s, r.id)?;
                            if audit.cyclic {
                                tracing::error!(run = %r.id, ?audit, "run graph has a cycle");
                                println!("run {} graph is inconsistent: {audit:?}", r.id);
                            }
                            audit.stuck.iter().chain(&audit.miscounted).copied().collect()
                        }
                        None => continue,
                    };
                    if ids.is_empty() {
                        continue;
                    }
                    ids.sort_unstable();
                    ids.dedup();
                    out.push((r.id, s.repair(&ids)?));
                }
                Ok(out)
            })
            .await?;
        for (run, r) in repaired {
            if r.is_empty() {
                continue;
            }
            if let Some(bell) = &self.bell {
                for (elf, n) in &r.readied {
                    bell.ring(elf, *n);
                }
            }
            self.stats.repaired_stuck += r.stuck.len() as u64;
            self.stats.repaired_miscounted += r.miscounted.len() as u64;
            tracing::warn!(%run, stuck = r.stuck.len(), miscounted = r.miscounted.len(), "repaired jobs");
            println!(
                "repaired run {run}: {} stuck job(s) made ready, {} miscounted job(s) recounted \
                 (total since start: {} stuck, {} miscounted)",
                r.stuck.len(),
                r.miscounted.len(),
                self.stats.repaired_stuck,
                self.stats.repaired_miscounted
            );
        }
        Ok(())
    }

    /// Gives up the lead, so that a standby takes over at once.
    async fn resign(&self) {
        if self.leading == Some(true) {
            let holder = self.holder.clone();
            if let Err(e) = self.store.call(move |s| s.resign(ROLE, &holder)).await {
                tracing::warn!("could not give up the lead: {e}");
            }
        }
    }
}

/// The graphs, locked (a panic while they were locked leaves them usable:
/// they are rebuilt from the store at the next lead anyway).
fn lock(g: &Mutex<Graphs>) -> std::sync::MutexGuard<'_, Graphs> {
    g.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that stays unavailable for longer than any fixed tolerance
    /// (about 13 minutes on the paused clock) delays a round; it does not
    /// end the coordinator, which leads once the store answers.
    #[tokio::test(start_paused = true)]
    async fn a_long_store_outage_delays_the_coordinator_and_does_not_end_it() {
        let (store, faults) = Store::memory_with_faults();
        let options = Options::default();
        let mut c = Coordinator::new(store.clone(), &options);
        faults.fail_next(400);
        let started = tokio::time::Instant::now();
        let ticked = c.tick().await;
        assert!(ticked.is_ok(), "the round failed: {ticked:?}");
        assert_eq!(c.leading, Some(true));
        assert_eq!((faults.failed(), faults.left()), (400, 0));
        assert!(started.elapsed() > Duration::from_secs(600), "the outage lasted {:?}", started.elapsed());
        // It holds the lease: another holder cannot take the lead.
        assert_eq!(store.lead(ROLE, "another coordinator", 1_000).ok(), Some(false));
    }

    /// In process, on memory: a consumer's count corrupted on purpose stays
    /// pending after its producers succeed; the coordinator's first round
    /// repairs it, counts it, and the run finishes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_audit_repairs_a_corrupted_count_and_the_run_finishes() {
        use crate::model::{Completion, InstanceId, JobSpec, JobState, RunSpec, Submission};
        use crate::storage::ClaimRequest;
        use serde_json::json;

        let store = Store::memory();
        let jobs = vec![
            JobSpec::new("e", "t", json!([1])),
            JobSpec::new("e", "t", json!([2])),
            JobSpec::new("e", "t", json!([{ "$output": "0" }, { "$output": "1" }])),
        ];
        let sub = store.submit(&Submission { run: RunSpec::named("r"), jobs }).expect("submit");
        let last = sub.jobs[2];
        let mut row = store.job_row(last).expect("read").expect("row");
        row.unmet = 9;
        store.corrupt_rows(&[row]).expect("corrupt");
        let me = InstanceId::random();
        let tasks = vec!["t".to_owned()];
        let request = ClaimRequest { instance: &me, elf: "e", tasks: &tasks, max: 10, ttl_ms: 60_000 };
        let work = |expect: usize| {
            let claimed = store.claim(&request).expect("claim");
            assert_eq!(claimed.len(), expect);
            let done: Vec<_> = claimed
                .iter()
                .map(|c| Completion { lease: c.lease, ran_sha: None, value: json!(1), waited_ms: 0 })
                .collect();
            store.complete(&done).expect("complete");
        };
        work(2);
        let job = store.job(last).expect("job").expect("exists");
        assert_eq!((job.state, job.unmet), (JobState::Pending, 7));
        let options = Options::default();
        let mut c = Coordinator::new(store.clone(), &options);
        c.tick().await.expect("tick");
        assert_eq!((c.stats.repaired_stuck, c.stats.repaired_miscounted), (1, 0));
        assert_eq!((c.stats.graph_builds, c.stats.runs_ranked), (1, 1));
        work(1);
        let run = store.run(sub.run).expect("run").expect("exists");
        assert_eq!(run.state, RunState::Succeeded);
    }
}
