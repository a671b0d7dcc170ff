//! The HTTP layers every router of node and frontend gets, built from tower-http: a request
//! id (`X-Request-Id` accepted or generated, returned, and recorded on the request's log
//! span), a trace span per request, a time limit, the body limit, a request counter and a
//! latency histogram per route, and the error envelope on every error answer, including
//! the ones the layers themselves produce.

use std::time::Duration;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, Request, StatusCode};
use axum::middleware;
use axum::response::Response;
use axum::Router;
use bazaar_api::{ApiError, Reason, REQUEST_ID_HEADER};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::{Level, Span};

use crate::metrics::{track, HttpMetrics};
use crate::respond;

/// What one listener allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body; larger ones answer 413.
    pub body_bytes: usize,
    /// Longest a request may take to produce its answer's head; past it, 503 `timeout`.
    /// Streamed bodies (the change feed) are not cut by it.
    pub timeout: Duration,
}

/// The status tower-http's timeout answers with, before [`envelope_errors`] turns it
/// into the 503 `timeout` envelope; nothing else in Bazaar answers 408.
const TIMED_OUT: StatusCode = StatusCode::REQUEST_TIMEOUT;

/// Wraps `router` in the standard layers. Call it last, after every route is added.
pub fn standard_layers<S>(router: Router<S>, metrics: &HttpMetrics, limits: Limits) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .layer(middleware::from_fn_with_state(metrics.clone(), track))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        // 503s during an election are expected, and handlers log real faults.
                        .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
                )
                .layer(middleware::map_response(envelope_errors))
                .layer(TimeoutLayer::with_status_code(TIMED_OUT, limits.timeout))
                .layer(RequestBodyLimitLayer::new(limits.body_bytes)),
        )
}

fn request_span(req: &Request<Body>) -> Span {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = req.uri().path(),
        request_id,
    )
}

/// Every error answer is in the envelope, whoever produced it: a plain-text error from a
/// layer (body limit, time limit) or an extractor becomes the envelope of its status.
async fn envelope_errors<B>(response: axum::http::Response<B>) -> Response
where
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = response.map(Body::new);
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let err = match status {
        TIMED_OUT => ApiError::new(
            Reason::Timeout,
            "the request did not finish within the route's time limit; retry shortly",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => respond::body_too_large(),
        other => ApiError::new(
            Reason::from_status(other.as_u16()),
            other.canonical_reason().unwrap_or("error").to_string(),
        ),
    };
    let mut envelope = respond::error(&err);
    // Keep what the original answer said besides its body (request id, Allow, ...).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            envelope.headers_mut().insert(name.clone(), value.clone());
        }
    }
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    use crate::metrics::MetricsBuilder;

    fn app() -> Router {
        let metrics = MetricsBuilder::new("t").build();
        let router = Router::new()
            .route("/fast", get(|| async { "ok" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: axum::body::Bytes| async move { body }));
        standard_layers(
            router,
            metrics.http(),
            Limits {
                body_bytes: 16,
                timeout: Duration::from_millis(50),
            },
        )
    }

    async fn call(req: Request<Body>) -> Response {
        app().oneshot(req).await.expect("infallible")
    }

    #[tokio::test]
    async fn a_request_id_is_generated_or_kept_and_returned() {
        let r = call(Request::get("/fast").body(Body::empty()).unwrap()).await;
        assert!(r.headers().get(REQUEST_ID_HEADER).is_some());
        let r = call(
            Request::get("/fast")
                .header(REQUEST_ID_HEADER, "abc-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.headers()[REQUEST_ID_HEADER], "abc-1");
    }

    async fn reason_of(r: Response) -> (StatusCode, String) {
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("an envelope");
        (
            status,
            v["error"]["reason"].as_str().unwrap_or("").to_string(),
        )
    }

    #[tokio::test]
    async fn a_slow_route_answers_503_timeout_in_the_envelope() {
        let r = call(Request::get("/slow").body(Body::empty()).unwrap()).await;
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert!(r.headers().get(REQUEST_ID_HEADER).is_some());
        let (status, reason) = reason_of(r).await;
        assert_eq!((status.as_u16(), reason.as_str()), (503, "timeout"));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_answers_413_in_the_envelope() {
        let r = call(
            Request::post("/echo")
                .header(header::CONTENT_LENGTH, "40")
                .body(Body::from(vec![b'x'; 40]))
                .unwrap(),
        )
        .await;
        let (status, reason) = reason_of(r).await;
        assert_eq!((status.as_u16(), reason.as_str()), (413, "body_too_large"));
    }
}
