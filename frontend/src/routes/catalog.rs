//! Catalog reads: `GET /products`, `GET /products/{name}` and `GET /search?topic=T`.
//! Lookups and searches go through the cache; `?consistency=...` passes straight through.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::Extension;
use bazaar_api::validate_product_name;
use tower_http::request_id::RequestId;

use crate::backend::{BackendError, NodeReply};
use crate::cache::CacheKey;
use crate::paths::{encode_segment, plain_lookup, plain_search, query_param, query_suffix};
use crate::reader::ReadOutcome;
use crate::respond;
use crate::state::AppState;

/// The id the standard layer gave this request (the caller's, or a fresh one).
pub type Rid = Option<Extension<RequestId>>;

/// That id as the header sent on to the node.
pub fn request_id(rid: &Rid) -> Option<&HeaderValue> {
    rid.as_ref().map(|Extension(id)| id.header_value())
}

pub async fn list_products(
    State(state): State<Arc<AppState>>,
    rid: Rid,
    RawQuery(query): RawQuery,
) -> Response {
    let path = format!("/products{}", query_suffix(query.as_deref()));
    answer(state.reader.list(&path, request_id(&rid)).await)
}

pub async fn get_product(
    State(state): State<Arc<AppState>>,
    rid: Rid,
    name: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let id = request_id(&rid);
    let name = match name {
        Ok(Path(name)) => name,
        Err(rejection) => return respond::bad_request(rejection.body_text()),
    };
    if let Err(message) = validate_product_name(&name) {
        return respond::bad_request(message);
    }
    if !plain_lookup(query.as_deref()) {
        let path = format!(
            "/products/{}{}",
            encode_segment(&name),
            query_suffix(query.as_deref())
        );
        let key = CacheKey::Product(name);
        return answer(state.reader.read_uncached(&key, &path, id).await);
    }
    let key = CacheKey::Product(name);
    cached(&state, key, id).await
}

pub async fn search(
    State(state): State<Arc<AppState>>,
    rid: Rid,
    RawQuery(query): RawQuery,
) -> Response {
    let id = request_id(&rid);
    let Some(topic) = query_param(query.as_deref(), "topic") else {
        return respond::bad_request("missing query parameter `topic` (GET /search?topic=T)");
    };
    let key = CacheKey::Topic(topic);
    if !plain_search(query.as_deref()) {
        let path = format!("/search{}", query_suffix(query.as_deref()));
        return answer(state.reader.read_uncached(&key, &path, id).await);
    }
    cached(&state, key, id).await
}

async fn cached(state: &AppState, key: CacheKey, request_id: Option<&HeaderValue>) -> Response {
    match state.reader.lookup(key, request_id).await {
        Ok(ReadOutcome::Hit(answer)) => respond::cache_hit(answer),
        Ok(ReadOutcome::Miss(reply)) => respond::node_reply(reply, Some("miss")),
        Ok(ReadOutcome::Bypass(reply)) => respond::node_reply(reply, Some("bypass")),
        Err(err) => respond::unavailable(&err),
    }
}

/// A node's answer read through the reader, passed on as it is.
fn answer(read: Result<NodeReply, BackendError>) -> Response {
    match read {
        Ok(reply) => respond::node_reply(reply, None),
        Err(err) => respond::unavailable(&err),
    }
}

/// A read the cache has nothing to do with (an order lookup), passed on as the node gave it.
pub async fn passthrough(
    state: &AppState,
    path: &str,
    request_id: Option<&HeaderValue>,
) -> Response {
    answer(state.backend.read(path, request_id).await)
}
