//! Orders: `POST /orders` (validated here, then sent to the leader with one idempotency
//! key for all its retries) and `GET /orders/{n}`.

use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bazaar_api::{IdempotencyKey, OrderRequest, IDEMPOTENCY_HEADER, REQUEST_ID_HEADER};
use bazaar_service::respond;
use bytes::Bytes;

use crate::backend::WriteRequest;
use crate::paths::query_suffix;
use crate::respond::{bad_request, node_reply, unavailable};
use crate::routes::catalog::{passthrough, request_id, Rid};
use crate::state::AppState;

/// The client's key, or a fresh one: the same key goes with every retry of this write.
pub fn idempotency_key(headers: &HeaderMap) -> Result<HeaderValue, String> {
    let key = match headers.get(IDEMPOTENCY_HEADER) {
        None => IdempotencyKey::generate(),
        Some(value) => IdempotencyKey::from_bytes(value.as_bytes()).map_err(|e| e.to_string())?,
    };
    HeaderValue::from_str(key.as_str()).map_err(|e| format!("unusable Idempotency-Key: {e}"))
}

/// The headers every forwarded write carries: JSON body, key, request id.
pub fn forward_headers(key: HeaderValue, rid: &Rid) -> HeaderMap {
    let mut forward = HeaderMap::with_capacity(4);
    forward.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    forward.insert(IDEMPOTENCY_HEADER, key);
    if let Some(id) = request_id(rid) {
        forward.insert(REQUEST_ID_HEADER, id.clone());
    }
    forward
}

pub async fn place_order(
    State(state): State<Arc<AppState>>,
    rid: Rid,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match respond::body(body) {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let order: OrderRequest = match serde_json::from_slice(&body) {
        Ok(order) => order,
        Err(err) => {
            return bad_request(format!(
                "invalid order body (expected {{\"name\": \"Tux\", \"quantity\": 2}}): {err}"
            ))
        }
    };
    if let Err(message) = order.validate() {
        return bad_request(message);
    }
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(message) => return bad_request(message),
    };
    let request = WriteRequest {
        method: Method::POST,
        path_and_query: "/orders".into(),
        // Validated above; the node parses it again, so it goes as it came.
        body,
        headers: forward_headers(key.clone(), &rid),
    };
    let product = order.name.clone();
    let placed = match &state.orders {
        Some(batcher) => batcher.place(order, request).await,
        None => state.backend.write(&request).await,
    };
    let reply = match placed {
        Ok(reply) => reply,
        Err(err) => {
            let mut response = unavailable(&err);
            // The client can retry with this key and never double-order.
            response.headers_mut().insert(IDEMPOTENCY_HEADER, key);
            return response;
        }
    };
    if reply.status == StatusCode::OK {
        state.metrics.orders.inc();
    }
    match reply.index {
        // Every order the log decided, placed or refused (no stock), carries its entry's
        // index and shows the product as of there: a refusal may reveal an order of ours
        // whose answer was lost. Cached reads from before it must not be served after this
        // answer (read-your-writes for a placed order).
        Some(index) => {
            let topic = state.cache.topic_of(&product);
            state.invalidate_product(&product, &[topic], index);
        }
        None if reply.status == StatusCode::OK => {
            // Without the order's index the touched keys cannot be placed in order;
            // dropping everything keeps read-your-writes.
            tracing::error!("order answer without its index; clearing the cache");
            state.cache.clear(state.feed.last_index());
        }
        None => {}
    }
    let mut response = node_reply(reply, None);
    response.headers_mut().insert(IDEMPOTENCY_HEADER, key);
    response
}

pub async fn get_order(
    State(state): State<Arc<AppState>>,
    rid: Rid,
    number: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let number = match number {
        Ok(Path(number)) => number,
        Err(rejection) => return bad_request(rejection.body_text()),
    };
    let Ok(number) = number.parse::<u64>() else {
        return bad_request(format!(
            "order number must be a non-negative integer, got {number:?}"
        ));
    };
    let path = format!("/orders/{number}{}", query_suffix(query.as_deref()));
    passthrough(&state, &path, request_id(&rid)).await
}
