//! Building answers, in one place for node and frontend: `{"data": ..}` with the applied
//! index, the error envelope with `Retry-After` on 503 and the leader headers on 421, and
//! request parts parsed into 4xx answers instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bazaar_api::{ApiError, Envelope, Reason, INDEX_HEADER, LEADER_HEADER, MAX_API_BODY_BYTES};
use serde::de::DeserializeOwned;
use serde::Serialize;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
/// Seconds a client should wait before retrying a 503: about one election.
const RETRY_AFTER_SECS: HeaderValue = HeaderValue::from_static("1");

/// An API error on its way out: the envelope with the right status and headers.
#[derive(Debug)]
pub struct ErrorResponse(pub ApiError);

impl From<ApiError> for ErrorResponse {
    fn from(e: ApiError) -> Self {
        ErrorResponse(e)
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        error(&self.0)
    }
}

pub fn index_header() -> HeaderName {
    HeaderName::from_static(INDEX_HEADER)
}

/// The error envelope for `err`, with `Retry-After` (the error's own hint, else one second
/// on a 503) and, on not-leader answers, `X-Bazaar-Leader: <id> <api>` and `Location`
/// pointing at the leader.
pub fn error(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&err.to_envelope()).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, JSON);
    if let Some(hint) = &err.leader {
        if let Ok(v) = HeaderValue::from_str(&hint.header_value()) {
            headers.insert(HeaderName::from_static(LEADER_HEADER), v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("http://{}", hint.api)) {
            headers.insert(header::LOCATION, v);
        }
    }
    match err.retry_after_secs {
        Some(secs) => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        None if status == StatusCode::SERVICE_UNAVAILABLE => {
            headers.insert(header::RETRY_AFTER, RETRY_AFTER_SECS);
        }
        None => {}
    }
    response
}

/// `{"data": data}`, with the applied index the answer reflects.
pub fn ok<T: Serialize>(data: &T, index: u64) -> Response {
    let mut response = json(&Envelope { data });
    response
        .headers_mut()
        .insert(index_header(), HeaderValue::from(index));
    response
}

/// `{"data": data}` for answers that reflect no log index (health, a frontend's own state).
pub fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (StatusCode::OK, body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, JSON);
            response
        }
        Err(e) => error(&ApiError::internal(format!(
            "cannot encode the answer: {e}"
        ))),
    }
}

/// An already-encoded JSON body with its status (a node's answer passed through).
pub fn raw_json(status: StatusCode, body: Bytes) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

/// The 413 for a body over the limit.
pub fn body_too_large() -> ApiError {
    ApiError::new(
        Reason::BodyTooLarge,
        format!("body is larger than {MAX_API_BODY_BYTES} bytes"),
    )
}

/// A request body, or 413 for one over the limit and 400 for anything else.
pub fn body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ErrorResponse> {
    body.map_err(|rejection| {
        ErrorResponse(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            ApiError::bad_request(rejection.body_text())
        })
    })
}

/// Parses a JSON body, answering 413 for a body over the limit and 400 for anything else.
pub fn json_body<T: DeserializeOwned>(
    raw: Result<Bytes, BytesRejection>,
) -> Result<T, ErrorResponse> {
    let bytes = body(raw)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ErrorResponse(ApiError::bad_request(format!("invalid JSON body: {e}"))))
}

pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ErrorResponse> {
    q.map(|Query(t)| t)
        .map_err(|e| ErrorResponse(ApiError::bad_request(e.body_text())))
}

pub fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ErrorResponse> {
    p.map(|Path(t)| t)
        .map_err(|e| ErrorResponse(ApiError::bad_request(e.body_text())))
}

/// The fallback for paths no route serves.
pub async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> ErrorResponse {
    ErrorResponse(ApiError::new(
        Reason::UnknownRoute,
        format!("no route for {method} {}", uri.path()),
    ))
}

/// The fallback for a route that exists, called with another method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ErrorResponse {
    ErrorResponse(ApiError::new(
        Reason::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bazaar_api::LeaderHint;

    #[test]
    fn not_leader_answers_name_the_leader_in_headers_too() {
        let r = error(&ApiError::not_leader(Some(LeaderHint::new(
            2,
            "127.0.0.1:7002",
        ))));
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
        assert_eq!(r.headers()[LEADER_HEADER], "2 127.0.0.1:7002");
        assert_eq!(r.headers()[header::LOCATION], "http://127.0.0.1:7002");
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn unavailable_answers_say_when_to_retry() {
        let r = error(&ApiError::unavailable("no quorum"));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn an_error_with_its_own_hint_says_that_in_retry_after() {
        let r = error(&ApiError::overloaded("writes", 4));
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "4");
        let r = error(&ApiError::rate_limited(7));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
        assert!(error(&ApiError::bad_request("x"))
            .headers()
            .get(header::RETRY_AFTER)
            .is_none());
    }
}
