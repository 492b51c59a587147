//! The dashboard in a real headless Chromium (Debian's package): every page
//! loaded against a server with real runs from real elves, its DOM checked
//! for the expected content, and screenshots of the main pages kept
//! (`target/screenshots/`; `MYCELIUM_BLESS=1` also refreshes the README's
//! copies in `docs/screenshots/`). Without Chromium the tests are compiled
//! as ignored (see build.rs).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use mycelium::model::{JobSpec, RunSpec, Submission};
use serde_json::{Value, json};

use crate::devtools::{Browser, chromium, flags};
use crate::serve::{Server, call, trials_run, wait_run};
use crate::util::{Proc, runtime};

/// The DOM of `url` once its scripts settled (virtual time lets the
/// page's fetches finish before the dump).
fn dump(url: &str) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(chromium())
        .args(flags(profile.path()))
        .args(["--virtual-time-budget=8000", "--dump-dom", url])
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed on {url}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A screenshot of `url` into target/screenshots/NAME.png (and
/// docs/screenshots/ with MYCELIUM_BLESS=1).
fn screenshot(url: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let file = dir.join(format!("{name}.png"));
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(chromium())
        .args(flags(profile.path()))
        .args(["--virtual-time-budget=8000", &format!("--screenshot={}", file.display()), url])
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed on {url}: {}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&file).expect("a screenshot was written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} is not a real screenshot", file.display());
    if std::env::var("MYCELIUM_BLESS").is_ok_and(|v| v == "1") {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&docs).expect("docs dir");
        std::fs::copy(&file, docs.join(format!("{name}.png"))).expect("copy the screenshot");
    }
    file
}

/// Asserts the page rendered (not an error) and holds every needle.
fn page(s: &Server, path: &str, page: &str, needles: &[&str]) -> String {
    let dom = dump(&s.url(path));
    assert!(dom.contains(&format!("data-page=\"{page}\"")), "{path}: not the {page} page:\n{dom}");
    assert!(dom.contains("data-ready=\"1\""), "{path}: did not finish rendering:\n{dom}");
    for n in needles {
        assert!(dom.contains(n), "{path}: `{n}` missing from the DOM:\n{dom}");
    }
    dom
}

