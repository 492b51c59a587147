//! The HTTP layer under arangors: ureq (blocking, rustls) with request and
//! connect timeouts, a connection pool that drops idle connections before
//! the server does, and JWT authentication renewed when the server's session
//! timeout ends a token; plus the few calls every request of the backend goes
//! through ([`HttpClient::call`]: a method, a path, a JSON body, a Stream
//! Transaction id; the answer's JSON or the error it carries).
//!
//! arangors 0.6's own clients set no timeout (a dead connection hangs a
//! worker forever), never renew a JWT (elves get `401` after the server's
//! session timeout) and, for reqwest, need an async runtime or panic inside
//! one; the store is synchronous and runs inside the elves' runtimes, so this
//! one is blocking and has none of the three problems. It plugs in through
//! arangors' `ClientExt`, whose constructor takes no context, so the store's
//! settings reach it through [`scoped`] while arangors builds its clients.

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use arangors::ClientError;
use arangors::client::ClientExt;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde_json::Value;
use url::Url;

use super::config::{Config, Credentials};

/// The prefix of a transport failure's message (the server was not reached
/// or did not answer): mapped to `Unavailable`.
pub(super) const UNREACHABLE: &str = "unreachable: ";
/// The prefix of a rejected login: mapped to a configuration error.
pub(super) const UNAUTHORIZED: &str = "unauthorized: ";

