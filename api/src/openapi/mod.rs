//! The OpenAPI 3.1 documents of both processes, generated from the code: the schemas are
//! derived (utoipa's `ToSchema`) from this crate's wire types, each route's answers are its
//! [`crate::Reason`]s grouped by `Reason::status` with example envelopes made by
//! `ApiError`, and the routes are data (`node.rs`, `frontend.rs`) that the processes'
//! route-set tests hold against their routers, both ways.
//!
//! The documents are checked in (`openapi/node.json`, `openapi/frontend.json` at the
//! repository root); a test regenerates them and compares byte for byte, so a change to the
//! contract shows in review. `BAZAAR_BLESS=1 cargo test -p bazaar-api openapi` rewrites them.

mod frontend;
mod node;
mod spec;

pub use node::NEVER_SHED as NODE_NEVER_SHED;

use std::collections::BTreeSet;

use utoipa::openapi::server::{Server, ServerBuilder};
use utoipa::openapi::OpenApi;

pub use spec::meaning as reason_meaning;
use spec::{document, DocumentInfo, Op};

/// One route as a router test compares it: the method (`GET`, `POST`, `PATCH`) and the path
/// in axum's syntax, which is OpenAPI's (`/products/{name}`).
pub type Route = (&'static str, &'static str);

/// Which listener of a node serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeListener {
    /// The `api` address: public, admin, status and feed routes (`http::api_router`).
    Api,
    /// The `raft` address: peer RPC (`peer_routes::raft_router`).
    Raft,
}

/// Where the checked-in node document lives, from the repository root.
pub const NODE_DOCUMENT_FILE: &str = "openapi/node.json";
/// Where the checked-in frontend document lives, from the repository root.
pub const FRONTEND_DOCUMENT_FILE: &str = "openapi/frontend.json";

/// A node's routes on one listener, as the node's document lists them.
pub fn node_routes(listener: NodeListener) -> Vec<Route> {
    let ops = match listener {
        NodeListener::Api => node::api_ops(),
        NodeListener::Raft => node::raft_ops(),
    };
    ops.iter().map(Op::route).collect()
}

/// A frontend's routes, as its document lists them.
pub fn frontend_routes() -> Vec<Route> {
    frontend::ops().iter().map(Op::route).collect()
}

/// The node's document: both listeners (the `peer` routes name the `raft` listener as their
/// server). A node serves it at `GET /openapi.json` on its `api` listener.
pub fn node_document() -> OpenApi {
    let mut ops = node::api_ops();
    ops.extend(node::raft_ops());
    document(
        DocumentInfo {
            title: "Bazaar node",
            description: format!(
                "One replica of Bazaar's shop: a catalog and its orders in a Raft-replicated \
                 store. Every node serves the public API; writes go to the leader (a \
                 follower answers 421 naming it) and reads are linearizable on every node.\n\n\
                 {COMMON}\n\n\
                 **Two listeners.** Every route here is on the node's `api` address except \
                 the `peer` routes, which are on its `raft` address (their `servers` say so)."
            ),
            servers: vec![
                server(
                    "/",
                    "The node that serves this document (its `api` listener)",
                ),
                server(
                    "http://127.0.0.1:7001",
                    "Node 1 of the local cluster (`cluster.toml`)",
                ),
            ],
            tags: node::TAGS.to_vec(),
        },
        &ops,
    )
}

/// The frontend's document. A frontend serves it at `GET /openapi.json`, and renders it at
/// `GET /docs`.
pub fn frontend_document() -> OpenApi {
    document(
        DocumentInfo {
            title: "Bazaar frontend",
            description: format!(
                "The stateless gateway in front of Bazaar's nodes: the same public routes, \
                 envelope and status codes as a node, product reads from an LRU cache kept \
                 coherent by the nodes' change feed, writes routed to the leader and retried \
                 there with the same idempotency key, plus the storefront.\n\n\
                 {COMMON}\n\n\
                 **No leader, no node.** With no leader known or no node answering, writes \
                 and uncached reads answer 503 `unavailable` with `Retry-After`, after \
                 `frontend.no_leader_grace_ms` rather than the whole request deadline; cached \
                 reads go on within the staleness bound."
            ),
            servers: vec![
                server("/", "The frontend that serves this document"),
                server(
                    "http://127.0.0.1:8080",
                    "The local cluster's frontend (`cluster.toml`)",
                ),
            ],
            tags: frontend::TAGS.to_vec(),
        },
        &frontend::ops(),
    )
}

