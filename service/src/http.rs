//! The HTTP layer every router of node and frontend gets: a request id (`X-Request-Id`
//! accepted or generated, returned, and carried by the request's trace span), a time
//! limit, the body limit, a request counter and a latency histogram per route, and the
//! error envelope on every error answer, including the ones the layer itself produces.
//!
//! It is one tower `Layer` with a hand-written future rather than a stack of tower-http
//! layers and axum middleware: each layer stacked on a router measured about 2 µs of CPU
//! per request, and together they added 40% to a cached lookup (see BENCHMARKS.md).
//! tower-http's `RequestId` type is kept in the request's extensions, as its
//! `SetRequestId` would, so handlers and other layers find it where they expect it.
//!
//! axum applies the layer to each endpoint (a route's method, a fallback) as the router is
//! built; each endpoint keeps its own route series, found at its first request (under the
//! route table's lock) and read with one atomic load after that: a request takes no lock
//! and builds no string for its metrics.
//!
//! With an [`AdmissionGate`] ([`standard_layers_admitting`]) the layer also sheds load:
//! each request is classed and, when its class is at its bound of requests in flight,
//! answered at once with 503 `overloaded` (see `admission.rs`); an admitted request holds
//! its slot until its answer's head is ready. The check lives here rather than in a layer
//! of its own for the reason above: one more stacked layer costs more than the check.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{header, HeaderName, HeaderValue, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use bazaar_api::{ApiError, Reason, REQUEST_ID_HEADER};
use tower::{Layer, Service};
use tower_http::request_id::RequestId;
use tracing::Span;

use crate::admission::{AdmissionGate, Permit};
use crate::metrics::{HttpMetrics, RouteHandle};
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

/// Wraps `router` in the standard layer. Call it last, after every route is added.
pub fn standard_layers(router: Router, metrics: &HttpMetrics, limits: Limits) -> Router {
    layered(router, metrics, limits, None)
}

/// [`standard_layers`] that also sheds load: every request is classed by `gate`'s rule and
/// admitted within its class's bound, or answered at once with 503 `overloaded` and
/// `Retry-After` (counted, timed and given its request id like any answer). Requests in no
/// class (health, metrics) are never shed.
pub fn standard_layers_admitting(
    router: Router,
    metrics: &HttpMetrics,
    limits: Limits,
    gate: AdmissionGate,
) -> Router {
    layered(router, metrics, limits, Some(gate))
}

fn layered(
    router: Router,
    metrics: &HttpMetrics,
    limits: Limits,
    gate: Option<AdmissionGate>,
) -> Router {
    router
        .layer(StandardLayer(Arc::new(Shared {
            metrics: metrics.clone(),
            timeout: limits.timeout,
            ids: SequentialIds::new(),
            gate,
        })))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
}

/// Hex digits of the random prefix of generated request ids.
const ID_PREFIX: usize = 8;

/// Request ids for requests that arrive without one: a random per-process prefix and a
/// counter (`4f1c9a2b-17`), unique across restarts and far cheaper than a UUID each.
struct SequentialIds {
    prefix: [u8; ID_PREFIX],
    next: AtomicU64,
}

impl SequentialIds {
    fn new() -> Self {
        let mut prefix = [b'0'; ID_PREFIX];
        let random = uuid::Uuid::new_v4().simple().to_string();
        prefix.copy_from_slice(&random.as_bytes()[..ID_PREFIX]);
        Self {
            prefix,
            next: AtomicU64::new(1),
        }
    }

    /// Built on the stack: the header value's own copy is the only allocation.
    fn next(&self) -> HeaderValue {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(n).as_bytes();
        let mut id = [0u8; ID_PREFIX + 1 + 20];
        id[..ID_PREFIX].copy_from_slice(&self.prefix);
        id[ID_PREFIX] = b'-';
        let len = ID_PREFIX + 1 + digits.len();
        id[ID_PREFIX + 1..len].copy_from_slice(digits);
        // Hex digits, a dash and decimal digits are always a valid header value.
        HeaderValue::from_bytes(&id[..len]).unwrap_or(HeaderValue::from_static("invalid-id"))
    }
}