/// Largest response body read (a claim of many large jobs is big).
const BODY_LIMIT: u64 = 4 << 30;
/// Idle pooled connections are dropped after this, well before ArangoDB's
/// keep-alive timeout (300 s) closes them under us.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// What every client of one store shares: the agent (connection pool) and
/// the login.
pub(super) struct Shared {
    agent: ureq::Agent,
    endpoint: Url,
    credentials: Option<Credentials>,
    token: RwLock<Option<Arc<str>>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("endpoint", &self.endpoint.as_str())
            .field("user", &self.credentials.as_ref().map(|c| c.user.as_str()))
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Settings for `config`, logging in as `credentials` (none: the server
    /// runs without authentication).
    pub(super) fn new(config: &Config, credentials: Option<Credentials>) -> Arc<Self> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .timeout_connect(Some(config.connect_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_idle_age(MAX_IDLE)
            .user_agent(concat!("mycelium/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Arc::new(Self { agent, endpoint: config.endpoint.clone(), credentials, token: RwLock::new(None) })
    }

    /// The current token, logging in when there is none.
    fn token(&self) -> Result<Option<Arc<str>>, ClientError> {
        if self.credentials.is_none() {
            return Ok(None);
        }
        if let Some(t) = self.token.read().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(Some(t));
        }
        self.renew(None).map(Some)
    }

    /// Logs in again unless another thread already replaced `stale`.
    fn renew(&self, stale: Option<&Arc<str>>) -> Result<Arc<str>, ClientError> {
        let mut slot = self.token.write().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = slot.as_ref()
            && stale.is_none_or(|s| !Arc::ptr_eq(s, current))
        {
            return Ok(current.clone());
        }
        let token: Arc<str> = self.login()?.into();
        *slot = Some(token.clone());
        Ok(token)
    }

    /// `POST /_open/auth`: a fresh JWT for the credentials.
    fn login(&self) -> Result<String, ClientError> {
        let Some(creds) = &self.credentials else {
            return Err(ClientError::HttpClient(format!("{UNAUTHORIZED}no credentials to log in with")));
        };
        let url = self.endpoint.join("_open/auth").map_err(|e| ClientError::HttpClient(e.to_string()))?;
        let body = serde_json::json!({ "username": creds.user, "password": creds.password.expose() }).to_string();
        let request = Request::post(url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| ClientError::HttpClient(e.to_string()))?;
        let response = self.send(request)?;
        match response.status() {
            StatusCode::OK => {
                #[derive(serde::Deserialize)]
                struct Jwt {
                    jwt: String,
                }
                let jwt: Jwt = serde_json::from_str(response.body())?;
                Ok(jwt.jwt)
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(ClientError::HttpClient(format!(
                "{UNAUTHORIZED}the server rejected the password of user `{}`",
                creds.user
            ))),
            status => Err(unexpected(status, response.body())),
        }
    }

    /// Sends one request; transport failures become [`UNREACHABLE`] errors.
    fn send(&self, request: Request<String>) -> Result<Response<String>, ClientError> {
        let what = format!("{} {}", request.method(), request.uri().path());
        let mut response = self.agent.run(request).map_err(|e| transport(&what, e))?;
        let text =
            response.body_mut().with_config().limit(BODY_LIMIT).read_to_string().map_err(|e| transport(&what, e))?;
        let (parts, _) = response.into_parts();
        Ok(Response::from_parts(parts, text))
    }
}

fn transport(what: &str, e: ureq::Error) -> ClientError {
    ClientError::HttpClient(format!("{UNREACHABLE}{what}: {e}"))
}

/// A 5xx answer that is not ArangoDB's JSON (a proxy's error page, a server
/// shutting down) means the server is out of reach for now.
fn unexpected(status: StatusCode, body: &str) -> ClientError {
    let head: String = body.chars().take(200).collect();
    if status.is_server_error() {
        ClientError::HttpClient(format!("{UNREACHABLE}HTTP {status}: {head}"))
    } else {
        ClientError::HttpClient(format!("unexpected HTTP {status}: {head}"))
    }
}

thread_local! {
    static SCOPE: RefCell<Option<Arc<Shared>>> = const { RefCell::new(None) };
}

/// Runs `f` with `shared` as the settings of every [`HttpClient`] that
/// arangors creates meanwhile on this thread.
pub(super) fn scoped<T>(shared: &Arc<Shared>, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<Arc<Shared>>);
    impl Drop for Reset {
        fn drop(&mut self) {
            let previous = self.0.take();
            SCOPE.with(|s| *s.borrow_mut() = previous);
        }
    }
    let _reset = Reset(SCOPE.with(|s| s.borrow_mut().replace(shared.clone())));
    f()
}

/// arangors' HTTP client for the ArangoDB store.
#[derive(Clone)]
pub(super) struct HttpClient {
    shared: Arc<Shared>,
    headers: HeaderMap,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers may carry credentials: show only their names.
        let names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("HttpClient").field("shared", &self.shared).field("headers", &names).finish()
    }
}

impl ClientExt for HttpClient {
    fn new<U: Into<Option<HeaderMap>>>(headers: U) -> Result<Self, ClientError> {
        let shared = SCOPE.with(|s| s.borrow().clone()).ok_or_else(|| {
            ClientError::HttpClient("the ArangoDB client was created outside of its store's scope".to_owned())
        })?;
        Ok(Self { shared, headers: headers.into().unwrap_or_default() })
    }

    fn headers(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    fn request(&self, mut request: Request<String>) -> Result<Response<String>, ClientError> {
        for (name, value) in &self.headers {
            if !request.headers().contains_key(name) {
                request.headers_mut().insert(name, value.clone());
            }
        }
        if !request.body().is_empty() && !request.headers().contains_key(CONTENT_TYPE) {
            request.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let explicit_auth = request.headers().contains_key(AUTHORIZATION);
        let token = if explicit_auth { None } else { self.shared.token()? };
        let retry = token.is_some().then(|| clone_request(&request));
        if let Some(t) = &token {
            request.headers_mut().insert(AUTHORIZATION, bearer(t)?);
        }
        let response = self.shared.send(request)?;
        let response = match (response.status(), retry, token) {
            // The token expired (the server's session timeout): log in
            // again and send the request once more.
            (StatusCode::UNAUTHORIZED, Some(mut again), Some(stale)) => {
                let fresh = self.shared.renew(Some(&stale))?;
                again.headers_mut().insert(AUTHORIZATION, bearer(&fresh)?);
                let response = self.shared.send(again)?;
                if response.status() == StatusCode::UNAUTHORIZED {
                    return Err(ClientError::HttpClient(format!(
                        "{UNAUTHORIZED}the server refused a fresh token for user `{}`",
                        self.shared.credentials.as_ref().map_or("?", |c| c.user.as_str())
                    )));
                }
                response
            }
            (_, _, _) => response,
        };
        if response.status().is_server_error() && serde_json::from_str::<serde_json::Value>(response.body()).is_err() {
            return Err(unexpected(response.status(), response.body()));
        }
        Ok(tolerate_database_details(response))
    }
}

/// The header naming the Stream Transaction a request belongs to.
const TRANSACTION_HEADER: HeaderName = HeaderName::from_static("x-arango-trx-id");

impl HttpClient {
    /// Sends `method url` with `body` (JSON), in the Stream Transaction
    /// `trx` when given; the answer's JSON, or the ArangoDB error it carries.
    pub(super) fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        trx: Option<&str>,
    ) -> Result<Value, ClientError> {
        let text = body.map(Value::to_string).unwrap_or_default();
        let mut request = Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(text)
            .map_err(|e| ClientError::HttpClient(e.to_string()))?;
        if let Some(id) = trx {
            let value = HeaderValue::from_str(id)
                .map_err(|_| ClientError::HttpClient(format!("the transaction id `{id}` is not a header value")))?;
            request.headers_mut().insert(TRANSACTION_HEADER, value);
        }
        let response = self.request(request)?;
        parse(response.status(), response.body())
    }
}

/// An ArangoDB answer: its JSON, or the error it carries.
pub(super) fn parse(status: StatusCode, text: &str) -> Result<Value, ClientError> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Err(unexpected(status, text)),
    };
    if v.get("error").and_then(Value::as_bool) == Some(true) {
        return Err(ClientError::Arango(serde_json::from_value(v)?));
    }
    Ok(v)
}

/// arangors insists on a `path` in `GET /_api/database/current`, which
/// servers may leave out; an empty one is added so that opening works.
fn tolerate_database_details(response: Response<String>) -> Response<String> {
    if response.status() != StatusCode::OK || !response.body().contains("\"isSystem\"") {
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match serde_json::from_str::<serde_json::Value>(&body) {
        Ok(mut v) if v["result"].is_object() && v["result"].get("path").is_none() => {
            v["result"]["path"] = serde_json::Value::from("");
            v.to_string()
        }
        _ => body,
    };
    Response::from_parts(parts, body)
}

fn bearer(token: &str) -> Result<HeaderValue, ClientError> {
    let mut value = HeaderValue::from_str(&format!("bearer {token}"))
        .map_err(|_| ClientError::HttpClient("the server sent a token that is not a header value".to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}

fn clone_request(r: &Request<String>) -> Request<String> {
    let mut copy = Request::new(r.body().clone());
    *copy.method_mut() = r.method().clone();
    *copy.uri_mut() = r.uri().clone();
    *copy.version_mut() = r.version();
    *copy.headers_mut() = r.headers().clone();
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::arango::config::Secret;

    fn shared() -> Arc<Shared> {
        let config = Config::parse("arangodb://u:pw@127.0.0.1:9/db?connect_timeout_ms=200").expect("valid");
        Shared::new(&config, Some(Credentials { user: "u".into(), password: Secret::new("hunter2") }))
    }

    #[test]
    fn clients_exist_only_inside_a_scope() {
        assert!(HttpClient::new(None).is_err());
        let s = shared();
        let client = scoped(&s, || HttpClient::new(None)).expect("inside the scope");
        assert!(Arc::ptr_eq(&client.shared, &s));
        assert!(HttpClient::new(None).is_err(), "the scope ends with the closure");
    }

    #[test]
    fn debug_never_shows_credentials() {
        let s = shared();
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer secret-token"));
        let client = scoped(&s, || HttpClient::new(headers)).expect("client");
        let shown = format!("{client:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("authorization") && shown.contains("127.0.0.1"), "{shown}");
    }

    #[test]
    fn a_refused_connection_is_unreachable() {
        // Port 9 (discard) is closed on the test machine: connecting fails.
        let s = shared();
        let client = scoped(&s, || HttpClient::new(None)).expect("client");
        let request = Request::get("http://127.0.0.1:9/_api/version").body(String::new()).expect("request");
        match client.request(request) {
            Err(ClientError::HttpClient(msg)) => assert!(msg.starts_with(UNREACHABLE), "{msg}"),
            other => panic!("expected an unreachable error, got {other:?}"),
        }
    }

    #[test]
    fn answers_with_errors_become_arango_errors() {
        let ok = parse(StatusCode::OK, r#"{"error":false,"code":200,"result":[1]}"#).expect("ok");
        assert_eq!(ok["result"], serde_json::json!([1]));
        let e = parse(StatusCode::CONFLICT, r#"{"error":true,"code":409,"errorNum":1200,"errorMessage":"conflict"}"#)
            .expect_err("error");
        assert!(matches!(&e, ClientError::Arango(a) if a.error_num() == 1200), "{e}");
        match parse(StatusCode::BAD_GATEWAY, "<html>") {
            Err(ClientError::HttpClient(msg)) => assert!(msg.starts_with(UNREACHABLE), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn proxy_error_pages_are_unreachable_not_garbage() {
        match unexpected(StatusCode::BAD_GATEWAY, "<html>502 Bad Gateway</html>") {
            ClientError::HttpClient(msg) => assert!(msg.starts_with(UNREACHABLE) && msg.contains("502"), "{msg}"),
            other => panic!("{other:?}"),
        }
        match unexpected(StatusCode::IM_A_TEAPOT, "") {
            ClientError::HttpClient(msg) => assert!(!msg.starts_with(UNREACHABLE), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
