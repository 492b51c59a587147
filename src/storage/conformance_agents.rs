//! The agents' store-level cases of the conformance suite (A1–A5): signal
//! fan-out, queues with dead letters, exchanges, schedule ticks. Each takes
//! the URL of a fresh, empty store, as the other cases do.

use serde_json::{Value, json};

use super::{clocked, done, state, store};
use crate::agent::schedule::Origin;
use crate::agent::{
    Declarations, Emission, Missed, Outgoing, Overlap, QueueDecl, Schedule, SignalDecl, Spec, Subscription,
};
use crate::model::{
    Build, ElfInstance, ElfState, EventKind, FailureKind, FailureReport, InstanceId, JobState, Param, RetryPolicy,
    Signature, TaskSha, TaskVersion,
};
use crate::storage::{ErrorKind, EventQuery, Messages, Store};

/// The schema of `{"user_id": <u64>, "email": <string>}`.
fn user_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"user_id": {"type": "integer", "format": "uint64", "minimum": 0}, "email": {"type": "string"}},
        "required": ["user_id", "email"]
    })
}

fn signal(name: &str) -> SignalDecl {
    SignalDecl {
        name: name.into(),
        schema: user_schema(),
        declared_by: "users".into(),
        declared_at: 0,
        emitted: 0,
        last_emitted_at: None,
    }
}

fn receiver(signal: &str, elf: &str, task: &str) -> Subscription {
    Subscription {
        signal: signal.into(),
        elf: elf.into(),
        task: task.into(),
        takes_payload: true,
        retry: RetryPolicy::default(),
        timeout_ms: None,
        since: 0,
    }
}

fn queue(name: &str, elf: &str, exchange: Option<&str>, topics: &[&str]) -> QueueDecl {
    QueueDecl {
        name: name.into(),
        elf: elf.into(),
        task: "consume".into(),
        schema: user_schema(),
        retry: RetryPolicy { max_attempts: 2, ..RetryPolicy::default() },
        timeout_ms: None,
        exchange: exchange.map(str::to_owned),
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        declared_at: 0,
    }
}

fn declare(s: &Store, d: Declarations) {
    if let Err(e) = s.declare(&d) {
        panic!("declare {}: {e}", d.elf);
    }
}

fn emit(s: &Store, name: &str, payload: &Value, key: Option<&str>) -> crate::storage::Result<crate::agent::Emitted> {
    s.emit(&Emission { signal: name, payload, key, sender: "conformance" })
}

fn user(id: u64) -> Value {
    json!({"user_id": id, "email": format!("u{id}@example.org")})
}

fn live_elf(s: &Store, elf: &str) -> InstanceId {
    let now = s.now();
    let me = ElfInstance {
        instance: InstanceId::random(),
        elf: elf.into(),
        host: "conformance".into(),
        pid: 1,
        build: Build::default(),
        tasks: Vec::new(),
        slots: 1,
        started_at: now,
        heartbeat_at: now,
        lease_until: now + 60_000,
        state: ElfState::Running,
        label: None,
        process_start: None,
    };
    s.register_elf(&me).expect("register");
    me.instance
}

