//! `/cluster`, `/health` and `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bazaar_service::metrics::CONTENT_TYPE;
use bazaar_service::respond::ok;
use serde::Serialize;

use super::state::AppState;

pub async fn cluster(State(s): State<Arc<AppState>>) -> Response {
    let info = s.status.info();
    ok(&info, info.applied_index)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    id: u64,
}

pub async fn health(State(s): State<Arc<AppState>>) -> Response {
    ok(
        &Health {
            status: "ok",
            id: s.status.id,
        },
        s.reader.applied_index(),
    )
}

pub async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.render()).into_response()
}