#[test]
#[cfg_attr(no_chromium, ignore = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)")]
fn every_page_shows_real_runs() {
    let s = Server::start(&["--allow-loopback-without-token"]);
    let _coordinator = Proc::coordinator(&s.store);
    let _elf = Proc::elf("trials", &s.store, &[]);
    let (run, failure) = runtime().block_on(async {
        let c = reqwest::Client::new();
        let (_, submitted) = call(&c, "POST", &s.url("/api/runs"), None, Some(&trials_run())).await;
        let run = submitted["run"].as_i64().expect("run");
        wait_run(&c, &s, None, run).await;
        let ok = serde_json::to_string(&Submission {
            run: RunSpec { name: "greetings".into(), ..RunSpec::default() },
            jobs: (0..6).map(|i| JobSpec::new("trials", "greet", json!([format!("elf {i}")]))).collect(),
        })
        .expect("json");
        let (_, second) = call(&c, "POST", &s.url("/api/runs"), None, Some(&ok)).await;
        wait_run(&c, &s, None, second["run"].as_i64().expect("run")).await;
        // A run still going: three greetings done, two long naps claimed.
        let going = serde_json::to_string(&Submission {
            run: RunSpec { name: "naps".into(), ..RunSpec::default() },
            jobs: (0..5)
                .map(|i| {
                    if i < 3 {
                        JobSpec::new("trials", "greet", json!([format!("napper {i}")]))
                    } else {
                        JobSpec::new("trials", "nap", json!([120_000]))
                    }
                })
                .collect(),
        })
        .expect("json");
        let (_, third) = call(&c, "POST", &s.url("/api/runs"), None, Some(&going)).await;
        let third = third["run"].as_i64().expect("run");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, v) = call(&c, "GET", &s.url(&format!("/api/runs/{third}")), None, None).await;
            if v["progress"]["succeeded"] == 3 {
                break;
            }
            assert!(Instant::now() < deadline, "the greetings did not finish: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, list) = call(&c, "GET", &s.url("/api/failures?kind=panic"), None, None).await;
        (run, list["items"][0]["id"].as_i64().expect("a panic"))
    });
    page(&s, "/", "runs", &["greetings", "trials", "naps", "class=\"badge failed\"", "class=\"badge running\"", "3/5"]);
    let dom = page(&s, &format!("/runs/{run}"), "run", &["class=\"graph-svg\"", "data-mode=\"jobs\"", "data-job="]);
    assert!(dom.contains("data-state=\"failed\"") && dom.contains("data-state=\"upstream_failed\""), "{dom}");
    assert!(dom.contains("1/3 succeeded, 2 failed, 0 open"), "{dom}");
    page(&s, &format!("/jobs/{}", 1), "job", &["hello, web", "Producers", "id=\"history\"", "job_state", "data-seq="]);
    page(&s, "/failures", "failures", &["index out of bounds", "upstream_failed"]);
    page(&s, "/failures?group=true", "failures", &["Failures by signature", "data-signature="]);
    let dom = page(
        &s,
        &format!("/failures/{failure}"),
        "failure",
        &["class=\"line marked\"", "fruits[n as usize]", "Traceback"],
    );
    let marked = dom.split("class=\"line marked\"").nth(1).unwrap_or_default();
    assert!(
        marked.split("</div>").next().unwrap_or_default().contains("fruits[n as usize]"),
        "the failing line is marked"
    );
    assert!(dom.contains("mycelium_elves::trials::tasks::pick"), "the project's frames are listed");
    page(&s, "/elves", "elves", &["trials", "class=\"badge healthy\""]);
    page(&s, "/tasks", "tasks", &["trials/pick", "trials/greet"]);
    page(&s, "/tasks/trials/pick", "task", &["fruits[n as usize]", "latest"]);
    for (path, name) in [
        ("/".to_owned(), "runs"),
        (format!("/runs/{run}"), "run"),
        (format!("/failures/{failure}"), "failure"),
        ("/elves".to_owned(), "elves"),
    ] {
        screenshot(&s.url(&path), name);
    }
}

#[test]
#[cfg_attr(no_chromium, ignore = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)")]
fn a_run_of_10000_jobs_is_summarised_and_paged() {
    let s = Server::start(&["--allow-loopback-without-token"]);
    let store = mycelium::Store::open(&s.store).expect("open");
    // 10,000 jobs: a fan-out of 9,999 into one, nothing serving them.
    let mut jobs: Vec<JobSpec> =
        (0..9_999).map(|i| JobSpec::new("big", "part", json!([i])).with_key(format!("p{i}"))).collect();
    let refs: Vec<_> = (0..9_999).map(|i| json!({"$output": format!("p{i}")})).collect();
    jobs.push(JobSpec::new("big", "join", json!([refs])).with_key("join"));
    let done = store.submit(&Submission { run: RunSpec::named("big"), jobs }).expect("submit");
    let path = format!("/runs/{}", done.run);
    let started = Instant::now();
    let dom = page(&s, &path, "run", &["data-mode=\"tasks\"", "10000 jobs: more than 300", "big/part", "big/join"]);
    let took = started.elapsed();
    let rows = dom.matches("data-job=").count();
    assert_eq!(rows, 50, "one page of jobs, not 10,000");
    assert!(dom.contains("0/10000 succeeded"), "{dom}");
    assert!(took < Duration::from_secs(30), "the page took {took:?}");
    screenshot(&s.url(&path), "run-10000");
}