/// A1: an emission makes one job per subscribed receiver, in one run,
/// carrying the payload; receivers subscribed later get none of the earlier
/// emissions; an elf's registration replaces its subscriptions; an
/// emission's key makes it idempotent.
pub fn a01_signals_fan_out_to_subscribers(url: &str) {
    let s = store(url);
    declare(
        &s,
        Declarations {
            elf: "mailer".into(),
            signals: vec![signal("user_created")],
            subscriptions: vec![receiver("user_created", "mailer", "welcome")],
            ..Declarations::default()
        },
    );
    let first = emit(&s, "user_created", &user(1), None).expect("emit");
    assert_eq!(first.deliveries.len(), 1);
    declare(
        &s,
        Declarations {
            elf: "stats".into(),
            subscriptions: vec![receiver("user_created", "stats", "count"), receiver("other", "stats", "count")],
            ..Declarations::default()
        },
    );
    let second = emit(&s, "user_created", &user(2), None).expect("emit");
    let mut who: Vec<(String, String)> = second.deliveries.iter().map(|d| (d.elf.clone(), d.task.clone())).collect();
    who.sort();
    assert_eq!(who, [("mailer".into(), "welcome".into()), ("stats".into(), "count".into())]);
    let run = second.run.expect("a run");
    let jobs = s.jobs(&crate::storage::JobQuery { run: Some(run), ..Default::default() }).expect("jobs");
    assert!(jobs.iter().all(|j| j.state == JobState::Ready && j.args == json!([user(2)])), "{jobs:?}");
    let labels = s.run(run).expect("run").expect("exists").labels;
    assert_eq!(labels.get("signal").map(String::as_str), Some("user_created"));
    // The stats elf subscribed after the first emission: it got none of it.
    let stats_jobs = s.jobs(&crate::storage::JobQuery { elf: Some("stats".into()), ..Default::default() });
    assert_eq!(stats_jobs.expect("jobs").len(), 1);
    // Its next registration no longer receives the signal.
    declare(&s, Declarations { elf: "stats".into(), ..Declarations::default() });
    assert_eq!(emit(&s, "user_created", &user(3), None).expect("emit").deliveries.len(), 1);
    assert!(s.subscriptions(Some("other")).expect("subs").is_empty());
    // Idempotent by key.
    let a = emit(&s, "user_created", &user(4), Some("k1")).expect("emit");
    let b = emit(&s, "user_created", &user(4), Some("k1")).expect("emit again");
    assert!(!a.existing && b.existing);
    assert_eq!((a.run, a.deliveries.clone()), (b.run, b.deliveries));
    let decl = s.signals().expect("signals").into_iter().find(|d| d.name == "user_created").expect("declared");
    assert_eq!(decl.emitted, 4, "a repeated key is not a new emission");
}

/// A2: unknown signals and payloads that do not match the signal's schema
/// are refused with errors naming the signal, the field and the fix, and
/// write nothing; a signal nobody receives records no job.
pub fn a02_bad_emissions_are_refused(url: &str) {
    let s = store(url);
    declare(
        &s,
        Declarations {
            elf: "mailer".into(),
            signals: vec![signal("user_created"), signal("nobody_listens")],
            subscriptions: vec![receiver("user_created", "mailer", "welcome")],
            ..Declarations::default()
        },
    );
    let before = s.events(&EventQuery { limit: 10_000, ..Default::default() }).expect("events").len();
    let err = emit(&s, "user_craeted", &user(1), None).expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let text = err.to_string();
    assert!(text.contains("`user_craeted`") && text.contains("user_created"), "{text}");
    let err = emit(&s, "user_created", &json!({"user_id": "seven", "email": "a@b"}), None).expect_err("bad type");
    let text = err.to_string();
    assert!(
        text.contains("signal `user_created`") && text.contains("field `user_id`") && text.contains("integer"),
        "{text}"
    );
    let err = emit(&s, "user_created", &json!({"user_id": 7}), None).expect_err("missing field");
    assert!(err.to_string().contains("field `email`") && err.to_string().contains("missing"), "{err}");
    assert!(emit(&s, "bad name!", &user(1), None).is_err());
    let after = s.events(&EventQuery { limit: 10_000, ..Default::default() }).expect("events").len();
    assert_eq!(before, after, "a refused emission wrote something");
    let quiet = emit(&s, "nobody_listens", &user(1), None).expect("emit");
    assert!(quiet.run.is_none() && quiet.deliveries.is_empty());
}

