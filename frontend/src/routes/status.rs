//! `GET /health`, `GET /cluster` (a node's view of the cluster plus this frontend's cache
//! and feed) and `GET /metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bazaar_api::{ApiError, ClusterAnswer, Envelope, FeedPhase};
use bazaar_service::metrics::CONTENT_TYPE;
use bazaar_service::respond;
use serde::Serialize;

use crate::respond::{node_reply, unavailable};
use crate::routes::catalog::{request_id, Rid};
use crate::state::AppState;

#[derive(Serialize)]
struct Health {
    status: &'static str,
    role: &'static str,
    cache_serving: bool,
    feed: FeedPhase,
}

pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let now = Instant::now();
    respond::json(&Envelope::new(Health {
        status: "ok",
        role: "frontend",
        cache_serving: state.reader.serving(now),
        feed: state.feed.view(now).state,
    }))
}

pub async fn cluster(State(state): State<Arc<AppState>>, rid: Rid) -> Response {
    let (reply, info) = match state.backend.cluster(request_id(&rid)).await {
        Ok(answer) => answer,
        Err(err) => return unavailable(&err),
    };
    if reply.status != StatusCode::OK {
        return node_reply(reply, None);
    }
    let Some(cluster) = info else {
        return respond::error(&ApiError::unavailable(
            "a node answered /cluster with an unreadable body",
        ));
    };
    respond::json(&Envelope::new(ClusterAnswer {
        cluster,
        frontend: Some(state.status(Instant::now())),
    }))
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.registry.render(),
    )
        .into_response()
}
