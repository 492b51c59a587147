//! The agents in one process, on the in-memory store: real elf runtimes
//! serving receivers, consumers, responders and scheduled tasks.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::{Context, Queue, Request, Signal};
use crate::Mycelium;
use crate::elf::{Elf, Options, serve};
use crate::model::{ElfState, EventKind, JobState, RunState};
use crate::storage::{EventQuery, JobQuery, Store};

/// A greeting, received by two elves.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
struct Hello {
    n: u32,
}

impl Signal for Hello {
    const NAME: &'static str = "hello";
}

/// Receives greetings in the `inbox` elf.
#[crate::task(elf = "inbox", receives = [Hello])]
fn inbox(hello: Hello) -> u32 {
    hello.n
}

/// Receives greetings in the `audit` elf, and knows which signal it got.
#[crate::task(elf = "audit", receives = [Hello])]
fn audit(cx: &Context, hello: Hello) -> String {
    let got = cx.received().map(|r| r.signal).unwrap_or_default();
    format!("{got}:{}", hello.n)
}

/// Asks how many comments a user has.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
struct CountComments {
    user: u32,
}

impl Signal for CountComments {
    const NAME: &'static str = "count_comments";
}

impl Request for CountComments {
    type Reply = u32;
}

/// Answers from the `comments` elf.
#[crate::task(elf = "comments", receives = [CountComments])]
async fn count_here(q: CountComments) -> u32 {
    q.user * 10
}

/// Answers from the `archive` elf, a little later.
#[crate::task(elf = "archive", receives = [CountComments])]
async fn count_archived(q: CountComments) -> u32 {
    tokio::time::sleep(Duration::from_millis(30)).await;
    q.user
}

/// Nobody answers this one in time.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
struct Slow {
    ms: u64,
}

impl Signal for Slow {
    const NAME: &'static str = "slow";
}

impl Request for Slow {
    type Reply = u64;
}

/// Answers after `ms`.
#[crate::task(elf = "sloth", receives = [Slow])]
async fn answer_slowly(q: Slow) -> u64 {
    tokio::time::sleep(Duration::from_millis(q.ms)).await;
    q.ms
}

/// A mail to send.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
struct Mail {
    id: u32,
    to: String,
}

/// Attempts per mail id, across retries.
static ATTEMPTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Fails a mail's first two attempts, then sends it.
#[crate::task(elf = "mailer", consumes = "mails", retries = 3, backoff_ms = 10)]
fn send_mail(mail: Mail) -> Result<String, std::io::Error> {
    let n = {
        let mut a = ATTEMPTS.lock().unwrap_or_else(|p| p.into_inner());
        a.push(mail.id);
        a.iter().filter(|i| **i == mail.id).count()
    };
    if n <= 2 {
        return Err(std::io::Error::other(format!("smtp busy (attempt {n})")));
    }
    Ok(format!("sent {} to {}", mail.id, mail.to))
}

/// Whether the bounce consumer has been fixed.
static FIXED: AtomicBool = AtomicBool::new(false);

/// Fails until fixed.
#[crate::task(elf = "mailer", consumes = "bounces", retries = 2)]
fn bounce(mail: Mail) -> Result<u32, std::io::Error> {
    if FIXED.load(Ordering::SeqCst) { Ok(mail.id) } else { Err(std::io::Error::other("mailbox full")) }
}

/// A signup, emitted by a task.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
struct SignedUp {
    user: u32,
}

impl Signal for SignedUp {
    const NAME: &'static str = "signed_up";
}

/// Attempts of `sign_up`.
static SIGNUP_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

/// Emits `signed_up`, then fails its first attempt: the retry must not
/// emit again.
#[crate::task(elf = "users", retries = 2)]
async fn sign_up(cx: &Context, user: u32) -> Result<u32, std::io::Error> {
    cx.emit(&SignedUp { user }).await.map_err(std::io::Error::other)?;
    cx.send(&send_mail::QUEUE, &Mail { id: 1000 + user, to: format!("u{user}@example.org") })
        .await
        .map_err(std::io::Error::other)?;
    if SIGNUP_ATTEMPTS.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(std::io::Error::other("the first attempt fails after emitting"));
    }
    Ok(user)
}