/// A3: a message is a job of the queue's consumer; one that fails past its
/// attempts is dead (listed, counted), is requeued as a new attempt, and
/// waiting messages are purged; unknown queues, bad payloads and a second
/// live consumer are refused.
pub fn a03_queues_dead_letters_requeue_and_purge(url: &str) {
    let (s, clock) = clocked(url);
    live_elf(&s, "mailer");
    declare(
        &s,
        Declarations { elf: "mailer".into(), queues: vec![queue("mails", "mailer", None, &[])], ..Default::default() },
    );
    let sent = s
        .send("mails", &Outgoing { messages: &[user(1), user(2), user(3)], key: None, sender: "conformance" })
        .expect("send");
    assert_eq!(sent.messages.len(), 3);
    let q = s.queue("mails").expect("queue");
    assert_eq!((q.waiting, q.in_flight, q.dead), (3, 0, 0));
    assert!(q.oldest_at.is_some());
    // The first message fails twice (its two attempts): dead.
    let me = InstanceId::random();
    let tasks = vec!["consume".to_owned()];
    let req = |max| crate::storage::ClaimRequest { instance: &me, elf: "mailer", tasks: &tasks, max, ttl_ms: 60_000 };
    for _ in 0..2 {
        let c = s.claim(&req(1)).expect("claim").remove(0);
        assert_eq!(c.lease.job, sent.messages[0].1);
        s.fail(&c.lease, &FailureReport::new(FailureKind::Error, "smtp down")).expect("fail");
    }
    assert_eq!(state(&s, sent.messages[0].1), JobState::Failed);
    let q = s.queue("mails").expect("queue");
    assert_eq!((q.waiting, q.dead), (2, 1));
    let dead = s.queue_messages("mails", Messages::Dead, 10).expect("dead");
    assert_eq!(dead.iter().map(|j| j.id).collect::<Vec<_>>(), vec![sent.messages[0].1]);
    // Requeued, it runs again and is acknowledged.
    let retried = s.requeue("mails", None).expect("requeue");
    assert_eq!(retried.jobs, vec![sent.messages[0].1]);
    assert_eq!(s.queue("mails").expect("queue").dead, 0);
    let c = s.claim(&req(1)).expect("claim").remove(0);
    assert_eq!(c.lease.job, sent.messages[0].1);
    s.complete(&[done(c.lease, json!(null))]).expect("ack");
    assert_eq!(state(&s, sent.messages[0].1), JobState::Succeeded);
    // Purge drops what waits.
    clock.advance(10);
    assert_eq!(s.purge("mails", "test").expect("purge"), 2);
    assert_eq!(s.queue("mails").expect("queue").waiting, 0);
    assert_eq!(state(&s, sent.messages[2].1), JobState::Cancelled);
    // Refusals.
    let err = s.send("mailz", &Outgoing { messages: &[user(1)], key: None, sender: "c" }).expect_err("unknown");
    assert!(err.to_string().contains("`mailz`") && err.to_string().contains("mails"), "{err}");
    let err =
        s.send("mails", &Outgoing { messages: &[json!({"user_id": 1})], key: None, sender: "c" }).expect_err("bad");
    assert!(err.to_string().contains("queue `mails`") && err.to_string().contains("field `email`"), "{err}");
    let err = s.requeue("mails", Some(&[sent.messages[2].1])).expect_err("not dead");
    assert!(err.to_string().contains("not a dead message"), "{err}");
    live_elf(&s, "other");
    let err = s
        .declare(&Declarations {
            elf: "other".into(),
            queues: vec![queue("mails", "other", None, &[])],
            ..Default::default()
        })
        .expect_err("two live consumers");
    assert!(err.to_string().contains("one consumer"), "{err}");
}

