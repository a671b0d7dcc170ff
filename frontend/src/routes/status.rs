//! `GET /health`, `GET /cluster` (a node's view of the cluster plus this frontend's
//! cache and feed) and `GET /metrics` (Prometheus text).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use raft_node::api::{ClusterInfo, Envelope};
use serde::Serialize;
use serde_json::json;

use crate::feed::FeedView;
use crate::respond;
use crate::state::AppState;

/// This frontend's part of `GET /cluster`.
#[derive(Debug, Serialize)]
pub struct FrontendView {
    pub cache_enabled: bool,
    pub cache_serving: bool,
    pub cache_size: usize,
    pub cache_capacity: usize,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: f64,
    pub fills_refused: u64,
    pub singleflight_shared: u64,
    pub leader_hint: Option<String>,
    pub feed: FeedView,
}

/// The node's `ClusterInfo` fields as they are, plus `frontend`.
#[derive(Debug, Serialize)]
struct ClusterView {
    #[serde(flatten)]
    cluster: ClusterInfo,
    frontend: FrontendView,
}

pub fn frontend_view(state: &AppState, now: Instant) -> FrontendView {
    let m = &state.metrics;
    FrontendView {
        cache_enabled: state.cache_enabled,
        cache_serving: state.reader.serving(now),
        cache_size: state.cache.len(),
        cache_capacity: state.cache.capacity(),
        hits: m.cache_hits.load(Ordering::Relaxed),
        misses: m.cache_misses.load(Ordering::Relaxed),
        hit_ratio: m.hit_ratio(),
        fills_refused: m.fills_refused.load(Ordering::Relaxed),
        singleflight_shared: m.singleflight_shared.load(Ordering::Relaxed),
        leader_hint: state.backend.pool().leader().map(|l| l.base),
        feed: state.feed.view(now),
    }
}

pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    let now = Instant::now();
    let feed = state.feed.view(now);
    Json(json!({"data": {
        "status": "ok",
        "role": "frontend",
        "cache_serving": state.reader.serving(now),
        "feed": feed.state,
    }}))
    .into_response()
}

pub async fn cluster(State(state): State<Arc<AppState>>) -> Response {
    let reply = match state.backend.read("/cluster").await {
        Ok(reply) => reply,
        Err(err) => return respond::unavailable(&err),
    };
    if reply.status != StatusCode::OK {
        return respond::node_reply(reply, None);
    }
    let info = match serde_json::from_slice::<Envelope<ClusterInfo>>(&reply.body) {
        Ok(env) => env.data,
        Err(err) => {
            return respond::status_error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("a node answered /cluster with an unreadable body: {err}"),
            )
        }
    };
    if let Some(api) = info.leader_api.as_deref() {
        state.backend.pool().set_leader(info.leader, api);
    }
    let view = ClusterView {
        cluster: info,
        frontend: frontend_view(&state, Instant::now()),
    };
    Json(Envelope::new(view)).into_response()
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(state.gauges(Instant::now()));
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}
