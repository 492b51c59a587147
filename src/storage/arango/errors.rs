//! ArangoDB's errors, mapped to the neutral storage errors.
//!
//! The one place that reads ArangoDB error numbers: conflicts and lock
//! timeouts are retried (see [`is_retryable`]); everything else becomes a
//! [`storage::Error`](crate::storage::Error) whose kind says what the caller
//! can do about it.

use arangors::ClientError;

use super::client::{UNAUTHORIZED, UNREACHABLE};
use crate::storage::Error;

/// `ERROR_ARANGO_CONFLICT`: a write-write conflict; the loser is rolled back
/// whole and may run again.
pub(super) const CONFLICT: u16 = 1200;
/// `ERROR_ARANGO_DOCUMENT_NOT_FOUND`.
pub(super) const DOCUMENT_NOT_FOUND: u16 = 1202;
/// `ERROR_ARANGO_DATA_SOURCE_NOT_FOUND`: a collection or view is missing.
pub(super) const COLLECTION_NOT_FOUND: u16 = 1203;
/// `ERROR_ARANGO_DUPLICATE_NAME`: the collection, index or graph exists.
pub(super) const DUPLICATE_NAME: u16 = 1207;
/// `ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED`.
pub(super) const UNIQUE_VIOLATED: u16 = 1210;
/// `ERROR_ARANGO_DATABASE_NOT_FOUND`.
pub(super) const DATABASE_NOT_FOUND: u16 = 1228;
/// `ERROR_ARANGO_DUPLICATE_NAME` for databases.
pub(super) const DUPLICATE_DATABASE: u16 = 1229;
/// `ERROR_VALIDATION_FAILED`: a document broke its collection's schema.
pub(super) const SCHEMA_VIOLATED: u16 = 1620;
/// `ERROR_GRAPH_DUPLICATE`: the named graph exists.
pub(super) const GRAPH_DUPLICATE: u16 = 1925;
/// `ERROR_LOCK_TIMEOUT`: a collection lock was not granted in time.
pub(super) const LOCK_TIMEOUT: u16 = 18;
/// `ERROR_LOCKED`: the resource is locked by a concurrent operation.
pub(super) const LOCKED: u16 = 28;
/// `ERROR_FORBIDDEN`.
pub(super) const FORBIDDEN: u16 = 11;
/// `ERROR_CLUSTER_TIMEOUT`.
pub(super) const CLUSTER_TIMEOUT: u16 = 1457;
/// `ERROR_CLUSTER_BACKEND_UNAVAILABLE`.
pub(super) const BACKEND_UNAVAILABLE: u16 = 1478;
/// `ERROR_SHUTTING_DOWN`.
pub(super) const SHUTTING_DOWN: u16 = 30;

/// What the error means for the caller, independent of the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// A write-write conflict or a lock timeout: run the operation again.
    Conflict,
    /// A document or collection does not exist.
    NotFound,
    /// A unique index refused a second document.
    Duplicate,
    /// A document broke its collection's JSON Schema.
    Schema,
    /// The credentials were refused, or the user may not do this.
    Unauthorized,
    /// The server could not be reached or is shutting down.
    Unreachable,
    /// Anything else (a bug in a query, an unexpected answer).
    Other,
}

/// The ArangoDB error number of `e`, when the server sent one.
pub(super) fn error_num(e: &ClientError) -> Option<u16> {
    match e {
        ClientError::Arango(a) => Some(a.error_num()),
        _ => None,
    }
}

/// Classifies an arangors error.
pub(super) fn classify(e: &ClientError) -> Class {
    match e {
        ClientError::Arango(a) => match (a.error_num(), a.code()) {
            (CONFLICT | LOCK_TIMEOUT | LOCKED, _) => Class::Conflict,
            (DOCUMENT_NOT_FOUND | COLLECTION_NOT_FOUND | DATABASE_NOT_FOUND, _) => Class::NotFound,
            (UNIQUE_VIOLATED, _) => Class::Duplicate,
            (SCHEMA_VIOLATED, _) => Class::Schema,
            (FORBIDDEN, _) | (_, 401 | 403) => Class::Unauthorized,
            (CLUSTER_TIMEOUT | BACKEND_UNAVAILABLE | SHUTTING_DOWN, _) | (_, 503) => Class::Unreachable,
            _ => Class::Other,
        },
        ClientError::HttpClient(msg) if msg.starts_with(UNREACHABLE) => Class::Unreachable,
        ClientError::HttpClient(msg) if msg.starts_with(UNAUTHORIZED) => Class::Unauthorized,
        ClientError::InsufficientPermission { .. } => Class::Unauthorized,
        _ => Class::Other,
    }
}

/// Whether running the same operation again may succeed at once.
pub(super) fn is_retryable(e: &ClientError) -> bool {
    classify(e) == Class::Conflict
}