/// Counts signups.
#[crate::task(elf = "users", receives = [SignedUp])]
fn welcome(s: SignedUp) -> u32 {
    s.user
}

/// Ticks every 200 ms.
#[crate::task(elf = "clock", every = "200ms")]
fn beat(cx: &Context) -> i64 {
    cx.tick().unwrap_or(-1)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().expect("runtime")
}

/// Serves `elf` until the returned sender fires.
fn start(store: &Store, elf: Elf) -> (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), crate::storage::Error>>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let store = store.clone();
    let handle = tokio::spawn(async move {
        let options = Options { slots: 8, poll: Some(Duration::from_millis(2)), ..Options::default() };
        serve(&elf, store, &options, async move {
            let _ = stopped.await;
        })
        .await
    });
    (stop, handle)
}

async fn stop(elf: (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), crate::storage::Error>>)) {
    let _ = elf.0.send(());
    elf.1.await.expect("join").expect("the elf stopped cleanly");
}

/// Waits until `done` holds, or fails after 20 s.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn succeeded(store: &Store, elf: &str) -> Vec<serde_json::Value> {
    let jobs = store
        .jobs(&JobQuery { elf: Some(elf.into()), states: vec![JobState::Succeeded], ..JobQuery::default() })
        .expect("jobs");
    let ids: Vec<_> = jobs.iter().map(|j| j.id).collect();
    let mut values: Vec<_> = store.results(&ids).expect("results").into_iter().map(|(_, v)| v).collect();
    values.sort_by_key(|v| v.to_string());
    values
}

#[test]
fn every_receiver_runs_every_emission_once_even_one_that_was_down() {
    runtime().block_on(async {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let audit_elf = Elf::new("audit").task(&audit::TASK);
        // The audit elf has registered once (a deploy step), and is down.
        store.declare(&audit_elf.declarations().expect("declarations")).expect("declare");
        let inbox_elf = start(&store, Elf::new("inbox").task(&inbox::TASK));
        until("both subscriptions", || store.subscriptions(Some("hello")).map(|s| s.len() == 2).unwrap_or(false)).await;
        for n in 1..=3 {
            let e = myc.emit(&Hello { n }).await.expect("emit");
            assert_eq!(e.deliveries.len(), 2, "one job per subscribed receiver");
        }
        until("the inbox's three", || succeeded(&store, "inbox").len() == 3).await;
        assert!(succeeded(&store, "audit").is_empty(), "nobody serves audit yet");
        let audit_elf = start(&store, audit_elf);
        for n in 4..=5 {
            myc.emit(&Hello { n }).await.expect("emit");
        }
        until("every delivery", || succeeded(&store, "inbox").len() == 5 && succeeded(&store, "audit").len() == 5)
            .await;
        let inbox: Vec<u64> = succeeded(&store, "inbox").iter().filter_map(serde_json::Value::as_u64).collect();
        let mut inbox = inbox;
        inbox.sort_unstable();
        assert_eq!(inbox, [1, 2, 3, 4, 5]);
        let audit: Vec<String> =
            succeeded(&store, "audit").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
        assert_eq!(audit, ["hello:1", "hello:2", "hello:3", "hello:4", "hello:5"]);
        let all = store.jobs(&JobQuery::default()).expect("jobs");
        assert!(all.iter().all(|j| j.attempt == 1), "a delivery ran twice");
        stop(inbox_elf).await;
        stop(audit_elf).await;
    });
}

