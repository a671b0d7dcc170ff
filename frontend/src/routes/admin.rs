//! Admin routes (`/admin/...`): off unless `frontend.admin` is set, and membership,
//! leadership, backups and archive streams never (they go to nodes only: `table` does not
//! route them). When
//! on, passed to the leader with the caller's Authorization header, which the node checks,
//! and the caller's address in `X-Forwarded-For` for the node's audit line; product changes
//! are invalidated before answering.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use bazaar_api::{ApiError, Envelope, ProductView, Reason};
use bazaar_service::{respond, RouteTable};
use bytes::Bytes;

use crate::backend::WriteRequest;
use crate::respond::{bad_request, node_reply, unavailable};
use crate::routes::catalog::Rid;
use crate::routes::orders::{forward_headers, idempotency_key};
use crate::state::AppState;

const FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The node's admin routes a frontend forwards (each to the same handler). Not membership,
/// leadership, backups or archive streams, whatever the configuration: operations on the
/// cluster itself, and the streams the frontend's deadlines would cut, go to a node.
pub fn table() -> RouteTable<Arc<AppState>> {
    RouteTable::new()
        .post("/admin/products", admin)
        .patch("/admin/products/{name}", admin)
        .post("/admin/restock", admin)
        .post("/admin/alarms/disarm", admin)
        .post("/admin/archive/commit", admin)
}

pub async fn admin(
    State(state): State<Arc<AppState>>,
    rid: Rid,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !state.admin_enabled {
        // The same answer as for any path this frontend does not serve.
        return respond::error(&ApiError::new(
            Reason::UnknownRoute,
            format!("no route for {method} {}", uri.path()),
        ));
    }
    let body = match respond::body(body) {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    // Catalog writes are deduplicated by key like orders, so a retry after a lost answer
    // (a leader killed or paused mid-request) cannot restock twice.
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(message) => return bad_request(message),
    };
    let mut forward = forward_headers(key, &rid);
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        forward.insert(header::AUTHORIZATION, auth.clone());
    }
    if let Ok(from) = HeaderValue::from_str(&caller.ip().to_string()) {
        forward.insert(FORWARDED_FOR, from);
    }
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let request = WriteRequest {
        method,
        path_and_query,
        body,
        headers: forward,
    };
    let reply = match state.backend.write(&request).await {
        Ok(reply) => reply,
        Err(err) => return unavailable(&err),
    };
    if reply.status.is_success() {
        // Product routes answer with the product as it now is; membership routes do not
        // touch the catalog.
        if let Ok(env) = serde_json::from_slice::<Envelope<ProductView>>(&reply.body) {
            let product = env.data;
            let old_topic = state.cache.topic_of(&product.name);
            let new_topic = Some(product.topic.clone());
            // The answer shows the product as of its own index, which may be past the
            // change (a retried key answers the first result from a later read).
            let shown_at = reply.index.unwrap_or(0).max(product.version);
            state.invalidate_product(&product.name, &[old_topic, new_topic], shown_at);
            state.cache.learn_topic(&product.name, &product.topic);
        }
    }
    node_reply(reply, None)
}

#[cfg(test)]
mod tests {
    /// Admin paths a frontend never forwards: operations on the cluster itself, and the
    /// streams (backups, archives).
    const NODE_ONLY: [&str; 4] = [
        "/admin/membership",
        "/admin/leader",
        "/admin/backup",
        "/admin/archive/stream",
    ];

    #[test]
    fn membership_leadership_and_streams_are_never_routed() {
        let table = super::table();
        for (method, path) in table.routes() {
            assert!(path.starts_with("/admin/"), "{method} {path}");
            assert!(
                !NODE_ONLY.iter().any(|p| path.starts_with(p)),
                "{method} {path} must go to a node"
            );
        }
    }
}
