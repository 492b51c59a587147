//! What requests carry: JSON bodies, query parameters and ids, read with
//! errors that name the input and the fix; and the page of a list.

use std::collections::HashMap;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::serve::error::ApiError;

/// A JSON body of type `T`. An empty body reads as `{}`.
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// A request's body as bytes, 413 past the server's limit.
async fn bytes_of<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than this server accepts (`mycelium serve --max-body-bytes` \
                 sets the limit; pass large data by reference, e.g. a URL or a file path)",
            )
        } else {
            ApiError::bad_request(format!("the request body cannot be read: {}", e.body_text()))
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = bytes_of(request, state).await?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes).map(Body).map_err(|e| {
            let what = short_name::<T>();
            ApiError::bad_request(format!(
                "the request body is not a valid {what} document: {e} (send JSON of the {what} schema in /api/openapi.json)"
            ))
        })
    }
}

/// A body that is a payload: any JSON value, `null` when the body is empty.
#[derive(Debug)]
pub(crate) struct Payload(pub(crate) serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for Payload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = bytes_of(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Payload(serde_json::Value::Null));
        }
        serde_json::from_slice(&bytes).map(Payload).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not JSON: {e} (the body is the payload, e.g. {{\"by\": \"ana\"}}; an empty body is null)"
            ))
        })
    }
}

/// The query parameters of a request, read by name.
#[derive(Debug, Default)]
pub(crate) struct QueryMap(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(map) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("the query string cannot be read: {}", e.body_text())))?;
        Ok(Self(map))
    }
}

impl QueryMap {
    /// The raw value of `name`, when given and not empty.
    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// `name` parsed with `FromStr`, whose error names the value.
    pub(crate) fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.text(name)
            .map(|v| v.parse::<T>().map_err(|e| ApiError::bad_request(format!("query parameter `{name}`: {e}"))))
            .transpose()
    }

    /// An integer parameter within `min..=max`, `default` when absent.
    pub(crate) fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "query parameter `{name}` is `{v}`: expected an integer from {min} to {max}"
                ))),
            },
        }
    }
}

/// An id in a path, parsed with the id type's own message.
pub(crate) fn id<T: FromStr<Err = String>>(what: &str, text: &str) -> Result<T, ApiError> {
    text.parse::<T>().map_err(|e| ApiError::bad_request(format!("path parameter `{what}`: {e}")))
}

/// One page of a list, and the cursor of the next one.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub(crate) struct Page<T> {
    /// The items of this page.
    pub(crate) items: Vec<T>,
    /// Pass as `after` (or `offset`, where the list pages by offset) for the
    /// next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next: Option<i64>,
}

impl<T> Page<T> {
    /// A page of up to `limit` items out of `items` (which may hold one more
    /// to tell whether a next page exists), its cursor made by `cursor`.
    pub(crate) fn of(mut items: Vec<T>, limit: usize, cursor: impl Fn(&T) -> i64) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next = if more { items.last().map(cursor) } else { None };
        Self { items, next }
    }
}

/// The caller's address, when the server knows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub(crate) Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)))
    }
}
