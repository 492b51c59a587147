//! One endpoint of the API: its route, its scope and what the OpenAPI
//! document says about it.

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::serve::server::AppState;
use crate::storage::Scope;

/// Makes the schema of a request or response body.
pub(crate) type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// A body's kind.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Doc {
    /// JSON of this schema.
    Json(SchemaFn),
    /// Text of this media type.
    Text(&'static str),
}

/// Where a parameter goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum In {
    Query,
    Header,
}

/// A documented parameter.
#[derive(Clone, Debug)]
pub(crate) struct Param {
    pub(crate) name: &'static str,
    pub(crate) location: In,
    /// A JSON Schema type name: integer, string or boolean.
    pub(crate) ty: &'static str,
    pub(crate) description: &'static str,
}

impl Param {
    /// A query parameter (always optional).
    pub(crate) fn query(name: &'static str, ty: &'static str, description: &'static str) -> Self {
        Self { name, location: In::Query, ty, description }
    }

    /// A request header (optional).
    pub(crate) fn header(name: &'static str, description: &'static str) -> Self {
        Self { name, location: In::Header, ty: "string", description }
    }
}

/// An endpoint.
#[derive(Debug)]
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    /// The route, axum syntax (`/api/runs/{run}`), which is OpenAPI's too.
    pub(crate) path: &'static str,
    /// The scope a token needs; `None` for public ones.
    pub(crate) scope: Option<Scope>,
    pub(crate) tag: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) params: Vec<Param>,
    pub(crate) body: Option<Doc>,
    pub(crate) status: u16,
    pub(crate) response: Doc,
    /// Error statuses it may answer, besides 401/403 for guarded ones.
    pub(crate) errors: &'static [u16],
    pub(crate) handler: MethodRouter<AppState>,
}

impl Endpoint {
    fn new(
        method: Method,
        path: &'static str,
        tag: &'static str,
        summary: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        let scope = if method == Method::GET { Scope::Read } else { Scope::Operator };
        Self {
            method,
            path,
            scope: Some(scope),
            tag,
            summary,
            params: Vec::new(),
            body: None,
            status: 200,
            response: Doc::Text("text/plain"),
            errors: &[400, 404],
            handler,
        }
    }

    /// A GET endpoint (read scope).
    pub(crate) fn get<H, T>(path: &'static str, tag: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        Self::new(Method::GET, path, tag, summary, get(handler))
    }

    /// A POST endpoint (operator scope).
    pub(crate) fn post<H, T>(path: &'static str, tag: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        Self::new(Method::POST, path, tag, summary, post(handler))
    }

    /// A DELETE endpoint (operator scope).
    pub(crate) fn delete<H, T>(path: &'static str, tag: &'static str, summary: &'static str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        Self::new(Method::DELETE, path, tag, summary, delete(handler))
    }

    /// Answers JSON of type `T`.
    pub(crate) fn returns<T: JsonSchema>(mut self) -> Self {
        self.response = Doc::Json(schema_of::<T>);
        self
    }

    /// Answers text of this media type.
    pub(crate) fn returns_text(mut self, media: &'static str) -> Self {
        self.response = Doc::Text(media);
        self
    }

    /// Takes a JSON body of type `T`.
    pub(crate) fn takes<T: JsonSchema>(mut self) -> Self {
        self.body = Some(Doc::Json(schema_of::<T>));
        self
    }

    /// Answers `status` on success.
    pub(crate) fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The error statuses it may answer.
    pub(crate) fn errors(mut self, errors: &'static [u16]) -> Self {
        self.errors = errors;
        self
    }

    /// Documents a parameter.
    pub(crate) fn param(mut self, p: Param) -> Self {
        self.params.push(p);
        self
    }

    /// Needs no token (or checks its callers itself).
    pub(crate) fn public(mut self) -> Self {
        self.scope = None;
        self
    }

    /// The names of the path's parameters, in order.
    pub(crate) fn path_params(&self) -> Vec<&'static str> {
        self.path.split('/').filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}')).collect()
    }
}

/// Whether `path` (a request's) matches the route `route`.
pub(crate) fn matches(route: &str, path: &str) -> bool {
    let (r, p): (Vec<_>, Vec<_>) = (route.split('/').collect(), path.split('/').collect());
    r.len() == p.len() && r.iter().zip(&p).all(|(a, b)| a.starts_with('{') || a == b)
}

/// What a path parameter means, by its name.
pub(crate) fn describe_path_param(name: &str) -> (&'static str, &'static str) {
    match name {
        "run" => ("string", "A run id: 12 or r12."),
        "job" => ("string", "A job id: 34 or j34."),
        "failure" => ("string", "A failure id: 7 or f7."),
        "instance" => ("string", "An elf instance id, as registration returned it."),
        "elf" => ("string", "An elf's name."),
        "task" => ("string", "A task's name."),
        "sha" => ("string", "The first hex digits (at least 4) of a task version's sha256."),
        "name" => ("string", "A hook's name in the hooks file."),
        "flow" => (
            "string",
            "A flow: its job (34 or j34), a run whose one open top-level job is the flow (r12), or the run's idempotency key.",
        ),
        "signal" => ("string", "A signal's name."),
        "queue" => ("string", "A queue's name."),
        "exchange" => ("string", "An exchange's name."),
        "schedule" => ("string", "A schedule's name; a declared one is `elf/task`, its slash written %2F."),
        _ => ("string", "A path parameter."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_paths_segment_by_segment() {
        assert!(matches("/api/runs/{run}", "/api/runs/12"));
        assert!(!matches("/api/runs/{run}", "/api/runs/12/graph"));
        assert!(!matches("/api/runs", "/api/jobs"));
    }
}