#[test]
fn a_consumer_retries_then_acks_and_a_dead_message_is_requeued() {
    runtime().block_on(async {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let elf = start(&store, Elf::new("mailer").task(&send_mail::TASK).task(&bounce::TASK));
        until("the queues", || store.queues().map(|q| q.len() == 2).unwrap_or(false)).await;
        myc.send(&send_mail::QUEUE, &Mail { id: 1, to: "ada@example.org".into() }).await.expect("send");
        let bounces: Queue<Mail> = Queue::named("bounces");
        let sent = myc.send(&bounces, &Mail { id: 2, to: "bob@example.org".into() }).await.expect("send");
        let dead_job = sent.messages[0].1;
        until("the mail", || succeeded(&store, "mailer").len() == 1).await;
        assert_eq!(succeeded(&store, "mailer")[0], serde_json::json!("sent 1 to ada@example.org"));
        until("the dead letter", || store.queue("bounces").map(|q| q.dead == 1).unwrap_or(false)).await;
        let j = store.job(dead_job).expect("job").expect("exists");
        assert_eq!((j.state, j.attempt), (JobState::Failed, 2));
        FIXED.store(true, Ordering::SeqCst);
        let retried = store.requeue("bounces", None).expect("requeue");
        assert_eq!(retried.jobs, vec![dead_job]);
        until("the requeued message", || {
            store.job(dead_job).ok().flatten().is_some_and(|j| j.state == JobState::Succeeded)
        })
        .await;
        let q = store.queue("bounces").expect("queue");
        assert_eq!((q.waiting, q.in_flight, q.dead), (0, 0, 0));
        stop(elf).await;
    });
}

#[test]
fn rpc_gathers_per_responder_and_its_timeout_is_its_own() {
    runtime().block_on(async {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let a = start(&store, Elf::new("comments").task(&count_here::TASK));
        let b = start(&store, Elf::new("archive").task(&count_archived::TASK));
        until("both responders", || store.subscriptions(Some("count_comments")).map(|s| s.len() == 2).unwrap_or(false))
            .await;
        let got = myc.call(&CountComments { user: 4 }).timeout(Duration::from_secs(10)).await.expect("call");
        let mut answers: Vec<(String, u32)> = got.answers.iter().map(|a| (a.elf.clone(), a.value)).collect();
        answers.sort();
        assert_eq!(answers, [("archive".to_owned(), 4), ("comments".to_owned(), 40)]);
        assert!(got.answers.iter().all(|a| a.instance.is_some()), "every answer names its instance");
        assert!(got.unanswered.is_empty());

        // The stream form yields answers as they come: the quick one first.
        let mut stream =
            myc.call(&CountComments { user: 5 }).timeout(Duration::from_secs(10)).stream().await.expect("stream");
        let first = stream.next().await.expect("an answer").expect("ok");
        assert_eq!((first.elf.as_str(), first.value), ("comments", 50));
        let second = stream.next().await.expect("an answer").expect("ok");
        assert_eq!(second.value, 5);
        assert!(stream.next().await.is_none());

        // A subscribed responder that is too slow: empty after the timeout,
        // its late delivery cancelled.
        store.declare(&Elf::new("sloth").task(&answer_slowly::TASK).declarations().expect("d")).expect("declare");
        let started = tokio::time::Instant::now();
        let got = myc.call(&Slow { ms: 1 }).timeout(Duration::from_millis(300)).await.expect("call");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(got.answers.is_empty());
        assert_eq!(got.unanswered.len(), 1);
        assert!(got.unanswered[0].reason.contains("deadline"), "{:?}", got.unanswered);
        let run = store.run(got.run.expect("a run")).expect("run").expect("exists");
        assert_eq!(run.state, RunState::Cancelled);

        // The stale timeout: a later, longer await in the same task survives.
        let sloth = start(&store, Elf::new("sloth").task(&answer_slowly::TASK));
        let quick = myc.call(&Slow { ms: 1 }).timeout(Duration::from_millis(200)).await.expect("call");
        assert_eq!(quick.answers.len(), 1);
        let after = tokio::time::timeout(Duration::from_secs(5), tokio::time::sleep(Duration::from_millis(500))).await;
        assert!(after.is_ok(), "an await after the call was cancelled");
        let again = myc.call(&Slow { ms: 600 }).timeout(Duration::from_secs(5)).await.expect("a longer call");
        assert_eq!(again.answers.first().map(|a| a.value), Some(600));

        // Nobody subscribed: nothing can answer, so the call returns at once.
        store
            .declare(&crate::agent::Declarations {
                elf: "x".into(),
                signals: vec![crate::agent::SignalDecl {
                    name: "orphan".into(),
                    schema: serde_json::json!({}),
                    declared_by: "x".into(),
                    declared_at: 0,
                    emitted: 0,
                    last_emitted_at: None,
                }],
                ..Default::default()
            })
            .expect("declare");
        let t = tokio::time::Instant::now();
        let none =
            myc.bus().call_json("orphan", serde_json::json!({})).timeout(Duration::from_secs(5)).await.expect("call");
        assert!(none.answers.is_empty() && none.run.is_none() && t.elapsed() < Duration::from_secs(1));
        stop(a).await;
        stop(b).await;
        stop(sloth).await;
    });
}

