//! The strict ArangoDB stand-in of `tests/arango/` (node, standard library
//! only): its own test suite run from cargo, a helper that starts its server
//! on a free port for other tests ([`StandIn`]), and one that checks AQL query
//! texts with `tests/arango/check.js` ([`check_aql`]).
//!
//! The stand-in refuses what ArangoDB 3.11/3.12 refuses (see
//! `tests/arango/README.md`): a backend test that passes against it has met
//! the AQL rules, error numbers, locks and transaction semantics of a real
//! server, without one. When `node` is missing the tests say so loudly on
//! stderr and stop (under CI, where node must exist, they fail instead).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The directory of the stand-in's sources.
fn stand_in_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("arango")
}

/// Checks that `node` (20 or newer) runs here. The tests that need it are
/// compiled as ignored when it does not (build.rs sets `no_node`), so
/// reaching this without it is an error, never a silent pass.
fn require_node(test: &str) {
    let version = Command::new("node").arg("--version").output();
    let major = version.as_ref().ok().filter(|o| o.status.success()).and_then(|o| {
        String::from_utf8_lossy(&o.stdout).trim().trim_start_matches('v').split('.').next()?.parse::<u32>().ok()
    });
    match major {
        Some(m) if m >= 20 => {}
        Some(m) => panic!("{test}: node {m} is too old (20 or newer is needed); rebuild the tests after installing it"),
        None => panic!("{test}: `node` cannot be run; install node 20 or newer and rebuild the tests"),
    }
}

/// A running stand-in server (`node tests/arango/server.js`), stopped when
/// dropped: its stdin closes, which ends it.
pub(crate) struct StandIn {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    password: String,
}

impl StandIn {
    /// Starts the stand-in on a free port with user `root` / `password` and
    /// the extra command-line options `args` (see `tests/arango/server.js`).
    pub(crate) fn start(password: &str, args: &[&str]) -> Result<StandIn, String> {
        require_node("ArangoDB stand-in server");
        let script = stand_in_dir().join("server.js");
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--port", "0", "--password", password])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", script.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("the stand-in's stdout is not piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| "the stand-in did not start within 20 s".to_owned())?;
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| format!("the stand-in said {line:?} instead of `listening <port>`"))?;
        Ok(StandIn { child, stdin, port, password: password.to_owned() })
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Its URL with root's credentials, as a store URL for the ArangoDB
    /// backend (`http://root:<password>@127.0.0.1:<port>`; add a database).
    pub(crate) fn credentials_url(&self) -> String {
        format!("http://root:{}@127.0.0.1:{}", self.password, self.port)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks AQL query texts with `tests/arango/check.js`. `input` is its JSON
/// input (`{ "collections": [...], "edges": {...}, "queries": [{ "name",
/// "query", "bindVars": [names] }] }`). Returns the violations (each with
/// `name`, `errorNum`, `rule`, `message`, `source`).
pub(crate) fn check_aql(input: &Value) -> Result<Vec<Value>, String> {
    require_node("AQL checker");
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let file = dir.path().join("queries.json");
    std::fs::write(&file, input.to_string()).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let out = Command::new("node")
        .arg(stand_in_dir().join("check.js"))
        .arg(&file)
        .arg("--json")
        .output()
        .map_err(|e| format!("cannot run check.js: {e}"))?;
    match out.status.code() {
        Some(0 | 1) => {}
        _ => return Err(format!("check.js failed: {}", String::from_utf8_lossy(&out.stderr))),
    }
    let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("check.js answered no JSON: {e}"))?;
    Ok(report["violations"].as_array().cloned().unwrap_or_default())
}

/// A minimal HTTP client for talking to the stand-in (or a real server) in
/// tests: JSON in, `(status, JSON)` out, a JWT once logged in.
pub(crate) struct Http {
    agent: ureq::Agent,
    base: String,
    token: std::sync::Mutex<Option<String>>,
    /// The user and password logged in with, to log in again when the
    /// token expires.
    login: Option<(String, String)>,
}

impl Http {
    /// A client of the server at `base` (`http://host:port`).
    pub(crate) fn new(base: String) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Self { agent, base, token: std::sync::Mutex::new(None), login: None }
    }

    /// `method path` with `body`; the status and the answer's JSON.
    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_in(method, path, body, None)
    }

    /// The same, in the Stream Transaction `trx` when given.
    pub(crate) fn call_in(&self, method: &str, path: &str, body: Option<&Value>, trx: Option<&str>) -> (u16, Value) {
        let (status, value) = self.send(method, path, body, trx);
        match &self.login {
            // The token expired: log in again, once.
            Some((user, password)) if status == 401 && path != "/_open/auth" => {
                self.login_now(user, password);
                self.send(method, path, body, trx)
            }
            _ => (status, value),
        }
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>, trx: Option<&str>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        let token = self.token.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(t) = &token {
            request = request.header("authorization", format!("bearer {t}"));
        }
        if let Some(id) = trx {
            request = request.header("x-arango-trx-id", id);
        }
        let text = body.map(Value::to_string).unwrap_or_default();
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(text).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let mut response = self.agent.run(request).unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("read the answer");
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON answer") };
        (status, value)
    }

    /// Logs in as root.
    pub(crate) fn login(&mut self, password: &str) {
        self.login_as("root", password);
    }

    /// Logs in as `user` (once: an expired token then answers 401).
    pub(crate) fn login_as(&mut self, user: &str, password: &str) {
        self.login_now(user, password);
    }

    /// Logs in as `user`, and again whenever the token expires.
    pub(crate) fn keep_logged_in(&mut self, user: &str, password: &str) {
        self.login_now(user, password);
        self.login = Some((user.to_owned(), password.to_owned()));
    }

