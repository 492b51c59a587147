//! The supervisor: starts every process of a plan, restarts them by their
//! policy with exponential backoff, stops them all in group mode or when
//! asked (SIGTERM, then SIGKILL after the grace period), and reports how
//! each one ended.
//!
//! It runs on one thread, the one that starts every child, because the
//! kernel sends a child's parent-death signal when the *thread* that forked
//! it ends: children forked from a worker thread that a runtime retires
//! would be killed with it.

use std::path::Path;
use std::time::Duration;

use rustix::process::Signal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::child::{self, Context, End, Event, Handle, What};
use super::logs::{Stream, Tail};
use super::plan::{HEALTHY_AFTER, Mode, Plan, ProcessSpec};
use super::status::{self, Row};

/// What the launcher is asked from outside (its signals, in `mycelium launch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    /// Stop everything (the name of the signal that asked, for the log). A
    /// second request while stopping SIGKILLs what is left at once.
    Stop(&'static str),
    /// Print the status summary.
    Status,
}

/// How the processes ended, once all have.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// Processes SIGKILLed by the launcher because they outlived the grace
    /// period (or a second stop request).
    pub(crate) killed: Vec<String>,
    /// Processes whose last run ended otherwise than with exit 0 (or by the
    /// launcher's SIGTERM), and how.
    pub(crate) failed: Vec<(String, String)>,
}

impl Report {}

/// One process under supervision.
struct Proc {
    spec: ProcessSpec,
    state: State,
    /// Starts so far (the current run's number).
    runs: u64,
    /// Restarts so far.
    restarts: u32,
    /// Restarts in a row without a healthy run: the backoff's exponent.
    quick: u32,
    last_end: Option<End>,
    tail: Tail,
    /// SIGKILLed by the launcher in its last run.
    killed: bool,
    /// Sent SIGTERM by the launcher in its last run.
    termed: bool,
}

enum State {
    Running {
        handle: Handle,
        since: Instant,
    },
    /// Waiting out the backoff before a restart.
    Waiting {
        until: Instant,
    },
    /// Ended, and not to be started again.
    Done,
}

/// The supervisor of one plan.
pub(crate) struct Supervisor<'a> {
    plan: &'a Plan,
    mycelium: &'a Path,
    procs: Vec<Proc>,
    log: Stream,
    events: mpsc::UnboundedSender<Event>,
    /// When stopping: when what is left gets SIGKILL.
    stopping: Option<Instant>,
}

impl<'a> Supervisor<'a> {
    /// A supervisor of `plan`'s processes, started through `mycelium`,
    /// logging to `log`.
    pub(crate) fn new(plan: &'a Plan, mycelium: &'a Path, log: Stream) -> Self {
        let procs = plan
            .processes
            .iter()
            .map(|spec| Proc {
                spec: spec.clone(),
                state: State::Done,
                runs: 0,
                restarts: 0,
                quick: 0,
                last_end: None,
                tail: Tail::default(),
                killed: false,
                termed: false,
            })
            .collect();
        let (events, _) = mpsc::unbounded_channel();
        Self { plan, mycelium, procs, log, events, stopping: None }
    }

    /// Starts every process and supervises them until all have ended and
    /// none is to be started again.
    pub(crate) async fn run(mut self, mut control: mpsc::UnboundedReceiver<Control>) -> Report {
        let (tx, mut events) = mpsc::unbounded_channel();
        self.events = tx;
        let plan = self.plan;
        self.log.say(&format!(
            "launching {} process(es) on {} (mode {}, grace {}); pid {}",
            plan.processes.len(),
            crate::storage::redact(&plan.store),
            match plan.mode {
                Mode::Supervise => "supervise",
                Mode::Group => "group",
            },
            status::human(plan.grace),
            std::process::id()
        ));
        for i in 0..self.procs.len() {
            self.start(i);
        }
        let mut control_open = true;
        while !self.finished() {
            let next_start = self.next_start();
            let kill_at = self.stopping;
            tokio::select! {
                Some(event) = events.recv() => self.on_event(event),
                c = control.recv(), if control_open => match c {
                    Some(Control::Stop(why)) => self.stop(why),
                    Some(Control::Status) => self.print_status(),
                    None => control_open = false,
                },
                _ = sleep_until(next_start), if next_start.is_some() => self.start_due(),
                _ = sleep_until(kill_at), if kill_at.is_some() => {
                    self.kill_all(&format!("the grace period of {} is over", status::human(plan.grace)));
                }
            }
        }
        self.print_status();
        self.report()
    }

    fn finished(&self) -> bool {
        self.procs.iter().all(|p| matches!(p.state, State::Done))
    }

    fn next_start(&self) -> Option<Instant> {
        self.procs
            .iter()
            .filter_map(|p| match p.state {
                State::Waiting { until } => Some(until),
                _ => None,
            })
            .min()
    }

    fn start_due(&mut self) {
        let now = Instant::now();
        for i in 0..self.procs.len() {
            if matches!(self.procs[i].state, State::Waiting { until } if until <= now) {
                self.start(i);
            }
        }
    }