/// What both documents say about every route.
const COMMON: &str = "**Answers.** Success is `{\"data\": ...}` (the batch routes answer \
    their items unwrapped); failure is the error envelope `{\"error\": {\"code\", \"reason\", \
    \"message\"}}`, with `leader` on a 421 and `archive` on a 410. `reason` is stable and \
    machine-readable (the `Reason` schema lists every one with its status); each route lists \
    the reasons it can give under their status.\n\n\
    **Headers.** Every answer carries `X-Request-Id` (the caller's, or a fresh one; it is \
    logged on every hop). Reads, and writes the log decided, carry `X-Bazaar-Index`, the \
    applied log index they reflect. A 503 carries `Retry-After`; a 421 carries \
    `X-Bazaar-Leader: <id> <api>` and `Location`.\n\n\
    **Every route** also answers 404 `unknown_route` for a path not listed here, 405 \
    `method_not_allowed` for a method not listed on its path, and 503 `timeout` past its \
    time limit; a route with a body answers 413 `body_too_large` over 64 KiB and 400 \
    `bad_request` for malformed JSON.";

fn server(url: &str, description: &str) -> Server {
    ServerBuilder::new()
        .url(url)
        .description(Some(description))
        .build()
}

/// The `(METHOD, path)` pairs a document describes.
pub fn document_routes(doc: &OpenApi) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("OPTIONS", item.options.is_some()),
            ("HEAD", item.head.is_some()),
            ("PATCH", item.patch.is_some()),
            ("TRACE", item.trace.is_some()),
        ];
        for (method, present) in methods {
            if present {
                routes.insert((method.to_string(), path.clone()));
            }
        }
    }
    routes
}

/// Compares the routes a router serves with the routes a document lists, both ways:
/// `Err` names every route missing on either side and says where to fix it.
pub fn compare_routes(served: &[(&str, &str)], documented: &[(&str, &str)]) -> Result<(), String> {
    let served: BTreeSet<(&str, &str)> = served.iter().copied().collect();
    let documented: BTreeSet<(&str, &str)> = documented.iter().copied().collect();
    let undocumented: Vec<String> = served
        .difference(&documented)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    let unserved: Vec<String> = documented
        .difference(&served)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    if undocumented.is_empty() && unserved.is_empty() {
        return Ok(());
    }
    let mut message = String::new();
    if !undocumented.is_empty() {
        message.push_str(&format!(
            "served but not in the OpenAPI document (describe them in \
             api/src/openapi/node.rs or frontend.rs, then regenerate with \
             `BAZAAR_BLESS=1 cargo test -p bazaar-api openapi`):\n  {}\n",
            undocumented.join("\n  ")
        ));
    }
    if !unserved.is_empty() {
        message.push_str(&format!(
            "in the OpenAPI document but not served:\n  {}\n",
            unserved.join("\n  ")
        ));
    }
    Err(message)
}