/// A4: a fanout exchange gives every bound queue each message; a topic
/// exchange gives it to the queues whose patterns match the routing key,
/// with AMQP's `*` and `#`.
pub fn a04_exchanges_route_by_fanout_and_topic(url: &str) {
    let s = store(url);
    declare(
        &s,
        Declarations {
            elf: "push".into(),
            queues: vec![
                queue("push_a", "push", Some("push"), &[]),
                queue("push_b", "push", Some("push"), &[]),
                queue("ios", "push", Some("push3"), &["*.ios"]),
                queue("android", "push", Some("push3"), &["*.android"]),
                queue("all", "push", Some("push3"), &["msg.#"]),
            ],
            ..Default::default()
        },
    );
    let out = |m: &[Value]| Outgoing { messages: m, key: None, sender: "c" }.messages.to_vec();
    let routed = |x: &str, key: &str| -> Vec<String> {
        let msgs = out(&[user(1)]);
        let mut names: Vec<String> = s
            .publish(x, key, &Outgoing { messages: &msgs, key: None, sender: "c" })
            .expect("publish")
            .messages
            .into_iter()
            .map(|(q, _)| q)
            .collect();
        names.sort();
        names
    };
    assert_eq!(routed("push", "anything"), ["push_a", "push_b"]);
    assert_eq!(routed("push3", "user.ios"), ["ios"]);
    assert_eq!(routed("push3", "user.android"), ["android"]);
    assert_eq!(routed("push3", "msg.ios"), ["all", "ios"]);
    assert_eq!(routed("push3", "msg"), ["all"]);
    assert!(routed("push3", "a.b.ios").is_empty());
    let msgs = out(&[user(1)]);
    let err = s.publish("nope", "k", &Outgoing { messages: &msgs, key: None, sender: "c" }).expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("push3"), "{err}");
    let err = s
        .declare(&Declarations {
            elf: "mixed".into(),
            queues: vec![queue("m", "mixed", Some("push"), &["a.*"])],
            ..Default::default()
        })
        .expect_err("fanout and topic");
    assert!(err.to_string().contains("exchange `push`"), "{err}");
}

fn scheduled(name: &str, spec: Spec, missed: Missed, overlap: Overlap) -> Schedule {
    Schedule {
        missed,
        overlap,
        ..Schedule::new(name.into(), "cron".into(), "tick".into(), json!([]), spec, Origin::Declared)
    }
}

