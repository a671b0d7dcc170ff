//! `GET /cluster/nodes`: every configured node's own `/cluster` view, asked concurrently
//! with a short timeout, plus this frontend's cache and feed. `GET /cluster` shows one
//! node's view and silently skips dead nodes; an operator needs to see which are down.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bazaar_api::{Envelope, NodesOverview};
use bazaar_service::respond;

use crate::state::AppState;

pub async fn cluster_nodes(State(state): State<Arc<AppState>>) -> Response {
    let nodes = state.backend.probe_all().await;
    let (leader, term) = NodesOverview::current_leader(&nodes);
    let overview = NodesOverview {
        nodes,
        leader,
        term,
        frontend: state.status(Instant::now()),
    };
    let mut response = respond::json(&Envelope::new(overview));
    // A status panel must never be shown a remembered answer.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
