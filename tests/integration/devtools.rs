//! Headless Chromium driven through the DevTools protocol, for the browser
//! tests that act: navigate, click at an element's position with real mouse
//! events, type into fields with real key input, and read the DOM. A
//! minimal WebSocket client (text frames, client-masked) is all the
//! protocol needs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long any wait for the page lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(60);

/// A headless Chromium with one page, killed when dropped.
pub(crate) struct Browser {
    chrome: Child,
    ws: Ws,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.chrome.kill();
        let _ = self.chrome.wait();
    }
}

/// The Chromium to run: `MYCELIUM_CHROMIUM` or Debian's /usr/bin/chromium.
pub(crate) fn chromium() -> String {
    std::env::var("MYCELIUM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// Headless flags for this machine's closed network, on a profile of its own.
pub(crate) fn flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1360,900",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

impl Browser {
    /// Starts Chromium (`MYCELIUM_CHROMIUM` or /usr/bin/chromium) on a blank page.
    pub(crate) fn start() -> Browser {
        let exe = chromium();
        let profile = tempfile::tempdir().expect("a profile dir");
        let mut chrome = Command::new(&exe)
            .args(flags(profile.path()))
            .args(["--remote-debugging-port=0", "about:blank"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {exe}: {e}"));
        let stderr = chrome.stderr.take().expect("chromium's stderr");
        let mut lines = BufReader::new(stderr).lines();
        let browser = loop {
            let line = lines.next().expect("chromium said where DevTools listen").expect("read chromium's stderr");
            if let Some(ws) = line.split("DevTools listening on ").nth(1) {
                break ws.trim().to_owned();
            }
        };
        // Keep draining its stderr so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let host = browser.trim_start_matches("ws://").split('/').next().unwrap_or_default().to_owned();
        let targets: Value = serde_json::from_str(&http_get(&host, "/json/list")).expect("DevTools' target list");
        let page = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let mut ws = Ws::connect(&page);
        ws.send("Page.enable", json!({}));
        Browser { chrome, ws, _profile: profile }
    }

    /// Loads `url` and waits until the dashboard has rendered its page.
    pub(crate) fn goto(&mut self, url: &str) {
        self.ws.send("Page.navigate", json!({ "url": url }));
        self.rendered(url);
    }

    /// Waits until the page says it rendered (`data-ready="1"`), failing
    /// with the page's text when it rendered an error.
    pub(crate) fn rendered(&mut self, what: &str) {
        let ready = self.wait(
            "(() => { const p = document.getElementById('page'); return p && p.dataset.ready ? p.dataset.ready : ''; })()",
            &format!("{what} renders"),
        );
        assert_eq!(ready, "1", "{what} rendered an error: {}", self.text("#page"));
    }

    /// The value of a JavaScript expression (promises awaited).
    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        match self.try_eval(expression) {
            Ok(v) => v,
            Err(e) => panic!("Runtime.evaluate `{expression}`: {e}"),
        }
    }

    /// The value of a JavaScript expression, or the protocol's error (the
    /// page navigating away while it ran, say).
    fn try_eval(&mut self, expression: &str) -> Result<Value, Value> {
        let r = self.ws.try_send(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(e) = r["result"].get("exceptionDetails") {
            panic!("`{expression}` threw: {e}");
        }
        Ok(r["result"]["result"]["value"].clone())
    }

    /// Polls `expression` until it is truthy; its value.
    pub(crate) fn wait(&mut self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // A form's submit or a link can navigate while the expression
            // runs: the page it asked is gone, so ask the next one.
            let v = match self.try_eval(expression) {
                Ok(v) => v,
                Err(e) if navigated(&e) => Value::Null,
                Err(e) => panic!("Runtime.evaluate `{expression}`: {e}"),
            };
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: `{expression}` never held; the page:\n{}", self.text("body"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for `selector` to match an element.
    pub(crate) fn wait_for(&mut self, selector: &str) {
        self.wait(&format!("!!document.querySelector({})", js(selector)), &format!("`{selector}` appears"));
    }

    /// The text of the first element `selector` matches ("" when none).
    pub(crate) fn text(&mut self, selector: &str) -> String {
        let v = self.eval(&format!("(document.querySelector({}) || {{}}).innerText || ''", js(selector)));
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the middle of the element `selector` matches, as a mouse does
    /// (moved, pressed, released), once it is visible and enabled.
    pub(crate) fn click(&mut self, selector: &str) {
        let sel = js(selector);
        let rect = self.wait(
            &format!(
                "(() => {{ const el = document.querySelector({sel}); if (!el || el.disabled) return null; \
                 el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect(); \
                 return r.width > 0 && r.height > 0 ? [r.left + r.width / 2, r.top + r.height / 2] : null; }})()"
            ),
            &format!("`{selector}` can be clicked"),
        );
        let (x, y) = (rect[0].as_f64().unwrap_or_default(), rect[1].as_f64().unwrap_or_default());
        self.ws.send("Input.dispatchMouseEvent", json!({ "type": "mouseMoved", "x": x, "y": y }));
        for kind in ["mousePressed", "mouseReleased"] {
            self.ws.send(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "buttons": 1, "clickCount": 1 }),
            );
        }
    }

    /// Clicks the field `selector`, selects what it holds and types `text`
    /// in its place.
    pub(crate) fn fill(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.eval(&format!("document.querySelector({}).select()", js(selector)));
        self.ws.send("Input.insertText", json!({ "text": text }));
        let now = self.eval(&format!("document.querySelector({}).value", js(selector)));
        assert_eq!(now, json!(text), "typing into `{selector}`");
    }

    /// Chooses `value` in the `<select>` `selector` (a headless browser draws
    /// no popup to click in), with the change event a choice fires.
    pub(crate) fn choose(&mut self, selector: &str, value: &str) {
        let ok = self.eval(&format!(
            "(() => {{ const s = document.querySelector({}); if (!s || ![...s.options].some((o) => o.value === {v})) return false; \
             s.value = {v}; s.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            js(selector),
            v = js(value)
        ));
        assert_eq!(ok, json!(true), "`{selector}` has no option `{value}`");
    }
}

/// A string as a JavaScript literal.
fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// A WebSocket connection to one DevTools target, and the last command id.
struct Ws(TcpStream, u64);

impl Ws {
    fn connect(url: &str) -> Ws {
        let rest = url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_once('/').expect("a path");
        let mut s = TcpStream::connect(host).expect("connect to DevTools");
        s.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: bXljZWxpdW0tdGVzdHMhIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("send the upgrade");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).expect("read the upgrade");
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"), "no upgrade: {}", String::from_utf8_lossy(&head));
        Ws(s, 0)
    }

    /// Sends a command and waits for its answer (events in between are
    /// dropped); panics on a protocol error.
    fn send(&mut self, method: &str, params: Value) -> Value {
        match self.try_send(method, params) {
            Ok(msg) => msg,
            Err(e) => panic!("{method}: {e}"),
        }
    }

    /// Sends a command and waits for its answer; the protocol's error as
    /// `Err`.
    fn try_send(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.1 += 1;
        let id = self.1;
        let text = json!({ "id": id, "method": method, "params": params }).to_string();
        let mut frame = vec![0x81u8];
        let n = text.len();
        if n < 126 {
            frame.push(0x80 | n as u8);
        } else if n < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mask = [7u8, 1, 3, 9];
        frame.extend_from_slice(&mask);
        frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.0.write_all(&frame).expect("send to DevTools");
        loop {
            let msg: Value = serde_json::from_slice(&self.read()).expect("DevTools sends JSON");
            if msg["id"].as_u64() == Some(id) {
                return match msg.get("error") {
                    Some(_) => Err(msg),
                    None => Ok(msg),
                };
            }
        }
    }

    /// One message (its frames joined).
    fn read(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.0.read_exact(&mut h).expect("read from DevTools");
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.0.read_exact(&mut b).expect("read from DevTools");
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.0.read_exact(&mut b).expect("read from DevTools");
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.0.read_exact(&mut payload).expect("read from DevTools");
            out.extend_from_slice(&payload);
            if h[0] & 0x80 != 0 {
                return out;
            }
        }
    }
}

/// A GET of DevTools' own HTTP endpoint (which keeps connections open:
/// the body is read by its length).
fn http_get(host: &str, path: &str) -> String {
    let s = TcpStream::connect(host).expect("connect to DevTools");
    s.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    write!(&s, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("ask DevTools");
    let mut reader = BufReader::new(s);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read DevTools' answer");
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a length");
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("read DevTools' answer");
    String::from_utf8_lossy(&body).into_owned()
}

/// Whether a protocol error says the page navigated (or its JavaScript
/// context was replaced) while a command ran: a page, not the test, moved.
fn navigated(error: &Value) -> bool {
    let message = error["error"]["message"].as_str().unwrap_or("");
    ["navigated or closed", "context was destroyed", "Cannot find context"].iter().any(|m| message.contains(m))
}