/// A5: only the leader turns ticks into jobs; each tick is one job however
/// often the leader (or a deposed one) looks; missed ticks follow the
/// policy; overlap `skip` drops and `queue` holds ticks while the previous
/// job runs; pause, resume and trigger; a schedule whose arguments cannot
/// fill its task is refused.
pub fn a05_schedule_ticks_make_one_job_each(url: &str) {
    let (s, clock) = clocked(url);
    let every = Spec::Every { period_ms: 1_000, start_after_ms: 0 };
    declare(
        &s,
        Declarations {
            elf: "cron".into(),
            schedules: vec![
                scheduled("cron/catch", every.clone(), Missed::CatchUp, Overlap::Allow),
                scheduled("cron/once", every.clone(), Missed::Once, Overlap::Allow),
                scheduled("cron/skip", every.clone(), Missed::Skip, Overlap::Skip),
            ],
            ..Default::default()
        },
    );
    let t0 = s.schedule("cron/catch").expect("schedule").schedule.next_due;
    // No leader: nothing fires.
    assert!(s.fire_schedules("coordinator", "a").expect("fire").jobs.is_empty());
    assert!(s.lead("coordinator", "a", 60_000).expect("lead"));
    let fired = s.fire_schedules("coordinator", "a").expect("fire");
    assert_eq!(fired.jobs.len(), 3, "{fired:?}");
    assert!(s.fire_schedules("coordinator", "a").expect("fire again").jobs.is_empty(), "a tick fired twice");
    assert!(s.fire_schedules("coordinator", "b").expect("not leader").jobs.is_empty());
    assert_eq!(fired.next_due, Some(t0 + 1_000));
    // Down for 20 s: catch_up makes every tick, once makes the on-time ones
    // plus one for all the missed; skip (and overlap skip) keeps one.
    clock.advance(20_000);
    assert!(s.lead("coordinator", "a", 60_000).expect("lead"));
    let fired = s.fire_schedules("coordinator", "a").expect("fire");
    let count = |name: &str| fired.jobs.iter().filter(|(n, _, _)| n == name).count();
    assert_eq!(count("cron/catch"), 20);
    assert_eq!(count("cron/once"), 7, "6 on-time ticks and one for the 14 missed");
    assert_eq!(count("cron/skip"), 0, "its previous job still runs: overlap skip drops the ticks");
    let catch_ticks: Vec<i64> = fired.jobs.iter().filter(|(n, _, _)| n == "cron/catch").map(|(_, t, _)| *t).collect();
    assert_eq!(catch_ticks, (1..=20).map(|k| t0 + k * 1_000).collect::<Vec<_>>());
    let st = s.schedule("cron/skip").expect("schedule");
    assert!(st.running && st.schedule.skipped == 20, "{st:?}");
    let runs = s.runs(&Default::default()).expect("runs");
    let keys: std::collections::HashSet<(String, String)> =
        runs.iter().filter_map(|r| Some((r.labels.get("schedule")?.clone(), r.labels.get("tick")?.clone()))).collect();
    assert_eq!(keys.len(), runs.len(), "two jobs for one tick");

    // Overlap queue: the tick waits for the previous job, then runs.
    declare(
        &s,
        Declarations {
            elf: "cron".into(),
            schedules: vec![scheduled("cron/queue", every.clone(), Missed::CatchUp, Overlap::Queue)],
            ..Default::default()
        },
    );
    assert!(s.schedule("cron/catch").is_err(), "the elf's registration replaced its schedules");
    clock.advance(1_000);
    assert!(s.lead("coordinator", "a", 60_000).expect("lead"));
    let first = s.fire_schedules("coordinator", "a").expect("fire");
    assert_eq!(first.jobs.len(), 1);
    clock.advance(2_000);
    assert!(s.fire_schedules("coordinator", "a").expect("fire").jobs.is_empty(), "queued behind a running job");
    let me = InstanceId::random();
    let tasks = vec!["tick".to_owned()];
    let c = s
        .claim(&crate::storage::ClaimRequest { instance: &me, elf: "cron", tasks: &tasks, max: 100, ttl_ms: 60_000 })
        .expect("claim");
    let held = c.iter().find(|c| c.lease.job == first.jobs[0].2).expect("the first tick's job");
    s.complete(&[done(held.lease, json!(null))]).expect("complete");
    let next = s.fire_schedules("coordinator", "a").expect("fire");
    assert_eq!(next.jobs.len(), 1, "the held tick runs once the previous job finished");
    assert_eq!(next.jobs[0].1, first.jobs[0].1 + 1_000);

    // Pause, resume, trigger.
    s.pause_schedule("cron/queue", true).expect("pause");
    clock.advance(5_000);
    assert!(s.fire_schedules("coordinator", "a").expect("fire").jobs.is_empty());
    let trig = s.trigger_schedule("cron/queue").expect("trigger");
    assert_eq!(trig.jobs.len(), 1);
    let resumed = s.pause_schedule("cron/queue", false).expect("resume");
    assert!(resumed.next_due > s.now());

    // Added schedules: arguments must fill the task.
    let sig = Signature {
        params: vec![Param { name: "n".into(), ty: "u32".into() }],
        output: "u32".into(),
        is_async: false,
        fallible: false,
        flow: false,
    };
    let src = "fn pick(n: u32) -> u32 { n }";
    s.record_tasks(&[TaskVersion {
        sha: TaskSha::of_source(src),
        elf: "cron".into(),
        name: "pick".into(),
        source: src.into(),
        file: "x.rs".into(),
        line: 1,
        signature: sig,
        doc: String::new(),
        first_seen: 0,
    }])
    .expect("record");
    let mut added = scheduled("nightly", every, Missed::Skip, Overlap::Allow);
    added.task = "pick".into();
    let err = s.add_schedule(&added).expect_err("arguments missing");
    let text = err.to_string();
    assert!(text.contains("n: u32") && text.contains("could not fill"), "{text}");
    added.args = json!([7]);
    let made = s.add_schedule(&added).expect("add");
    assert_eq!(made.origin, Origin::Added);
    added.task = "missing".into();
    added.name = "other".into();
    assert_eq!(s.add_schedule(&added).expect_err("no such task").kind(), ErrorKind::NotFound);
    let events = s.events(&EventQuery { limit: 100_000, ..Default::default() }).expect("events");
    assert!(events.iter().any(|e| e.kind == EventKind::ScheduleChanged));
    assert!(events.iter().any(|e| e.kind == EventKind::AgentsDeclared));
}
