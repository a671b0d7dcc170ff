//! Building HTTP answers: node answers passed through, cache hits, and the frontend's
//! own errors, all in the toy-store envelope.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use raft_node::api::{ApiError, ErrorBody, ErrorEnvelope, INDEX_HEADER};

use crate::backend::{BackendError, NodeReply};
use crate::cache::CachedAnswer;

pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// Seconds a client should wait before retrying a 503: about one election.
const RETRY_AFTER_SECS: HeaderValue = HeaderValue::from_static("1");

fn index_header() -> HeaderName {
    HeaderName::from_static(INDEX_HEADER)
}

/// A node's answer, unchanged, with `X-Cache` on cacheable reads.
pub fn node_reply(reply: NodeReply, x_cache: Option<&'static str>) -> Response {
    let mut response = (reply.status, reply.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, JSON);
    if let Some(index) = reply.index {
        headers.insert(index_header(), HeaderValue::from(index));
    }
    if let Some(x_cache) = x_cache {
        headers.insert(X_CACHE, HeaderValue::from_static(x_cache));
    }
    response
}

pub fn cache_hit(answer: CachedAnswer) -> Response {
    let mut response = (StatusCode::OK, answer.body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, JSON);
    headers.insert(index_header(), HeaderValue::from(answer.index));
    headers.insert(X_CACHE, HeaderValue::from_static("hit"));
    response
}

/// An error in the envelope; 503s say when to retry.
pub fn error(err: &ApiError) -> Response {
    envelope(err.status(), err.to_envelope())
}

pub fn status_error(status: StatusCode, message: impl Into<String>) -> Response {
    envelope(
        status.as_u16(),
        ErrorEnvelope {
            error: ErrorBody {
                code: status.as_u16(),
                message: message.into(),
                leader: None,
            },
        },
    )
}

fn envelope(code: u16, body: ErrorEnvelope) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, JSON);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, RETRY_AFTER_SECS);
    }
    response
}

pub fn unavailable(err: &BackendError) -> Response {
    tracing::warn!(error = %err, "answering 503");
    error(&err.to_api_error())
}

pub fn bad_request(message: impl Into<String>) -> Response {
    error(&ApiError::bad_request(message))
}
