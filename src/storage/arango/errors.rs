//! ArangoDB's errors, mapped to the neutral storage errors.
//!
//! The one place that reads ArangoDB error numbers (from `lib/Basics/errors.dat`)
//! and decides what each means for the caller: run the transaction again
//! ([`Class::Retry`]), wait for the server ([`Class::Unreachable`]), or fix
//! something ([`to_storage`] names what).

use arangors::ClientError;

use super::transport::{UNAUTHORIZED, UNREACHABLE};
use crate::storage::Error;

/// `ERROR_LOCK_TIMEOUT`: a collection lock was not granted within the
/// transaction's `lockTimeout`. arangod answers it with HTTP 500
/// (`lib/Rest/GeneralResponse.cpp` maps it there), so it is told apart by
/// number, never by status.
pub(super) const LOCK_TIMEOUT: u16 = 18;
/// `ERROR_FORBIDDEN`.
pub(super) const FORBIDDEN: u16 = 11;
/// `ERROR_LOCKED`: a Stream Transaction is in use by another request.
pub(super) const LOCKED: u16 = 28;
/// `ERROR_SHUTTING_DOWN`.
pub(super) const SHUTTING_DOWN: u16 = 30;
/// `ERROR_ARANGO_CONFLICT`: a write-write conflict; the transaction is
/// aborted whole and may run again.
pub(super) const CONFLICT: u16 = 1200;
/// `ERROR_ARANGO_DOCUMENT_NOT_FOUND`.
pub(super) const DOCUMENT_NOT_FOUND: u16 = 1202;
/// `ERROR_ARANGO_DATA_SOURCE_NOT_FOUND`: a collection or view is missing.
pub(super) const COLLECTION_NOT_FOUND: u16 = 1203;
/// `ERROR_ARANGO_DUPLICATE_NAME`: the database, collection, index or graph
/// exists already (HTTP 409). Processes racing to create the same thing meet
/// it, and it means "fine, it is there".
pub(super) const DUPLICATE_NAME: u16 = 1207;
/// `ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED`.
pub(super) const UNIQUE_VIOLATED: u16 = 1210;
/// `ERROR_ARANGO_DATABASE_NOT_FOUND`.
pub(super) const DATABASE_NOT_FOUND: u16 = 1228;
/// `ERROR_ARANGO_DATABASE_NAME_INVALID`: not "exists" (issue 11 found that
/// mistake), but a name the server refuses.
pub(super) const DATABASE_NAME_INVALID: u16 = 1229;
/// `ERROR_CLUSTER_TIMEOUT`.
pub(super) const CLUSTER_TIMEOUT: u16 = 1457;
/// `ERROR_CLUSTER_BACKEND_UNAVAILABLE`.
pub(super) const BACKEND_UNAVAILABLE: u16 = 1478;
/// `ERROR_CURSOR_NOT_FOUND`: a cursor expired or its transaction ended.
pub(super) const CURSOR_NOT_FOUND: u16 = 1600;
/// `ERROR_VALIDATION_FAILED`: a document broke its collection's schema.
pub(super) const SCHEMA_VIOLATED: u16 = 1620;
/// `ERROR_TRANSACTION_DISALLOWED_OPERATION`: the transaction was aborted or
/// expired (idle too long) before this request.
pub(super) const TRANSACTION_ABORTED: u16 = 1653;
/// `ERROR_TRANSACTION_NOT_FOUND`: the server does not know the transaction
/// (expired and forgotten, or the server restarted).
pub(super) const TRANSACTION_NOT_FOUND: u16 = 1655;
/// `ERROR_GRAPH_DUPLICATE`: the named graph exists.
pub(super) const GRAPH_DUPLICATE: u16 = 1925;

/// What an error means for the caller, whatever it was doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// A conflict, a lock timeout, a transaction the server gave up: run the
    /// whole transaction again.
    Retry,
    /// A document, collection or database does not exist.
    NotFound,
    /// A unique index refused a second document.
    Duplicate,
    /// A document broke its collection's JSON Schema.
    Schema,
    /// The credentials were refused, or the user may not do this.
    Unauthorized,
    /// The server could not be reached, did not answer in time, or is
    /// shutting down: the outcome of the request is unknown.
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

