//! `/cluster`, `/health` and `/metrics`.

use std::sync::{Arc, LazyLock};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bazaar_api::openapi::{file_text, node_document};
use bazaar_api::{ApiError, Envelope, Reason};
use bazaar_service::metrics::CONTENT_TYPE;
use bazaar_service::respond::{error, json, ok};
use serde::Serialize;

use super::state::AppState;

pub async fn cluster(State(s): State<Arc<AppState>>) -> Response {
    let info = s.status.info();
    ok(&info, info.applied_index)
}

#[derive(Serialize)]
struct Live {
    status: &'static str,
    id: u64,
}

/// `GET /livez`: the process is up and serving HTTP. Always 200.
pub async fn livez(State(s): State<Arc<AppState>>) -> Response {
    ok(
        &Live {
            status: "serving",
            id: s.status.id,
        },
        s.reader.applied_index(),
    )
}

/// `GET /readyz` (and `/health`): 200 when this node knows a leader, a leader still has its
/// quorum, and its applied index is close to the commit index; else 503 `not_ready` with
/// the reason. A node whose storage failed answers 503 `storage_failed` with the cause
/// until it exits.
pub async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    if let Err(failed) = s.status.health.check() {
        return error(&ApiError::new(Reason::StorageFailed, failed.to_string()));
    }
    if let Err(corrupt) = s.refuse_if_corrupt() {
        return error(&corrupt);
    }
    let readiness = s.status.readiness();
    match &readiness.reason {
        None => ok(&readiness, s.reader.applied_index()),
        Some(why) => error(&ApiError::new(Reason::NotReady, why.clone())),
    }
}

/// `GET /version`.
pub async fn version() -> Response {
    json(&Envelope::new(bazaar_service::version::info()))
}

/// The node's OpenAPI 3.1 document, built once from the code (`bazaar_api::openapi`); the
/// same text as the checked-in `openapi/node.json`.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| file_text(&node_document()));

/// `GET /openapi.json`: the node's OpenAPI 3.1 document.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

pub async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.render()).into_response()
}