    fn login_now(&self, user: &str, password: &str) {
        let (status, body) =
            self.send("POST", "/_open/auth", Some(&json!({ "username": user, "password": password })), None);
        assert_eq!(status, 200, "login: {body}");
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(body["jwt"].as_str().expect("a jwt").to_owned());
    }

    /// The rows of `query` in database `db` (every batch), or the error answer.
    pub(crate) fn query(
        &self,
        db: &str,
        query: &str,
        bind_vars: Value,
        trx: Option<&str>,
    ) -> Result<Vec<Value>, Value> {
        let body = json!({ "query": query, "bindVars": bind_vars });
        let (status, mut page) = self.call_in("POST", &format!("/_db/{db}/_api/cursor"), Some(&body), trx);
        if status != 201 {
            return Err(page);
        }
        let mut rows = page["result"].as_array().cloned().unwrap_or_default();
        while page["hasMore"] == json!(true) {
            let id = page["id"].as_str().expect("a cursor id").to_owned();
            let (status, next) = self.call_in("POST", &format!("/_db/{db}/_api/cursor/{id}"), None, trx);
            if status != 200 {
                return Err(next);
            }
            rows.extend(next["result"].as_array().cloned().unwrap_or_default());
            page = next;
        }
        Ok(rows)
    }
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn the_stand_in_passes_its_own_test_suite() {
    require_node("ArangoDB stand-in test suite");
    let out =
        Command::new("node").args(["--test", "test/"]).current_dir(stand_in_dir()).output().expect("run node --test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout.lines().filter(|l| l.starts_with("# pass") || l.starts_with("# fail")).collect();
    assert!(
        out.status.success(),
        "node --test tests/arango/test/ failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(summary.iter().any(|l| l.starts_with("# pass") && !l.ends_with(" 0")), "no test ran: {summary:?}");
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn a_rust_client_meets_the_stand_ins_batches_tokens_and_errors() {
    let server = StandIn::start("pw", &["--put-cursor", "refuse", "--token-ttl-ms", "800", "--quiet"]).expect("start");
    assert!(server.credentials_url().contains(":pw@127.0.0.1:"));
    let mut http = Http::new(server.url());
    http.login("pw");
    let name = format!("rust_{}", std::process::id());
    assert_eq!(http.call("POST", "/_api/database", Some(&json!({ "name": name }))).0, 201);
    let (status, dup) = http.call("POST", "/_api/database", Some(&json!({ "name": name })));
    assert_eq!((status, dup["errorNum"].as_u64()), (409, Some(1207)), "a duplicate database is 1207: {dup}");
    let db = format!("/_db/{name}");
    assert_eq!(http.call("POST", &format!("{db}/_api/collection"), Some(&json!({ "name": "c" }))).0, 200);
    let (status, _) = http.call(
        "POST",
        &format!("{db}/_api/cursor"),
        Some(&json!({ "query": "FOR i IN 1..5 INSERT { i } INTO c", "bindVars": {} })),
    );
    assert_eq!(status, 201);
    // Small batches: the next-batch path runs (with POST; PUT is refused here).
    let (status, mut page) = http.call(
        "POST",
        &format!("{db}/_api/cursor"),
        Some(&json!({ "query": "FOR x IN c SORT x.i RETURN x.i", "batchSize": 2 })),
    );
    assert_eq!(status, 201);
    let mut all: Vec<Value> = page["result"].as_array().cloned().unwrap_or_default();
    let id = page["id"].as_str().expect("a cursor id").to_owned();
    let (status, refused) = http.call("PUT", &format!("{db}/_api/cursor/{id}"), None);
    assert_eq!(status, 405, "the deprecated PUT is refused: {refused}");
    while page["hasMore"] == json!(true) {
        let (status, next) = http.call("POST", &format!("{db}/_api/cursor/{id}"), None);
        assert_eq!(status, 200, "{next}");
        all.extend(next["result"].as_array().cloned().unwrap_or_default());
        page = next;
    }
    assert_eq!(all, vec![json!(1), json!(2), json!(3), json!(4), json!(5)]);
    // The token expires by time; a new login works.
    std::thread::sleep(Duration::from_millis(900));
    let (status, expired) = http.call("GET", "/_api/version", None);
    assert_eq!((status, expired["errorNum"].as_u64()), (401, Some(11)));
    http.login("pw");
    assert_eq!(http.call("GET", "/_api/version", None).0, 200);
}

#[test]
#[cfg_attr(no_node, ignore = "needs node 20 or newer for the ArangoDB stand-in (see build.rs)")]
fn the_checker_refuses_the_claim_query_of_issue_11() {
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(stand_in_dir().join("fixtures").join("issue11.json")).expect("read the fixture"),
    )
    .expect("the fixture is JSON");
    let mut input = fixture.clone();
    input["edges"] = json!({ "deps": { "from": ["jobs"], "to": ["jobs"] } });
    input["queries"].as_array_mut().expect("queries").push(json!({
        "name": "clean", "query": "FOR j IN jobs FILTER j.run == @run SORT j.id RETURN j", "bindVars": ["run"]
    }));
    let violations = check_aql(&input).expect("check.js runs");
    let found: Vec<(String, u64)> = violations
        .iter()
        .map(|v| (v["name"].as_str().unwrap_or("?").to_owned(), v["errorNum"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(
        found,
        vec![("aql.rs CLAIM".to_owned(), 1579), ("actions.js downstream".to_owned(), 1521)],
        "{violations:#?}"
    );
}