/// Everything the layer needs, behind one `Arc`: axum clones a route's service for every
/// request, and one reference count is far cheaper than several contended ones.
struct Shared {
    metrics: HttpMetrics,
    timeout: Duration,
    ids: SequentialIds,
    gate: Option<AdmissionGate>,
}

#[derive(Clone)]
struct StandardLayer(Arc<Shared>);

impl<S> Layer<S> for StandardLayer {
    type Service = Standard<S>;

    /// Called once per endpoint of the router, as it is built.
    fn layer(&self, inner: S) -> Standard<S> {
        Standard {
            inner,
            endpoint: Arc::new(Endpoint {
                shared: self.0.clone(),
                route: OnceLock::new(),
            }),
        }
    }
}

/// One endpoint of the router: every request it serves matched the same route template
/// (or none, for the fallback), so the route's series is found once and kept here.
struct Endpoint {
    shared: Arc<Shared>,
    route: OnceLock<RouteHandle>,
}

/// Still one reference count per request (axum clones the endpoint's service for each).
#[derive(Clone)]
struct Standard<S> {
    inner: S,
    endpoint: Arc<Endpoint>,
}

impl<S> Standard<S> {
    fn shared(&self) -> &Shared {
        &self.endpoint.shared
    }
}

fn request_id_header() -> HeaderName {
    HeaderName::from_static(REQUEST_ID_HEADER)
}

impl<S> Service<Request<Body>> for Standard<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = StandardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // In the extensions, not the headers: growing the request's header map costs more
        // than the rest of this layer. Handlers read it with `Extension<RequestId>`.
        let id = match req.headers().get(REQUEST_ID_HEADER) {
            Some(id) => id.clone(),
            None => self.shared().ids.next(),
        };
        let route = *self.endpoint.route.get_or_init(|| {
            let matched = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
            self.endpoint.shared.metrics.route(matched)
        });
        req.extensions_mut().insert(RequestId::new(id.clone()));
        let span = request_span(&req, &id);
        let admitted = match &self.shared().gate {
            None => Ok(None),
            Some(gate) => gate.admit(&req),
        };
        let (inner, permit, shed) = match admitted {
            Ok(permit) => {
                let _entered = span.enter();
                (Some(self.inner.call(req)), permit, None)
            }
            Err(shed) => (None, None, Some(respond::error(&shed))),
        };
        StandardFuture {
            inner,
            shed,
            permit,
            deadline: None,
            span,
            id: Some(id),
            route,
            start: Instant::now(),
            endpoint: self.endpoint.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// One request, from call to answer: polled inside its span, cut off at the time
    /// limit. The timer is armed only if the answer is not ready at the first poll, so the
    /// many requests answered at once (cache hits) never touch the timer wheel. A request
    /// shed at admission has no inner future, only its answer.
    struct StandardFuture<F> {
        #[pin]
        inner: Option<F>,
        shed: Option<Response>,
        // The request's slot in its class, freed when the answer is ready (or the request
        // dropped).
        permit: Option<Permit>,
        #[pin]
        deadline: Option<tokio::time::Sleep>,
        span: Span,
        id: Option<HeaderValue>,
        route: RouteHandle,
        start: Instant,
        endpoint: Arc<Endpoint>,
    }
}

