//! Orders: `POST /orders` (validated here, then sent to the leader with one idempotency
//! key for all its retries) and `GET /orders/{n}`.

use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use raft_node::api::{
    Envelope, OrderRequest, OrderView, IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_LEN,
};

use crate::backend::WriteRequest;
use crate::metrics::bump;
use crate::paths::query_suffix;
use crate::respond;
use crate::routes::catalog::passthrough;
use crate::state::AppState;

/// The client's key, or a fresh one: the same key goes with every retry of this write.
pub fn idempotency_key(headers: &HeaderMap) -> Result<HeaderValue, String> {
    match headers.get(IDEMPOTENCY_HEADER) {
        None => HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .map_err(|e| format!("cannot make an idempotency key: {e}")),
        Some(value) => {
            let len = value.as_bytes().len();
            if len == 0 || len > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(format!(
                    "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes, got {len}"
                ));
            }
            if value.to_str().is_err() {
                return Err("Idempotency-Key must be visible ASCII".into());
            }
            Ok(value.clone())
        }
    }
}

/// Body rejections keep their status (413 for a body over the limit) in the envelope.
pub fn body_rejection(rejection: BytesRejection) -> Response {
    respond::status_error(rejection.status(), rejection.body_text())
}

pub async fn place_order(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejection(rejection),
    };
    let order: OrderRequest = match serde_json::from_slice(&body) {
        Ok(order) => order,
        Err(err) => {
            return respond::bad_request(format!(
                "invalid order body (expected {{\"name\": \"Tux\", \"quantity\": 2}}): {err}"
            ))
        }
    };
    if let Err(message) = order.validate() {
        return respond::bad_request(message);
    }
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(message) => return respond::bad_request(message),
    };
    let body = match serde_json::to_vec(&order) {
        Ok(body) => Bytes::from(body),
        Err(err) => return respond::bad_request(format!("cannot encode order: {err}")),
    };
    let mut forward = HeaderMap::new();
    forward.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    forward.insert(IDEMPOTENCY_HEADER, key.clone());
    let request = WriteRequest {
        method: Method::POST,
        path_and_query: "/orders".into(),
        body,
        headers: forward,
    };
    let reply = match state.backend.write(&request).await {
        Ok(reply) => reply,
        Err(err) => {
            let mut response = respond::unavailable(&err);
            // The client can retry with this key and never double-order.
            response.headers_mut().insert(IDEMPOTENCY_HEADER, key);
            return response;
        }
    };
    if reply.status == StatusCode::OK {
        bump(&state.metrics.orders);
        match serde_json::from_slice::<Envelope<OrderView>>(&reply.body) {
            Ok(env) => {
                let topic = state.cache.topic_of(&env.data.name);
                state.invalidate_product(&env.data.name, &[topic], env.data.index);
            }
            Err(err) => {
                // Without the order's index the touched keys cannot be placed in order;
                // dropping everything keeps read-your-writes.
                tracing::error!(error = %err, "unreadable order answer; clearing the cache");
                state.cache.clear(state.feed.last_index());
            }
        }
    }
    let mut response = respond::node_reply(reply, None);
    response.headers_mut().insert(IDEMPOTENCY_HEADER, key);
    response
}

pub async fn get_order(
    State(state): State<Arc<AppState>>,
    number: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let number = match number {
        Ok(Path(number)) => number,
        Err(rejection) => return respond::bad_request(rejection.body_text()),
    };
    let Ok(number) = number.parse::<u64>() else {
        return respond::bad_request(format!(
            "order number must be a non-negative integer, got {number:?}"
        ));
    };
    let path = format!("/orders/{number}{}", query_suffix(query.as_deref()));
    passthrough(&state, &path).await
}