/// Classifies an error of the HTTP layer or the server.
pub(super) fn classify(e: &ClientError) -> Class {
    match e {
        ClientError::Arango(a) => match (a.error_num(), a.code()) {
            (CONFLICT | LOCK_TIMEOUT | LOCKED | TRANSACTION_ABORTED | TRANSACTION_NOT_FOUND | CURSOR_NOT_FOUND, _) => {
                Class::Retry
            }
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

/// Whether running the whole transaction again may succeed: a conflict, a
/// lock timeout, a transaction the server aborted, or a request whose
/// answer never came (the transaction is aborted first, so nothing of it
/// was committed).
pub(super) fn worth_retrying(e: &ClientError) -> bool {
    matches!(classify(e), Class::Retry | Class::Unreachable)
}

/// The server's message with its error number and HTTP status.
pub(super) fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Arango(a) => format!("{} (ArangoDB error {}, HTTP {})", a.message(), a.error_num(), a.code()),
        other => other.to_string(),
    }
}

/// The storage error for `e`, met while the store at `store` (redacted)
/// tried to `context`.
pub(super) fn to_storage(store: &str, context: &str, e: &ClientError) -> Error {
    let message = describe(e);
    match classify(e) {
        Class::Retry => Error::Unavailable {
            store: store.to_owned(),
            detail: format!("{context}: conflicts or lock waits persisted after retries: {message}"),
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
            ClientError::Arango(a) if a.error_num() == DATABASE_NAME_INVALID => Error::BadUrl {
                url: store.to_owned(),
                problem: format!("{context}: the server refuses the database name: {message}"),
            },
            // The server's message where `{}` shows it, its numbers as the cause.
            ClientError::Arango(a) => Error::backend(
                format!("{context} (on {store}): {}", a.message()),
                std::io::Error::other(format!("ArangoDB error {}, HTTP {}", a.error_num(), a.code())),
            ),
            other => Error::backend(
                format!("{context} (on {store}): {other}"),
                std::io::Error::other("the ArangoDB client failed"),
            ),
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
            // Lock timeouts come with HTTP 500 (GeneralResponse.cpp): the number decides.
            (arango(500, LOCK_TIMEOUT, "lock timeout"), ErrorKind::Unavailable, true),
            (arango(410, TRANSACTION_ABORTED, "transaction aborted"), ErrorKind::Unavailable, true),
            (arango(404, TRANSACTION_NOT_FOUND, "transaction not found"), ErrorKind::Unavailable, true),
            (arango(404, DOCUMENT_NOT_FOUND, "document not found"), ErrorKind::Internal, false),
            (arango(409, UNIQUE_VIOLATED, "unique constraint violated"), ErrorKind::BadInput, false),
            (arango(400, SCHEMA_VIOLATED, "Schema violation"), ErrorKind::BadInput, false),
            (arango(401, 11, "not authorized to execute this request"), ErrorKind::BadInput, false),
            (arango(503, BACKEND_UNAVAILABLE, "no backend"), ErrorKind::Unavailable, true),
            (arango(400, DATABASE_NAME_INVALID, "database name invalid"), ErrorKind::BadInput, false),
            (arango(400, 1579, "access after data-modification"), ErrorKind::Internal, false),
            (
                ClientError::HttpClient(format!("{UNREACHABLE}POST /_api/cursor: Connection refused")),
                ErrorKind::Unavailable,
                true,
            ),
            (
                ClientError::HttpClient(format!("{UNAUTHORIZED}the server rejected the password")),
                ErrorKind::BadInput,
                false,
            ),
            (ClientError::InvalidServer("nginx".into()), ErrorKind::BadInput, false),
        ];
        for (e, kind, retry) in cases {
            assert_eq!(worth_retrying(&e), retry, "{e}");
            let err = to_storage(store, "claim jobs", &e);
            assert_eq!(err.kind(), kind, "{err}");
            assert!(err.to_string().contains(store), "{err}");
        }
    }

    #[test]
    fn a_duplicate_database_is_1207_and_1229_is_a_bad_name() {
        // Issue 11: 1229 was taken for "exists"; it is ERROR_ARANGO_DATABASE_NAME_INVALID.
        assert_eq!(DUPLICATE_NAME, 1207);
        assert_eq!(classify(&arango(409, DUPLICATE_NAME, "duplicate database name")), Class::Other);
        let err = to_storage("s", "create the database", &arango(400, DATABASE_NAME_INVALID, "invalid name"));
        assert!(matches!(err, Error::BadUrl { .. }), "{err}");
    }

    #[test]
    fn messages_name_the_fix() {
        let err = to_storage("s", "open the store", &arango(401, 401, "Wrong credentials"));
        assert!(err.to_string().contains("MYCELIUM_ARANGO_PASSWORD"), "{err}");
        let err = to_storage("s", "submit a run", &arango(400, SCHEMA_VIOLATED, "jobs: schema"));
        assert!(err.to_string().contains("JSON Schema") && err.to_string().contains("1620"), "{err}");
        let err = to_storage("s", "claim jobs", &ClientError::InvalidServer("nginx".into()));
        assert!(err.to_string().contains("hide-product-header"), "{err}");
        assert_eq!(classify(&arango(404, DOCUMENT_NOT_FOUND, "")), Class::NotFound);
        assert_eq!(error_num(&arango(409, CONFLICT, "")), Some(CONFLICT));
    }
}