    fn start(&mut self, i: usize) {
        let cx = Context { mycelium: self.mycelium, dir: &self.plan.dir, store: &self.plan.store };
        let p = &mut self.procs[i];
        p.runs += 1;
        p.killed = false;
        p.termed = false;
        p.tail.clear();
        let started = child::start(&p.spec, cx, i, p.runs, &self.events);
        let label = p.spec.label.clone();
        match started {
            Ok(handle) => {
                let what =
                    if p.runs == 1 { "started".to_owned() } else { format!("restarted (restart {})", p.restarts) };
                let line = format!("{label} {what}: pid {}, {}", handle.pid, command_line(&p.spec));
                p.state = State::Running { handle, since: Instant::now() };
                self.log.say(&line);
            }
            Err(e) => {
                // As if it had exited at once: the restart policy decides.
                let _ = self.events.send(Event {
                    index: i,
                    run: p.runs,
                    what: What::Ended(End::Lost(format!("cannot start: {e}"))),
                });
                p.state = State::Running { handle: Handle::detached(), since: Instant::now() };
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let p = &mut self.procs[event.index];
        match event.what {
            What::Out(line) => self.log.line(&p.spec.label, &line),
            What::Err(line) => {
                if event.run == p.runs {
                    p.tail.push(&line);
                }
                self.log.line(&p.spec.label, &line);
            }
            What::Ended(end) if event.run == p.runs => self.on_end(event.index, end),
            What::Ended(_) => {}
        }
    }

    fn on_end(&mut self, i: usize, end: End) {
        let mode = self.plan.mode;
        let stopping = self.stopping.is_some();
        let p = &mut self.procs[i];
        let ran = match &p.state {
            State::Running { since, .. } => since.elapsed(),
            _ => Duration::ZERO,
        };
        let label = p.spec.label.clone();
        let how = if p.killed { format!("{end}, killed by the launcher") } else { end.to_string() };
        let success = end.success();
        p.last_end = Some(end);
        let mut lines = vec![format!("{label} exited after {}: {how}", status::human(ran))];
        if !success && !p.killed {
            // The last words of a crash, together, whatever came in between.
            lines.extend(p.tail.lines().map(|l| format!("{label} stderr: {l}")));
        }
        let mut stop_all = false;
        if stopping {
            p.state = State::Done;
        } else if mode == Mode::Group {
            p.state = State::Done;
            lines.push("mode = \"group\": one process ended, so all stop".to_owned());
            stop_all = true;
        } else if p.spec.restart.restarts(success) {
            if ran >= HEALTHY_AFTER {
                p.quick = 0;
            }
            let delay = p.spec.backoff.delay(p.quick);
            p.quick = p.quick.saturating_add(1);
            p.restarts += 1;
            p.state = State::Waiting { until: Instant::now() + delay };
            lines.push(format!(
                "{label}: restart {} in {} (restart = \"{}\")",
                p.restarts,
                status::human(delay),
                p.spec.restart
            ));
        } else {
            p.state = State::Done;
            lines.push(format!("{label} is not restarted (restart = \"{}\")", p.spec.restart));
        }
        for l in lines {
            self.log.say(&l);
        }
        if stop_all {
            self.stop("group mode");
        }
    }

    /// Asks every process to stop (SIGTERM), cancels pending restarts, and
    /// sets the deadline for SIGKILL; a second request kills at once.
    fn stop(&mut self, why: &str) {
        if self.stopping.is_some() {
            self.kill_all(&format!("{why} again while stopping"));
            return;
        }
        let grace = self.plan.grace;
        self.stopping = Some(Instant::now() + grace);
        let mut running = 0;
        for p in &mut self.procs {
            match &p.state {
                State::Running { handle, .. } => {
                    handle.signal(Signal::TERM);
                    p.termed = true;
                    running += 1;
                }
                State::Waiting { .. } => p.state = State::Done,
                State::Done => {}
            }
        }
        self.log.say(&format!(
            "stopping ({why}): SIGTERM to {running} process(es), SIGKILL after {}",
            status::human(grace)
        ));
    }

    fn kill_all(&mut self, why: &str) {
        let mut killed = Vec::new();
        for p in &mut self.procs {
            if let State::Running { handle, .. } = &p.state {
                handle.signal(Signal::KILL);
                p.killed = true;
                killed.push(p.spec.label.clone());
            }
        }
        // Killed processes end within moments; no deadline is needed now.
        self.stopping = Some(Instant::now() + Duration::from_secs(3600));
        if !killed.is_empty() {
            self.log.say(&format!("{why}: SIGKILL to {}", killed.join(", ")));
        }
    }

    fn print_status(&mut self) {
        let rows: Vec<Row> = self.procs.iter().map(row).collect();
        for line in status::table(&rows) {
            self.log.say(&line);
        }
    }

    fn report(&self) -> Report {
        let mut r = Report::default();
        for p in &self.procs {
            match &p.last_end {
                _ if p.killed => r.killed.push(p.spec.label.clone()),
                // Ending by the SIGTERM it was sent is stopping as asked
                // (a program without a handler for it does just that).
                Some(end) if p.termed && end.signal() == Some(Signal::TERM.as_raw()) => {}
                Some(end) if !end.success() => r.failed.push((p.spec.label.clone(), end.to_string())),
                _ => {}
            }
        }
        r
    }
}

fn row(p: &Proc) -> Row {
    let (state, pid, up) = match &p.state {
        State::Running { handle, since } => ("running".to_owned(), Some(handle.pid), Some(since.elapsed())),
        State::Waiting { until } => {
            (format!("restarting in {}", status::human(until.saturating_duration_since(Instant::now()))), None, None)
        }
        State::Done if p.killed => ("killed".to_owned(), None, None),
        State::Done => ("ended".to_owned(), None, None),
    };
    Row {
        label: p.spec.label.clone(),
        state,
        pid: pid.filter(|p| *p != 0),
        restarts: p.restarts,
        last_exit: p.last_end.as_ref().map(End::to_string),
        up,
        last_stderr: p.tail.last().map(str::to_owned),
    }
}

/// The program and its arguments, as a shell would show them.
fn command_line(spec: &ProcessSpec) -> String {
    let mut s = spec.program.display().to_string();
    for a in &spec.args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