impl<F> Future for StandardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = match (this.inner.as_mut().as_pin_mut(), this.shed.take()) {
            (Some(inner), _) => {
                let _entered = this.span.enter();
                inner.poll(cx)
            }
            (None, Some(shed)) => Poll::Ready(Ok(shed)),
            (None, None) => Poll::Ready(Ok(respond::error(&ApiError::internal(
                "request polled again after its answer",
            )))),
        };
        let response = match polled {
            Poll::Ready(Ok(response)) => envelope_errors(response),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                if this.deadline.is_none() {
                    let at = *this.start + this.endpoint.shared.timeout;
                    this.deadline.set(Some(tokio::time::sleep_until(at.into())));
                }
                let Some(deadline) = this.deadline.as_mut().as_pin_mut() else {
                    return Poll::Pending;
                };
                if deadline.poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let _entered = this.span.enter();
                tracing::warn!(
                    route = this.route.name(),
                    limit_ms = this.endpoint.shared.timeout.as_millis() as u64,
                    request_id = this.id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
                    "request cut off at its time limit"
                );
                respond::error(&ApiError::new(
                    Reason::Timeout,
                    "the request did not finish within the route's time limit; retry shortly",
                ))
            }
        };
        // The answer's head is ready (or the handler was cut off): its work is dropped and
        // its slot free for the next request.
        this.inner.set(None);
        this.permit.take();
        let mut response = response;
        if let Some(id) = this.id.take() {
            response.headers_mut().insert(request_id_header(), id);
        }
        this.route
            .record(response.status().as_u16(), this.start.elapsed());
        Poll::Ready(Ok(response))
    }
}

/// The span that puts a request's id on every line logged while serving it (the same id
/// the frontend sends on to the node). At DEBUG: building an enabled span costs as much as
/// a third of a cached lookup, so it is on when asked for, e.g.
/// `RUST_LOG=info,bazaar_service=debug`; warnings about a request name its id themselves.
fn request_span(req: &Request<Body>, id: &HeaderValue) -> Span {
    tracing::debug_span!(
        "request",
        method = %req.method(),
        path = req.uri().path(),
        id = id.to_str().unwrap_or(""),
    )
}

/// Every error answer is in the envelope, whoever produced it: a plain-text error from an
/// extractor or a layer becomes the envelope of its status.
fn envelope_errors(response: Response) -> Response {
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
        StatusCode::PAYLOAD_TOO_LARGE => respond::body_too_large(),
        other => ApiError::new(
            Reason::from_status(other.as_u16()),
            other.canonical_reason().unwrap_or("error").to_string(),
        ),
    };
    let mut envelope = respond::error(&err);
    // Keep what the original answer said besides its body (Allow, ...).
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

    fn app() -> (Router, Arc<crate::Metrics>) {
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
        let router = standard_layers(
            router,
            metrics.http(),
            Limits {
                body_bytes: 16,
                timeout: Duration::from_millis(50),
            },
        );
        (router, metrics)
    }

    async fn call(req: Request<Body>) -> Response {
        app().0.oneshot(req).await.expect("infallible")
    }

    #[tokio::test]
    async fn a_request_id_is_generated_or_kept_and_returned() {
        let r = call(Request::get("/fast").body(Body::empty()).unwrap()).await;
        let generated = r.headers()[REQUEST_ID_HEADER].to_str().unwrap().to_string();
        assert!(generated.contains('-'), "{generated}");
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

    #[tokio::test]
    async fn every_route_is_counted_and_timed_even_unmatched_ones() {
        let (app, metrics) = app();
        for (method, path) in [
            ("GET", "/fast"),
            ("GET", "/fast"),
            ("GET", "/nowhere"),
            ("POST", "/echo"),
            ("GET", "/echo"),
            ("GET", "/fast"),
            ("POST", "/nowhere"),
        ] {
            let req = Request::builder().method(method).uri(path);
            let _ = app.clone().oneshot(req.body(Body::empty()).unwrap()).await;
        }
        let text = metrics.render();
        // Each endpoint keeps its own route's series, whichever endpoint was asked first.
        assert!(
            text.contains("t_http_requests_total{route=\"/fast\",status=\"200\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("t_http_requests_total{route=\"/echo\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("t_http_requests_total{route=\"/echo\",status=\"405\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("t_http_requests_total{route=\"unmatched\",status=\"404\"} 2"),
            "{text}"
        );
        assert!(text.contains("t_http_request_duration_seconds_count{route=\"/fast\"} 3"));
    }
}