/// A document as the checked-in file holds it: pretty JSON and a final newline.
pub fn file_text(doc: &OpenApi) -> String {
    let mut text = doc.to_pretty_json().expect("a document encodes as JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;

    use serde_json::Value;

    /// The repository root (this crate is `api/`).
    fn repo_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the crate sits in the repository")
            .to_path_buf()
    }

    /// The checked-in documents are what the code generates, byte for byte; with
    /// `BAZAAR_BLESS=1` the test writes them instead.
    #[test]
    fn openapi_files_are_current() {
        let bless = std::env::var_os("BAZAAR_BLESS").is_some_and(|v| v == "1");
        let mut stale = Vec::new();
        for (file, doc) in [
            (NODE_DOCUMENT_FILE, node_document()),
            (FRONTEND_DOCUMENT_FILE, frontend_document()),
        ] {
            let path = repo_root().join(file);
            let fresh = file_text(&doc);
            if bless {
                std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
                std::fs::write(&path, &fresh).expect("writing the document");
                continue;
            }
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != fresh {
                stale.push(file);
            }
        }
        assert!(
            stale.is_empty(),
            "{} no longer match the API the code describes. If the change is meant, \
             regenerate them with `BAZAAR_BLESS=1 cargo test -p bazaar-api openapi` and \
             commit them with it (reviewers see the contract's change in their diff).",
            stale.join(" and ")
        );
    }

    fn pairs(routes: &BTreeSet<(String, String)>) -> Vec<(&str, &str)> {
        routes
            .iter()
            .map(|(m, p)| (m.as_str(), p.as_str()))
            .collect()
    }

    #[test]
    fn openapi_documents_hold_exactly_the_route_lists() {
        let mut node = node_routes(NodeListener::Api);
        node.extend(node_routes(NodeListener::Raft));
        let in_node = document_routes(&node_document());
        compare_routes(&pairs(&in_node), &node).unwrap();
        let in_frontend = document_routes(&frontend_document());
        compare_routes(&pairs(&in_frontend), &frontend_routes()).unwrap();
        // The raft listener's routes are exactly the peer paths the node and its client use.
        let peer: Vec<Route> = [
            crate::peer::paths::APPEND,
            crate::peer::paths::VOTE,
            crate::peer::paths::SNAPSHOT,
            crate::peer::paths::READ_INDEX,
            crate::peer::paths::CAMPAIGN,
            crate::peer::paths::ALARM,
            crate::peer::paths::SPACE,
            crate::peer::paths::STATE_CHECK,
            crate::peer::paths::ARCHIVE_DIGEST,
        ]
        .into_iter()
        .map(|p| ("POST", p))
        .collect();
        compare_routes(&node_routes(NodeListener::Raft), &peer).unwrap();
        // No route is listed twice, on either side.
        for routes in [node, frontend_routes()] {
            let unique: BTreeSet<_> = routes.iter().collect();
            assert_eq!(
                unique.len(),
                routes.len(),
                "a route listed twice: {routes:?}"
            );
        }
    }

    #[test]
    fn compare_routes_names_what_is_missing_on_each_side() {
        let err = compare_routes(
            &[("GET", "/a"), ("GET", "/b")],
            &[("GET", "/b"), ("POST", "/c")],
        )
        .unwrap_err();
        assert!(
            err.contains("not in the OpenAPI document") && err.contains("GET /a"),
            "{err}"
        );
        assert!(
            err.contains("not served") && err.contains("POST /c"),
            "{err}"
        );
        assert!(err.contains("BAZAAR_BLESS=1"), "{err}");
        assert!(compare_routes(&[("GET", "/b")], &[("GET", "/b")]).is_ok());
    }

    fn as_json(doc: &OpenApi) -> Value {
        serde_json::to_value(doc).expect("a document encodes")
    }

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut found = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("a path item") {
                if op.get("responses").is_some() {
                    found.push((method.clone(), path.clone(), op.clone()));
                }
            }
        }
        found
    }

    fn refs(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => into.push(r.clone()),
                        _ => refs(v, into),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, into)),
            _ => {}
        }
    }

    /// Every `$ref` names a schema the document holds; every operation answers 200, has a
    /// unique id, and declares exactly the path parameters its path has.
    #[test]
    fn openapi_documents_are_whole() {
        for doc in [node_document(), frontend_document()] {
            let json = as_json(&doc);
            assert_eq!(json["openapi"], "3.1.0");
            let mut found = Vec::new();
            refs(&json, &mut found);
            assert!(!found.is_empty());
            for r in found {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("an unexpected reference {r}"));
                assert!(
                    json["components"]["schemas"].get(name).is_some(),
                    "{r} names no schema"
                );
            }
            let mut ids = BTreeSet::new();
            for (method, path, op) in operations(&json) {
                assert!(op["responses"].get("200").is_some(), "{method} {path}");
                let id = op["operationId"].as_str().expect("an operation id");
                assert!(ids.insert(id.to_string()), "operation id {id} twice");
                let in_path: BTreeSet<&str> = path
                    .split('/')
                    .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                    .collect();
                let declared: BTreeSet<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                assert_eq!(in_path, declared, "{method} {path}");
                assert!(
                    op["tags"].as_array().is_some_and(|t| t.len() == 1),
                    "{method} {path}"
                );
            }
        }
    }

    /// Each error response's examples are envelopes with that status and a reason that
    /// gives it, and every admin or peer route names its token.
    #[test]
    fn openapi_error_answers_match_the_reasons() {
        for doc in [node_document(), frontend_document()] {
            let json = as_json(&doc);
            for (method, path, op) in operations(&json) {
                for (status, response) in op["responses"].as_object().expect("responses") {
                    let Some(examples) =
                        response["content"]["application/json"]["examples"].as_object()
                    else {
                        continue;
                    };
                    for (name, example) in examples {
                        let reason: crate::Reason =
                            serde_json::from_value(Value::String(name.clone())).unwrap();
                        assert_eq!(reason.status().to_string(), *status, "{method} {path}");
                        let envelope: crate::ErrorEnvelope =
                            serde_json::from_value(example["value"].clone()).unwrap();
                        assert_eq!(envelope.error.reason, Some(reason));
                        assert_eq!(envelope.error.code.to_string(), *status);
                    }
                }
                let secured = op.get("security").is_some();
                let needs_token = path.starts_with("/admin/") || path.starts_with("/raft/");
                assert_eq!(secured, needs_token, "{method} {path}");
                if needs_token {
                    assert!(op["responses"].get("401").is_some(), "{method} {path}");
                }
            }
        }
    }

    #[test]
    fn openapi_reasons_are_every_reason() {
        // Read from the derived schema; `meaning`'s exhaustive match keeps it complete.
        let all = spec::all_reasons();
        let unique: BTreeSet<&str> = all.iter().map(|r| r.as_str()).collect();
        assert!(all.len() >= 21 && unique.len() == all.len(), "{all:?}");
        assert!(all.contains(&crate::Reason::Archived) && all.contains(&crate::Reason::BadRequest));
        let json = as_json(&node_document());
        let table = json["components"]["schemas"]["Reason"]["description"]
            .as_str()
            .expect("the reasons' table");
        for reason in all {
            assert!(
                table.contains(&format!("| `{reason}` | {} |", reason.status())),
                "{reason} in {table}"
            );
        }
    }

    /// The limits written in the schemas' attributes are the code's.
    #[test]
    fn openapi_schema_limits_are_the_codes() {
        let json = as_json(&node_document());
        let schemas = &json["components"]["schemas"];
        let order = &schemas["OrderRequest"]["properties"];
        assert_eq!(
            order["quantity"]["maximum"],
            crate::MAX_ORDER_QUANTITY as f64
        );
        for (schema, field) in [
            ("OrderRequest", "name"),
            ("ProductSpec", "name"),
            ("RestockRequest", "name"),
        ] {
            let name = &schemas[schema]["properties"][field];
            assert_eq!(name["maxLength"], crate::MAX_PRODUCT_NAME_LEN, "{schema}");
            assert_eq!(name["pattern"], "^[A-Za-z0-9 _.-]+$", "{schema}");
            assert!(crate::validate_product_name("Board games 2.0_x-y").is_ok());
        }
        assert!(crate::validate_product_name(&"n".repeat(crate::MAX_PRODUCT_NAME_LEN)).is_ok());
        assert!(
            crate::validate_product_name(&"n".repeat(crate::MAX_PRODUCT_NAME_LEN + 1)).is_err()
        );
    }
}