#[test]
#[cfg_attr(no_chromium, ignore = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)")]
fn flow_signal_queue_and_schedule_pages_show_real_data() {
    use crate::serve::agents::until;
    let s = Server::start(&["--allow-loopback-without-token"]);
    let _coordinator = Proc::coordinator(&s.store);
    let _flows = Proc::elf("flows", &s.store, &[]);
    let _agents = Proc::elf("agents-a", &s.store, &[]);
    let _clock = Proc::elf("agents-clock", &s.store, &[]);
    let job = runtime().block_on(async {
        let c = reqwest::Client::new();
        // A flow waiting for `go` after writing a line.
        let start = json!({"task": "flows/greeter", "key": "greet"}).to_string();
        let (_, started) = call(&c, "POST", &s.url("/api/flows"), None, Some(&start)).await;
        until(&c, &s, None, "/api/flows/greet", "the flow waits", |v| v["waits"]["signals"] == json!(["go"])).await;
        // A ping emitted, a dead message in `doomed`, messages waiting in `work`.
        call(&c, "POST", &s.url("/api/signals/ping"), None, Some("{\"n\": 1}")).await;
        let dead = json!({"messages": [{"n": 1, "unless": "/nonexistent/file"}]}).to_string();
        call(&c, "POST", &s.url("/api/queues/doomed/messages"), None, Some(&dead)).await;
        until(&c, &s, None, "/api/queues/doomed/dead", "a message dies", |v| {
            v.as_array().is_some_and(|a| !a.is_empty())
        })
        .await;
        // The clock's schedule has fired at least once.
        until(&c, &s, None, "/api/schedules", "the clock ticks", |v| v[0]["fired"].as_u64().is_some_and(|n| n > 0))
            .await;
        started["job"].as_i64().expect("a job")
    });
    page(&s, "/flows", "flows", &["flows/greeter", &format!("data-flow=\"{job}\""), "id=\"start-flow\""]);
    let path = format!("/flows/{job}");
    let dom = page(
        &s,
        &path,
        "flow",
        &["hello from the flow", "data-wait=\"signal\"", "id=\"signal-form\"", "data-step=\"1\""],
    );
    assert!(dom.contains("<code>go</code>"), "the awaited signal is named: {dom}");
    page(&s, "/flows/greet", "flow", &[&format!("Flow j{job}")]);
    page(&s, &format!("/jobs/{job}"), "job", &["id=\"flow-link\""]);
    page(&s, "/signals", "signals", &["data-signal=\"ping\"", "agents-a/ping_a", "id=\"emit-form\""]);
    page(&s, "/queues", "queues", &["data-queue=\"doomed\"", "data-queue=\"work\"", "agents-a/doomed"]);
    page(&s, "/queues/doomed", "queue", &["data-dead=", "cannot be consumed yet", "Requeue all", "id=\"send-form\""]);
    page(
        &s,
        "/schedules",
        "schedules",
        &["data-schedule=\"agents-clock/beat\"", "every 1.0s", "data-action=\"pause\"", "data-action=\"trigger\""],
    );
    for (path, name) in [
        (path.clone(), "flow"),
        ("/signals".to_owned(), "signals"),
        ("/queues/doomed".to_owned(), "queue"),
        ("/schedules".to_owned(), "schedules"),
    ] {
        screenshot(&s.url(&path), name);
    }
}

/// `GET path` on the server (loopback: no token needed): its JSON body,
/// `null` for an error answer.
fn api(s: &Server, path: &str) -> Value {
    match ureq::get(&s.url(path)).call() {
        Ok(mut res) => {
            serde_json::from_str(&res.body_mut().read_to_string().unwrap_or_default()).unwrap_or(Value::Null)
        }
        Err(_) => Value::Null,
    }
}

