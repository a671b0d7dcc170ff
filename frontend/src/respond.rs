//! Answers that are the frontend's own: a node's answer passed through unchanged and a cache
//! hit, both with `X-Cache`. Errors use the shared envelope builder in `bazaar_service`.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bazaar_service::respond;

use crate::backend::{BackendError, NodeReply};
use crate::cache::CachedAnswer;

pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// A node's answer, unchanged, with `X-Cache` on cacheable reads, and on a 503 (a node that
/// shed the request) the `Retry-After` it asked for.
pub fn node_reply(reply: NodeReply, x_cache: Option<&'static str>) -> Response {
    let retry_after = reply.retry_after_secs();
    let mut response = respond::raw_json(reply.status, reply.body);
    let headers = response.headers_mut();
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if let Some(index) = reply.index {
        headers.insert(respond::index_header(), HeaderValue::from(index));
    }
    if let Some(x_cache) = x_cache {
        headers.insert(X_CACHE, HeaderValue::from_static(x_cache));
    }
    response
}

pub fn cache_hit(answer: CachedAnswer) -> Response {
    let mut response = respond::raw_json(StatusCode::OK, answer.body);
    let headers = response.headers_mut();
    headers.insert(respond::index_header(), HeaderValue::from(answer.index));
    headers.insert(X_CACHE, HeaderValue::from_static("hit"));
    response
}

/// The 503 for a request no node answered in time.
pub fn unavailable(err: &BackendError) -> Response {
    tracing::warn!(error = %err, "answering 503");
    respond::error(&err.to_api_error())
}

pub fn bad_request(message: impl Into<String>) -> Response {
    respond::error(&bazaar_api::ApiError::bad_request(message))
}