#[test]
fn a_task_emits_and_sends_once_per_job_across_its_attempts() {
    runtime().block_on(async {
        let store = Store::memory();
        let myc = Mycelium::new(store.clone());
        let users = start(&store, Elf::new("users").task(&sign_up::TASK).task(&welcome::TASK).emits::<SignedUp>());
        let mailer = start(&store, Elf::new("mailer").task(&send_mail::TASK).task(&bounce::TASK));
        until("the mails queue", || store.queue("mails").is_ok()).await;
        let mut o = myc.orchestration("signup");
        let out = o.call(sign_up::call(7u32));
        let run = o.submit().await.expect("submit");
        let v: u32 = run.wait(&out).await.expect("signed up");
        assert_eq!(v, 7);
        let job = store.job(run.jobs()[0]).expect("job").expect("exists");
        assert_eq!(job.attempt, 2, "the first attempt failed");
        let welcomes = || {
            store
                .jobs(&JobQuery { elf: Some("users".into()), task: Some("welcome".into()), ..JobQuery::default() })
                .expect("jobs")
        };
        until("the welcome", || welcomes().iter().any(|j| j.state == JobState::Succeeded)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let welcomes = welcomes();
        assert_eq!(welcomes.len(), 1, "the retried attempt emitted again");
        let mails = store
            .jobs(&JobQuery { elf: Some("mailer".into()), task: Some("send_mail".into()), ..JobQuery::default() })
            .expect("jobs");
        assert_eq!(mails.len(), 1, "the retried attempt sent again");
        stop(users).await;
        stop(mailer).await;
    });
}

#[test]
fn an_in_process_coordinator_makes_one_job_per_tick() {
    runtime().block_on(async {
        let store = Store::memory();
        let clock = start(&store, Elf::new("clock").task(&beat::TASK));
        let (stop_c, stopped) = oneshot::channel::<()>();
        let coordinator = tokio::spawn({
            let store = store.clone();
            async move {
                let options = crate::coordinator::Options { tick: Duration::from_millis(50), ..Default::default() };
                crate::coordinator::serve(store, &options, async move {
                    let _ = stopped.await;
                })
                .await
            }
        });
        until("five beats", || succeeded(&store, "clock").len() >= 5).await;
        let _ = stop_c.send(());
        coordinator.await.expect("join").expect("coordinator");
        let ticks: Vec<i64> = succeeded(&store, "clock").iter().filter_map(serde_json::Value::as_i64).collect();
        let mut sorted = ticks.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ticks.len(), "a tick ran twice: {ticks:?}");
        assert!(sorted.windows(2).all(|w| w[1] - w[0] == 200), "ticks 200 ms apart: {sorted:?}");
        let st = store.schedule("clock/beat").expect("schedule");
        assert_eq!(
            st.schedule.fired as usize,
            store.jobs(&JobQuery { elf: Some("clock".into()), ..Default::default() }).expect("jobs").len()
        );
        stop(clock).await;
    });
}

