//! The OpenAPI 3.1 document of the API, made from the endpoint table (the
//! same table that builds the router) and the schemars schemas of the
//! documents, served at `/api/openapi.json` and checked in as
//! `schemas/openapi.json`: a unit test fails when the two differ, so an
//! endpoint cannot be added or changed without the committed document
//! changing with it (`MYCELIUM_BLESS=1 cargo test --lib openapi` rewrites
//! it).

use axum::Json;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::api::{Doc, Endpoint, endpoints};
use super::error::ErrorBody;

pub(crate) fn own_endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::get("/api/openapi.json", "meta", "This document.", serve)
            .returns_text("application/json")
            .errors(&[])
            .public(),
    ]
}

async fn serve() -> Json<Value> {
    Json(document())
}

fn status_text(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        400 => "Bad request: the message names the input at fault and the fix.",
        401 => "No token, or an unknown or revoked one.",
        403 => "The token's scope does not allow this.",
        404 => "Something named does not exist: the message names it.",
        405 => "The path does not take this method.",
        409 => "A stale lease (fencing) or a state that forbids the write: nothing was written.",
        413 => "The body is larger than the server accepts.",
        503 => "The store is unavailable; the same call may succeed later.",
        _ => "See the message.",
    }
}

fn content(doc: &Doc, g: &mut schemars::SchemaGenerator) -> Value {
    match doc {
        Doc::Json(f) => json!({ "application/json": { "schema": f(g).to_value() } }),
        Doc::Text(media) => json!({ (*media): { "schema": { "type": "string" } } }),
    }
}

/// The OpenAPI 3.1 document of every endpoint.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| s.definitions_path = "/components/schemas".into());
    let mut g = settings.into_generator();
    let error = g.subschema_for::<ErrorBody>().to_value();
    let mut paths: Map<String, Value> = Map::new();
    let mut tags: Vec<&str> = Vec::new();
    for e in endpoints() {
        if !tags.contains(&e.tag) {
            tags.push(e.tag);
        }
        let mut params: Vec<Value> = e
            .path_params()
            .into_iter()
            .map(|name| {
                let (ty, description) = super::api::describe_path_param(name);
                json!({ "name": name, "in": "path", "required": true, "description": description, "schema": { "type": ty } })
            })
            .collect();
        for p in &e.params {
            let location = match p.location {
                super::api::In::Query => "query",
                super::api::In::Header => "header",
            };
            params.push(json!({ "name": p.name, "in": location, "required": false, "description": p.description, "schema": { "type": p.ty } }));
        }
        let mut responses = Map::new();
        let ok = if e.status == 201 { "Created" } else { status_text(e.status) };
        responses.insert(e.status.to_string(), json!({ "description": ok, "content": content(&e.response, &mut g) }));
        let mut errors: Vec<u16> = e.errors.to_vec();
        if e.scope.is_some() {
            errors.extend([401, 403]);
        }
        if e.body.is_some() {
            errors.extend([400, 413]);
        }
        errors.sort_unstable();
        errors.dedup();
        for code in errors {
            responses.insert(
                code.to_string(),
                json!({ "description": status_text(code), "content": { "application/json": { "schema": error.clone() } } }),
            );
        }
        let mut op = json!({
            "operationId": operation_id(&e),
            "summary": e.summary,
            "tags": [e.tag],
            "parameters": params,
            "responses": responses,
        });
        match e.scope {
            Some(scope) => {
                op["security"] = json!([{ "bearer": [] }]);
                op["x-mycelium-scope"] = json!(scope.as_str());
            }
            None => op["security"] = json!([]),
        }
        if let Some(body) = &e.body {
            op["requestBody"] = json!({ "required": true, "content": content(body, &mut g) });
        }
        let entry = paths.entry(e.path.to_owned()).or_insert_with(|| json!({}));
        entry[e.method.as_str().to_ascii_lowercase()] = op;
    }
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "mycelium",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of `mycelium serve`: runs, jobs, failures, task sources, the event log \
                            (also as server-sent events), operations, the elf protocol for elves in any language, \
                            webhooks and metrics. Every endpoint but this document and the dashboard needs a bearer \
                            token (`mycelium token create`): `read` for GET, `operator` for the rest.",
        },
        "tags": tags.iter().map(|t| json!({ "name": t })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
        },
    })
}

/// A stable operation id: method and path, e.g. `get_api_runs_run_graph`.
fn operation_id(e: &Endpoint) -> String {
    let path: String = e
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    format!("{}_{path}", e.method.as_str().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::PathBuf;

    use super::*;

    const FILE: &str = "schemas/openapi.json";

    /// The committed file's text for `doc`: pretty JSON and a newline.
    fn render(doc: &Value) -> String {
        let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
        text.push('\n');
        text
    }

    fn committed() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json"))
    }

    #[test]
    fn openapi_document_is_fresh() {
        let text = render(&document());
        if std::env::var("MYCELIUM_BLESS").is_ok_and(|v| v == "1") {
            std::fs::write(committed(), &text).expect("write schemas/openapi.json");
            return;
        }
        let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
        assert!(
            on_disk == text,
            "{FILE} does not match the endpoints: an endpoint was added or changed without updating it \
             (run `MYCELIUM_BLESS=1 cargo test --lib openapi` and commit the file)"
        );
    }

    #[test]
    fn every_endpoint_is_documented_once_with_its_refs_resolved() {
        let doc = document();
        let mut seen = HashSet::new();
        for e in endpoints() {
            assert!(seen.insert((e.method.clone(), e.path)), "{} {} is in the table twice", e.method, e.path);
            let op = &doc["paths"][e.path][e.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} is not in the document", e.method, e.path);
            for name in e.path_params() {
                let params = op["parameters"].as_array().expect("parameters");
                assert!(params.iter().any(|p| p["name"] == name && p["in"] == "path"), "{} lacks {name}", e.path);
            }
        }
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