/// The storage error for `e`, met while the store at `store` (redacted)
/// tried to `context`.
pub(super) fn to_storage(store: &str, context: &str, e: ClientError) -> Error {
    let message = match &e {
        ClientError::Arango(a) => format!("{} (ArangoDB error {}, HTTP {})", a.message(), a.error_num(), a.code()),
        other => other.to_string(),
    };
    match classify(&e) {
        Class::Conflict => Error::Unavailable {
            store: store.to_owned(),
            detail: format!("{context}: write conflicts persisted after retries: {message}"),
        },
        Class::Unreachable => Error::Unavailable { store: store.to_owned(), detail: format!("{context}: {message}") },
        Class::Unauthorized => Error::BadUrl {
            url: store.to_owned(),
            problem: format!(
                "{context}: {message} (give the right user and password in the URL, in MYCELIUM_ARANGO_USER and \
                 MYCELIUM_ARANGO_PASSWORD, or in the file named by MYCELIUM_ARANGO_PASSWORD_FILE, and grant the \
                 user read-write access to the database)"
            ),
        },
        Class::Schema => Error::invalid(
            format!("document written to {store} while trying to {context}"),
            format!("it does not match its collection's JSON Schema: {message}"),
            "write documents of the shape schemas/ describes",
        ),
        Class::Duplicate => Error::invalid(
            format!("document written to {store} while trying to {context}"),
            format!("a unique index already holds its value: {message}"),
            "use a new key or idempotency key",
        ),
        Class::NotFound | Class::Other => match e {
            ClientError::InvalidServer(server) => Error::BadUrl {
                url: store.to_owned(),
                problem: format!(
                    "the server did not identify as ArangoDB (its Server header is `{server}`; start arangod \
                     without --http.hide-product-header, and point the URL at ArangoDB, not a proxy that rewrites \
                     the header)"
                ),
            },
            e => Error::backend(format!("{context} (on {store})"), e),
        },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::storage::ErrorKind;

    /// An arangors error as the server would send it.
    pub(crate) fn arango(code: u16, num: u16, message: &str) -> ClientError {
        let body = serde_json::json!({ "error": true, "code": code, "errorNum": num, "errorMessage": message });
        ClientError::Arango(serde_json::from_value(body).expect("an ArangoDB error body"))
    }

    #[test]
    fn error_numbers_map_to_neutral_kinds() {
        let store = "arangodb://root@h:8529/db";
        let cases = [
            (arango(409, CONFLICT, "write-write conflict"), ErrorKind::Unavailable, true),
            (arango(409, LOCK_TIMEOUT, "lock timeout"), ErrorKind::Unavailable, true),
            (arango(404, DOCUMENT_NOT_FOUND, "document not found"), ErrorKind::Internal, false),
            (arango(409, UNIQUE_VIOLATED, "unique constraint violated"), ErrorKind::BadInput, false),
            (arango(400, SCHEMA_VIOLATED, "Schema violation"), ErrorKind::BadInput, false),
            (arango(401, 11, "not authorized to execute this request"), ErrorKind::BadInput, false),
            (arango(503, BACKEND_UNAVAILABLE, "no backend"), ErrorKind::Unavailable, false),
            (arango(500, 1501, "syntax error"), ErrorKind::Internal, false),
            (
                ClientError::HttpClient(format!("{UNREACHABLE}POST /_api/cursor: Connection refused")),
                ErrorKind::Unavailable,
                false,
            ),
            (
                ClientError::HttpClient(format!("{UNAUTHORIZED}the server rejected the password")),
                ErrorKind::BadInput,
                false,
            ),
            (ClientError::InvalidServer("nginx".into()), ErrorKind::BadInput, false),
        ];
        for (e, kind, retry) in cases {
            assert_eq!(is_retryable(&e), retry, "{e}");
            let err = to_storage(store, "claim jobs", e);
            assert_eq!(err.kind(), kind, "{err}");
            assert!(err.to_string().contains(store), "{err}");
        }
    }

    #[test]
    fn messages_name_the_fix() {
        let err = to_storage("s", "open the store", arango(401, 401, "Wrong credentials"));
        assert!(err.to_string().contains("MYCELIUM_ARANGO_PASSWORD"), "{err}");
        let err = to_storage("s", "submit a run", arango(400, SCHEMA_VIOLATED, "jobs: schema"));
        assert!(err.to_string().contains("JSON Schema") && err.to_string().contains("1620"), "{err}");
        let err = to_storage("s", "claim jobs", ClientError::InvalidServer("nginx".into()));
        assert!(err.to_string().contains("hide-product-header"), "{err}");
        assert_eq!(classify(&arango(404, DOCUMENT_NOT_FOUND, "")), Class::NotFound);
        assert_eq!(error_num(&arango(409, CONFLICT, "")), Some(CONFLICT));
    }
}