#[test]
fn hooks_run_around_the_work_and_a_crashed_server_stops_the_elf() {
    static STARTED: AtomicBool = AtomicBool::new(false);
    static STOPPED: AtomicBool = AtomicBool::new(false);
    runtime().block_on(async {
        let store = Store::memory();
        let elf = Elf::new("inbox")
            .task(&inbox::TASK)
            .on_start("warm up", |h| async move {
                assert!(h.store().jobs(&JobQuery::default()).is_ok());
                STARTED.store(true, Ordering::SeqCst);
                Ok::<(), std::io::Error>(())
            })
            .on_stop("flush", |_| async move {
                STOPPED.store(true, Ordering::SeqCst);
                Ok::<(), std::io::Error>(())
            })
            .server("listener", |mut h| async move {
                h.stopping().await;
                Ok::<(), std::io::Error>(())
            });
        let running = start(&store, elf);
        until("the start hook", || STARTED.load(Ordering::SeqCst)).await;
        assert!(!STOPPED.load(Ordering::SeqCst));
        stop(running).await;
        assert!(STOPPED.load(Ordering::SeqCst), "the stop hook ran");

        // A server that crashes stops the elf cleanly, and is recorded.
        let crashing = Elf::new("inbox").task(&inbox::TASK).server("broken", |_| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<(), _>(std::io::Error::other("port 8080 is taken"))
        });
        let (_stop, handle) = start(&store, crashing);
        let err = tokio::time::timeout(Duration::from_secs(20), handle).await.expect("stops").expect("join");
        let text = err.expect_err("a crash is an error").to_string();
        assert!(text.contains("broken") && text.contains("port 8080"), "{text}");
        let events = store.events(&EventQuery { limit: 10_000, ..Default::default() }).expect("events");
        assert!(events.iter().any(|e| e.kind == EventKind::ServerFailed && e.data["server"] == "broken"));
        assert!(store.elves().expect("elves").iter().all(|e| e.state == ElfState::Stopped));
    });
}

/// The elf runtime's rules for schedules, on the harness's manual clock
/// (no process, no real time): 50 ticks of a 200 ms schedule in no time,
/// one job per tick, each given its own tick time.
#[test]
fn a_schedule_ticks_once_per_period_on_the_harness_clock() {
    let mut h = crate::testing::Harness::new().elf(Elf::new("clock").task(&beat::TASK));
    h.run_until_idle().expect("register");
    let first = succeeded(h.store(), "clock").len();
    for _ in 0..50 {
        h.advance(Duration::from_millis(200));
        h.run_until_idle().expect("run");
    }
    let ticks: Vec<i64> = succeeded(h.store(), "clock").iter().filter_map(serde_json::Value::as_i64).collect();
    assert_eq!(ticks.len(), first + 50, "one job per tick: {ticks:?}");
    let mut sorted = ticks.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    assert!(sorted.windows(2).all(|w| w[1] - w[0] == 200), "ticks 200 ms apart: {sorted:?}");
}

/// Files a complaint (the harness injects its failures).
#[crate::task(elf = "desk", consumes = "complaints", retries = 2, backoff_ms = 1000)]
fn file_complaint(mail: Mail) -> u32 {
    mail.id
}

/// A consumer's retry waits for its backoff on the harness's clock, a
/// message that keeps failing ends dead, and a requeue brings it back, with
/// the harness's injections standing in for a broken mail server.
#[test]
fn queue_retries_dead_letters_and_requeue_on_the_harness_clock() {
    use crate::testing::{Harness, Injection};
    let mut h = Harness::new().elf(Elf::new("desk").task(&file_complaint::TASK));
    h.run_until_idle().expect("register");
    let myc = Mycelium::new(h.store().clone());
    let sent = runtime().block_on(myc.send(&file_complaint::QUEUE, &Mail { id: 7, to: "eve@example.org".into() }));
    let job = sent.expect("send").messages[0].1;
    h.inject("desk", "file_complaint", Injection::Error("mailbox full".into()));
    h.inject("desk", "file_complaint", Injection::Error("mailbox full".into()));
    let ran = h.run_until_idle().expect("first attempt");
    assert_eq!((ran.attempts, ran.failed), (1, 1));
    let q = h.store().queue("complaints").expect("queue");
    assert_eq!((q.waiting, q.dead), (1, 0), "backing off: {q:?}");
    assert_eq!(h.run_until_idle().expect("nothing due").attempts, 0, "the backoff waits for the clock");
    h.advance(Duration::from_millis(1000));
    h.run_until_idle().expect("second attempt");
    let q = h.store().queue("complaints").expect("queue");
    assert_eq!((q.waiting, q.in_flight, q.dead), (0, 0, 1), "two attempts, then dead");
    let dead = h.messages("complaints", crate::storage::Messages::Dead).expect("dead");
    assert_eq!(dead.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job]);
    h.store().requeue("complaints", None).expect("requeue");
    h.run_until_idle().expect("requeued");
    let j = h.store().job(job).expect("job").expect("exists");
    assert_eq!((j.state, h.store().result(job).expect("result")), (JobState::Succeeded, Some(serde_json::json!(7))));
}