/// Polls `GET path` until `done` holds of its body; the body.
fn api_until(s: &Server, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = api(s, path);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: GET {path} answered {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The run named `name` in the first page of runs.
fn run_named(s: &Server, name: &str) -> Option<Value> {
    api(s, "/api/runs?limit=500")["items"].as_array()?.iter().find(|r| r["name"] == name).cloned()
}

#[test]
#[cfg_attr(no_chromium, ignore = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)")]
fn clicking_the_dashboards_buttons_and_forms_changes_the_store() {
    let s = Server::start(&["--allow-loopback-without-token"]);
    let _coordinator = Proc::coordinator(&s.store);
    let _trials = Proc::elf("trials", &s.store, &[]);
    let _flows = Proc::elf("flows", &s.store, &[]);
    let _agents = Proc::elf("agents-a", &s.store, &[]);
    let mut b = Browser::start();

    // Submit: the form is made from trials/greet's signature (one field, `name: String`).
    b.goto(&s.url("/"));
    b.click("#submit summary");
    b.choose("#submit-form select[name=task]", "trials/greet");
    b.wait_for("#submit-args[data-task='trials/greet'] input[name=arg0]");
    assert!(b.text("#submit-args").contains("name: String"), "{}", b.text("#submit-args"));
    // Not JSON: the form says which argument, and nothing is submitted.
    b.fill("#submit-form input[name=arg0]", "from a browser");
    b.fill("#submit-form input[name=run]", "clicked");
    b.click("#submit-form button");
    let said = b.wait("document.querySelector('#submit-form .result.error')?.innerText", "the form refuses");
    assert!(said.as_str().is_some_and(|t| t.contains("argument name is not JSON")), "{said}");
    assert!(run_named(&s, "clicked").is_none(), "nothing was submitted");
    b.fill("#submit-form input[name=arg0]", "\"from a browser\"");
    b.click("#submit-form button");
    let said = b.wait("document.querySelector('#submit-form .result:not(.error)')?.innerText", "the form answers");
    assert!(said.as_str().is_some_and(|t| t.starts_with("submitted: run r")), "{said}");
    let run = run_named(&s, "clicked").expect("the run was submitted");
    let rid = run["id"].as_i64().expect("an id");
    let jobs =
        api_until(&s, &format!("/api/runs/{rid}/jobs"), "the greeting runs", |v| v["items"][0]["state"] == "succeeded");
    assert_eq!(jobs["items"][0]["args"], json!(["from a browser"]), "{jobs}");
    assert_eq!((&jobs["items"][0]["elf"], &jobs["items"][0]["task"]), (&json!("trials"), &json!("greet")));
    b.wait(&format!("!!document.querySelector('tr[data-run=\"{rid}\"]')"), "the runs table lists the new run");

    // Cancel: a run with a long nap, cancelled from its page.
    let nap = serde_json::to_string(&Submission {
        run: RunSpec::named("sleepy"),
        jobs: vec![JobSpec::new("trials", "nap", json!([120_000]))],
    })
    .expect("json");
    let sleepy = runtime().block_on(async {
        let (_, v) = call(&reqwest::Client::new(), "POST", &s.url("/api/runs"), None, Some(&nap)).await;
        v["run"].as_i64().expect("a run")
    });
    b.goto(&s.url(&format!("/runs/{sleepy}")));
    b.click("#cancel-run");
    let v = api_until(&s, &format!("/api/runs/{sleepy}"), "the run is cancelled", |v| v["run"]["state"] != "running");
    assert_eq!(v["run"]["state"], "cancelled", "{v}");
    b.wait("document.querySelector('#page h1 .badge')?.textContent === 'cancelled'", "the page shows it cancelled");

    // Retry: the trials run fails (pick 7 panics); retried from the run's page, then from the job's.
    let trials = runtime().block_on(async {
        let c = reqwest::Client::new();
        let (_, v) = call(&c, "POST", &s.url("/api/runs"), None, Some(&trials_run())).await;
        let run = v["run"].as_i64().expect("a run");
        wait_run(&c, &s, None, run).await;
        run
    });
    let pick = api(&s, &format!("/api/runs/{trials}/jobs"))["items"]
        .as_array()
        .and_then(|a| a.iter().find(|j| j["key"] == "pick").cloned())
        .expect("the pick job");
    let pick = pick["id"].as_i64().expect("an id");
    b.goto(&s.url(&format!("/runs/{trials}")));
    b.click("#retry-run");
    let attempt = |n: u64| move |v: &Value| v["job"]["attempt"].as_u64() == Some(n) && v["job"]["state"] == "failed";
    api_until(&s, &format!("/api/jobs/{pick}"), "the retried pick fails again", attempt(2));
    b.goto(&s.url(&format!("/jobs/{pick}")));
    b.click("#retry-job");
    api_until(&s, &format!("/api/jobs/{pick}"), "the job retried from its page fails again", attempt(3));

    // Start a flow, then send it the signal it waits for.
    b.goto(&s.url("/flows"));
    b.fill("#start-flow input[name=task]", "flows/greeter");
    b.fill("#start-flow input[name=key]", "clicked-flow");
    b.click("#start-flow button");
    let flow =
        api_until(&s, "/api/flows/clicked-flow", "the flow waits for go", |v| v["waits"]["signals"] == json!(["go"]));
    let job = flow["job"]["id"].as_i64().expect("the flow's job");
    b.wait(&format!("location.pathname === '/flows/{job}'"), "the form leads to the flow's page");
    b.rendered("the flow's page");
    b.fill("#signal-form input[name=name]", "go");
    b.fill("#signal-form input[name=payload]", "null");
    b.click("#signal-form button");
    let v = api_until(&s, &format!("/api/flows/{job}"), "the flow ends", |v| v["job"]["state"] == "succeeded");
    assert_eq!(v["signals"][0]["name"], "go", "{v}");

    // Emit a signal to its receivers.
    b.goto(&s.url("/signals"));
    b.choose("#emit-form select[name=signal]", "ping");
    b.fill("#emit-form input[name=payload]", "{\"n\": 5}");
    b.fill("#emit-form input[name=key]", "clicked-emit");
    b.click("#emit-form button");
    let said = b.wait("document.querySelector('#emit-form .result')?.innerText", "the emit form answers");
    assert!(said.as_str().is_some_and(|t| t.contains("emitted ping to 1 receiver")), "{said}");
    let signals = api_until(&s, "/api/signals", "ping was emitted", |v| {
        v.as_array().is_some_and(|a| a.iter().any(|x| x["name"] == "ping" && x["emitted"] == 1))
    });
    assert!(signals.is_array());
    let emitted = api_until(&s, "/api/jobs?elf=agents-a&task=ping_a", "the receiver runs", |v| {
        v["items"].as_array().is_some_and(|a| a.len() == 1 && a[0]["state"] == "succeeded")
    });
    let delivered = emitted["items"][0]["id"].as_i64().expect("a job");
    let v = api(&s, &format!("/api/jobs/{delivered}"));
    assert_eq!(v["result"], 5, "the typed payload reached the receiver, which answers its number: {v}");

    // Schedules: a bad cron is refused naming it; a good one added, paused, removed.
    b.goto(&s.url("/schedules"));
    b.fill("#schedule-form input[name=name]", "nightly-greet");
    b.fill("#schedule-form input[name=task]", "trials/greet");
    b.choose("#schedule-form select[name=kind]", "cron");
    b.fill("#schedule-form input[name=when]", "0 25 * * *");
    b.fill("#schedule-form input[name=args]", "[\"night\"]");
    b.click("#schedule-form button");
    let said = b.wait("document.querySelector('#schedule-form .result.error')?.innerText", "the bad cron is refused");
    assert!(said.as_str().is_some_and(|t| t.contains("`cron`")), "{said}");
    assert_eq!(api(&s, "/api/schedules"), json!([]), "nothing was added");
    b.fill("#schedule-form input[name=when]", "0 3 * * *");
    b.click("#schedule-form button");
    b.wait_for("tr[data-schedule='nightly-greet']");
    let all = api(&s, "/api/schedules");
    assert_eq!(all[0]["name"], "nightly-greet", "{all}");
    assert_eq!(all[0]["spec"], json!({"kind": "cron", "expr": "0 3 * * *", "tz": "UTC"}), "{all}");
    assert_eq!(all[0]["args"], json!(["night"]), "{all}");
    b.click("tr[data-schedule='nightly-greet'] button[data-action=pause]");
    api_until(&s, "/api/schedules", "the schedule is paused", |v| v[0]["paused"] == true);
    b.wait_for("tr[data-schedule='nightly-greet'] button[data-action=resume]");
    b.click("tr[data-schedule='nightly-greet'] button[data-action=remove]");
    api_until(&s, "/api/schedules", "the schedule is removed", |v| v == &json!([]));
    b.wait("!document.querySelector('tr[data-schedule]')", "the row is gone");
}

/// Clicks `selector` until `GET path` shows `done`: the queue page
/// re-renders whenever a message changes state, and a click that lands on
/// the button as it is being replaced does nothing (a user clicks again).
fn click_until(b: &mut Browser, s: &Server, selector: &str, path: &str, what: &str, done: impl Fn(&Value) -> bool) {
    for _ in 0..10 {
        b.wait_for(selector);
        b.click(selector);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if done(&api(s, path)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{what}: clicking {selector} never did it; GET {path} answered {}", api(s, path));
}

/// The queue page's buttons and form, clicked: send a message that dies,
/// requeue it from its row once it can succeed, requeue all, purge.
#[test]
#[cfg_attr(no_chromium, ignore = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)")]
fn clicking_the_queue_pages_buttons_sends_requeues_and_purges() {
    let s = Server::start(&["--allow-loopback-without-token"]);
    let _coordinator = Proc::coordinator(&s.store);
    let _agents = Proc::elf("agents-a", &s.store, &["--slots", "2"]);
    let marker = tempfile::tempdir().expect("tempdir").keep().join("consumable");
    let marker_text = marker.display().to_string();
    let message = |n: u64| json!({"n": n, "unless": marker_text}).to_string();
    let mut b = Browser::start();
    // `doomed` fails a message until the marker file exists (2 attempts).
    api_until(&s, "/api/queues/doomed", "the consumer registered its queue", |v| v["queue"]["name"] == "doomed");
    b.goto(&s.url("/queues/doomed"));
    b.rendered("the queue page");
    // The page re-renders as messages change state (and after a send), so
    // the field is filled and its button clicked in one step.
    let send = |b: &mut Browser, text: &str| {
        let js = format!(
            "(() => {{ const f = document.querySelector('#send-form'); f.elements.message.value = {}; \
             f.querySelector('button').click(); return true; }})()",
            serde_json::to_string(text).expect("json")
        );
        assert_eq!(b.eval(&js), json!(true));
    };
    let jobs_of = |task: &str| format!("/api/jobs?elf=agents-a&task={task}");
    let count = |n: usize| move |v: &Value| v["items"].as_array().is_some_and(|a| a.len() == n);
    b.fill("#send-form input[name=message]", &message(1));
    b.click("#send-form button");
    api_until(&s, &jobs_of("doomed"), "the form sends the message", count(1));
    // The answer outlives the page's re-render after a send (300 ms later).
    std::thread::sleep(Duration::from_millis(600));
    let said = b.wait("document.querySelector('#send-form .result')?.innerText", "the send form's answer");
    assert!(said.as_str().is_some_and(|t| t.starts_with("sent: job(s) j")), "{said}");
    let v =
        api_until(&s, "/api/queues/doomed/dead", "the message dies", |v| v.as_array().is_some_and(|a| a.len() == 1));
    let dead = v[0]["job"]["id"].as_i64().expect("the dead message's job");
    std::fs::write(&marker, "").expect("the marker");
    let row = format!("tr[data-dead='{dead}'] button");
    click_until(&mut b, &s, &row, &format!("/api/jobs/{dead}"), "the requeued message is consumed", |v| {
        v["job"]["state"] == "succeeded"
    });
    b.wait("document.querySelector('#dead')?.innerText === 'No dead message.'", "the page shows no dead letter");

    // Two more die (no marker), then `Requeue all` brings both back.
    std::fs::remove_file(&marker).expect("remove the marker");
    for n in [2, 3] {
        send(&mut b, &message(n));
        api_until(&s, &jobs_of("doomed"), "the form sends the message", count(n as usize));
    }
    api_until(&s, "/api/queues/doomed", "both die", |v| v["queue"]["dead"] == 2);
    std::fs::write(&marker, "").expect("the marker");
    b.goto(&s.url("/queues/doomed"));
    click_until(&mut b, &s, "#requeue-all", "/api/queues/doomed", "both are consumed", |v| {
        v["queue"]["dead"] == 0 && v["queue"]["waiting"] == 0
    });
    // Neither dead nor waiting may still mean in flight: wait for the end.
    api_until(&s, &jobs_of("doomed"), "every message is consumed", |v| {
        v["items"].as_array().is_some_and(|a| a.len() == 3 && a.iter().all(|j| j["state"] == "succeeded"))
    });

    // Purge: `work` holds 2 messages in flight (2 slots, a minute each); the
    // rest wait, and the button drops them.
    b.goto(&s.url("/queues/work"));
    b.rendered("the work queue's page");
    for n in 0..6 {
        send(&mut b, &json!({"n": n, "ms": 60_000}).to_string());
        api_until(&s, &jobs_of("work"), "the form sends the message", count(n + 1));
    }
    api_until(&s, "/api/queues/work", "2 in flight, 4 waiting", |v| {
        v["queue"]["in_flight"] == 2 && v["queue"]["waiting"] == 4
    });
    click_until(&mut b, &s, "#purge", "/api/queues/work", "the waiting ones are purged", |v| {
        v["queue"]["waiting"] == 0
    });
    let v = api(&s, "/api/queues/work");
    assert_eq!(
        (&v["queue"]["waiting"], &v["queue"]["in_flight"]),
        (&json!(0), &json!(2)),
        "those being consumed finish: {v}"
    );
    std::fs::remove_dir_all(marker.parent().expect("its folder")).ok();
}

#[test]
#[cfg_attr(no_chromium, ignore = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)")]
fn runs_and_failures_page_by_offset_in_the_browser() {
    let s = Server::start(&["--allow-loopback-without-token"]);
    let _coordinator = Proc::coordinator(&s.store);
    let _trials = Proc::elf("trials", &s.store, &[]);
    let store = mycelium::Store::open(&s.store).expect("open");
    // 30 runs (the page shows 25), the last of 55 failing picks (the page shows 50 failures).
    for i in 0..29 {
        store
            .submit(&Submission {
                run: RunSpec::named(format!("page-{i}")),
                jobs: vec![JobSpec::new("x", "y", json!([]))],
            })
            .expect("submit");
    }
    let picks = (0..55).map(|i| JobSpec::new("trials", "pick", json!([7 + i]))).collect();
    let failing = store.submit(&Submission { run: RunSpec::named("picks"), jobs: picks }).expect("submit");
    api_until(&s, &format!("/api/runs/{}", failing.run), "the picks fail", |v| v["progress"]["failed"] == 55);

    let mut b = Browser::start();
    b.goto(&s.url("/runs"));
    let rows = "document.querySelectorAll('tr[data-run]').length";
    assert_eq!(b.eval(rows), json!(25));
    assert!(b.text("tr[data-run]").contains("picks"), "the most recent run comes first");
    b.click("button[data-page=next]");
    b.wait(&format!("{rows} === 5"), "the second page holds the 5 oldest runs");
    assert!(b.text("tr[data-run]").contains("page-4"), "{}", b.text("table"));
    b.wait("document.querySelector('button[data-page=next]').disabled", "no third page");
    b.click("button[data-page=prev]");
    b.wait(&format!("{rows} === 25"), "back to the first page");

    b.goto(&s.url("/failures"));
    let rows = "document.querySelectorAll('tr[data-failure]').length";
    assert_eq!(b.eval(rows), json!(50));
    let first: Vec<i64> = ids(&mut b, "tr[data-failure]", "data-failure");
    b.click("button[data-page=next]");
    b.wait(&format!("{rows} === 5"), "the second page holds the 5 oldest failures");
    let second = ids(&mut b, "tr[data-failure]", "data-failure");
    assert!(
        first.iter().all(|f| second.iter().all(|g| g < f)),
        "older failures on the next page: {first:?} {second:?}"
    );
}

/// The `attr` of every element `selector` matches, as numbers.
fn ids(b: &mut Browser, selector: &str, attr: &str) -> Vec<i64> {
    let v =
        b.eval(&format!("[...document.querySelectorAll({selector:?})].map((e) => Number(e.getAttribute({attr:?})))"));
    v.as_array().map(|a| a.iter().filter_map(Value::as_i64).collect()).unwrap_or_default()
}
