//! Admin routes (`/admin/...`): passed to the leader with the caller's Authorization
//! header, which the node checks; product changes are invalidated before answering.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::Response;
use bytes::Bytes;
use raft_node::api::{Envelope, ProductView, IDEMPOTENCY_HEADER};

use crate::backend::WriteRequest;
use crate::respond;
use crate::routes::orders::{body_rejection, idempotency_key};
use crate::state::AppState;

pub async fn admin(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejection(rejection),
    };
    let mut forward = HeaderMap::new();
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = headers.get(&name) {
            forward.insert(name, value.clone());
        }
    }
    // Catalog writes are deduplicated by key like orders, so a retry after a lost answer
    // (a leader killed or paused mid-request) cannot restock twice.
    match idempotency_key(&headers) {
        Ok(key) => {
            forward.insert(IDEMPOTENCY_HEADER, key);
        }
        Err(message) => return respond::bad_request(message),
    }
    if !forward.contains_key(header::CONTENT_TYPE) && !body.is_empty() {
        forward.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
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
        Err(err) => return respond::unavailable(&err),
    };
    if reply.status.is_success() {
        // Product routes answer with the product as it now is; membership routes do not
        // touch the catalog.
        if let Ok(env) = serde_json::from_slice::<Envelope<ProductView>>(&reply.body) {
            let product = env.data;
            let old_topic = state.cache.topic_of(&product.name);
            let new_topic = Some(product.topic.clone());
            state.invalidate_product(&product.name, &[old_topic, new_topic], product.version);
            state.cache.learn_topic(&product.name, &product.topic);
        }
    }
    respond::node_reply(reply, None)
}
