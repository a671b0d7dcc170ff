//! `GET /health`, `GET /cluster` (a node's view of the cluster plus this frontend's cache
//! and feed) and `GET /metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bazaar_api::{
    ApiError, ClusterAnswer, Envelope, FrontendLiveness, NodesOverview, Readiness, Reason,
};
use bazaar_service::metrics::CONTENT_TYPE;
use bazaar_service::respond;

use crate::respond::{node_reply, unavailable};
use crate::routes::catalog::{request_id, Rid};
use crate::state::AppState;

/// `GET /livez`: the process is up and serving HTTP. Always 200.
pub async fn livez(State(state): State<Arc<AppState>>) -> Response {
    let now = Instant::now();
    respond::json(&Envelope::new(FrontendLiveness {
        status: "serving".into(),
        role: "frontend".into(),
        cache_serving: state.reader.serving(now),
        feed: state.feed.view(now).state,
    }))
}

/// `GET /readyz` (and `/health`): 200 when some node answers and a leader is known; else
/// 503 `not_ready` with the reason. Asks every node (each within the probe timeout).
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let probes = state.backend.probe_all().await;
    let (leader, _) = NodesOverview::current_leader(&probes);
    let reason = if !probes.iter().any(|p| p.up) {
        Some(format!("none of the {} nodes answers", probes.len()))
    } else if leader.is_none() {
        Some("no node knows a leader".to_string())
    } else {
        None
    };
    match reason {
        Some(why) => respond::error(&ApiError::new(Reason::NotReady, why)),
        None => respond::json(&Envelope::new(Readiness {
            ready: true,
            reason: None,
            leader,
        })),
    }
}

/// `GET /version`.
pub async fn version() -> Response {
    respond::json(&Envelope::new(bazaar_service::version::info()))
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
