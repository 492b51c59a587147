//! Bearer tokens: who may call what.
//!
//! Every endpoint but the dashboard's files needs a token whose scope
//! allows it (`read` for reads, `operator` for changes and the elf
//! protocol): no token is 401, a known token of too small a scope is 403.
//! With `--allow-loopback-without-token`, a request from a loopback address
//! without a token gets the operator scope; a token it does send is still
//! checked.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::db::Db;
use super::error::{ApiError, ApiResult};
use crate::storage::Scope;

/// The checker of tokens.
#[derive(Debug)]
pub(crate) struct Auth {
    db: Db,
    loopback: bool,
}

/// Who is calling, once checked.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The token's name (`loopback` without one).
    pub(crate) name: String,
    /// What it may do.
    pub(crate) scope: Scope,
}

impl Caller {
    /// How what the caller writes is recorded: `mycelium serve (token NAME)`,
    /// `-` for a request no guard checked.
    pub(crate) fn program(caller: Option<&Caller>) -> String {
        format!("mycelium serve (token {})", caller.map_or("-", |c| c.name.as_str()))
    }
}

/// The sha256 of a secret, as stored.
pub(crate) fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two strings in time that depends on their length only.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    pub(crate) fn new(db: Db, loopback: bool) -> Self {
        Self { db, loopback }
    }

    /// The caller of a request with `authorization` from `peer`, or why not.
    pub(crate) async fn caller(&self, authorization: Option<&str>, peer: Option<SocketAddr>) -> ApiResult<Caller> {
        let Some(header) = authorization else {
            if self.loopback && peer.is_some_and(|p| p.ip().is_loopback()) {
                return Ok(Caller { name: "loopback".to_owned(), scope: Scope::Operator });
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "this endpoint needs a bearer token: send `Authorization: Bearer <secret>` \
                 (create one with `mycelium token create --scope read --name NAME`)",
            ));
        };
        let secret = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "the Authorization header is not `Bearer <secret>`: send the secret `mycelium token create` printed",
                )
            })?;
        let wanted = hash(secret);
        let tokens = self.db.run("read tokens", |s| s.tokens()).await?;
        let found = tokens.into_iter().filter(|t| t.revoked_at.is_none()).find(|t| same(&t.hash, &wanted));
        found.map(|t| Caller { name: t.name, scope: t.scope }).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the bearer token is not known or was revoked (list tokens with `mycelium token list`)",
            )
        })
    }
}

/// What a guarded route needs.
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    pub(crate) auth: std::sync::Arc<Auth>,
    pub(crate) scope: Scope,
}

/// The middleware of guarded routes: checks the caller's scope.
pub(crate) async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let header = request.headers().get("authorization").map(|v| v.to_str().unwrap_or("\u{0}"));
    let caller = match guard.auth.caller(header, peer).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if !caller.scope.allows(guard.scope) {
        let what = format!("{} {}", request.method(), request.uri().path());
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "token `{}` has scope {}, but {what} needs {} (create one with `mycelium token create --scope {} --name NAME`)",
                caller.name, caller.scope, guard.scope, guard.scope
            ),
        )
        .into_response();
    }
    tracing::debug!(caller = %caller.name, scope = %caller.scope, "authorized");
    request.extensions_mut().insert(caller);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex_and_comparison_is_exact() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
