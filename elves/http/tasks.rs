//! The built-in `http` elf: an outbound HTTP request as a task, so that an
//! orchestration (or a webhook, or any language through the API) can call
//! other services with timeouts, retries by status code and the response
//! recorded as the job's result.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// This module's tasks belong to the elf `http`.
pub const ELF: &str = "http";

/// The statuses retried unless a request says otherwise: timeouts, too
/// early, too many requests and the server errors that are usually passing.
pub const RETRY_ON: [u16; 7] = [408, 425, 429, 500, 502, 503, 504];

/// The timeout unless a request says otherwise, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// An HTTP request to make.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// The URL (http or https).
    pub url: String,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body: a string is sent as it is, any other JSON value as JSON.
    #[serde(default)]
    pub body: Option<Value>,
    /// The whole request's time limit, in milliseconds (default 30000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Statuses that fail the attempt with a retryable error, so that the
    /// job's retry policy tries again (default: 408, 425, 429, 500, 502,
    /// 503, 504). Any other status of 400 or more fails the job for good.
    #[serde(default)]
    pub retry_on: Option<Vec<u16>>,
}

/// The response, recorded as the job's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The response headers (repeated ones joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body: parsed JSON when it is JSON, else its text.
    pub body: Value,
    /// The URL answered (after redirects).
    pub url: String,
    /// How long the request took, in milliseconds.
    pub elapsed_ms: u64,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request itself is wrong (bad method, URL or header).
    #[error("bad request: {0}")]
    Invalid(String),
    /// The server answered a status to retry.
    #[error("HTTP {status} from {url} (a status to retry): {excerpt}")]
    Retryable {
        /// The status.
        status: u16,
        /// The URL.
        url: String,
        /// The start of the body.
        excerpt: String,
    },
    /// The server answered an error status that retrying does not fix.
    #[error("HTTP {status} from {url}: {excerpt}")]
    Status {
        /// The status.
        status: u16,
        /// The URL.
        url: String,
        /// The start of the body.
        excerpt: String,
    },
    /// The request did not get an answer (connection, timeout).
    #[error("no answer from {url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .user_agent(concat!("mycelium-http-elf/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    })
}

fn excerpt(body: &str) -> String {
    let mut cut: String = body.chars().take(200).collect();
    if body.chars().count() > 200 {
        cut.push('…');
    }
    cut
}

fn fatal(e: RequestError) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(mycelium::Fatal::new(e))
}

/// Makes an HTTP request; the response is the result. A status listed in
/// `retry_on` (or, by default, 408/425/429/5xx but 501) fails the attempt so
/// that the job's retry policy tries again; any other error status fails the
/// job for good; a request that gets no answer (timeout, refused
/// connection) is retried.
#[mycelium::task(elf = "http")]
pub async fn request(req: Request) -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
    let method = req.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| fatal(RequestError::Invalid(format!("`{method}` is not an HTTP method"))))?;
    let url = reqwest::Url::parse(&req.url)
        .map_err(|e| fatal(RequestError::Invalid(format!("`{}` is not a URL: {e}", req.url))))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(fatal(RequestError::Invalid(format!("`{url}` is not an http or https URL"))));
    }
    let timeout = Duration::from_millis(req.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    let mut builder = client().request(method, url.clone()).timeout(timeout);
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder = match &req.body {
        None | Some(Value::Null) => builder,
        Some(Value::String(text)) => builder.body(text.clone()),
        Some(json) => builder.header("content-type", "application/json").body(json.to_string()),
    };
    let started = Instant::now();
    let answer = builder.send().await.map_err(|source| RequestError::Transport { url: url.to_string(), source })?;
    let status = answer.status().as_u16();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in answer.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.entry(name.as_str().to_owned()).and_modify(|v| *v = format!("{v}, {value}")).or_insert(value);
    }
    let answered = answer.url().to_string();
    let text = answer.text().await.map_err(|source| RequestError::Transport { url: url.to_string(), source })?;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if status >= 400 {
        let retry_on = req.retry_on.as_deref().unwrap_or(&RETRY_ON);
        let e = if retry_on.contains(&status) {
            RequestError::Retryable { status, url: answered, excerpt: excerpt(&text) }
        } else {
            return Err(fatal(RequestError::Status { status, url: answered, excerpt: excerpt(&text) }));
        };
        return Err(Box::new(e));
    }
    let is_json = headers.get("content-type").is_some_and(|c| c.contains("json"));
    let body = if is_json { serde_json::from_str(&text).unwrap_or(Value::String(text)) } else { Value::String(text) };
    Ok(Response { status, headers, body, url: answered, elapsed_ms })
}
