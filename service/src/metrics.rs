//! Prometheus metrics through `prometheus-client`: one registry per process under the
//! process's prefix (`bazaar_node`, `bazaar_frontend`), a request counter and a latency
//! histogram per route for every router (see [`crate::http`]), and the text exposition.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

pub use prometheus_client;

/// Latency bucket upper bounds, in seconds: 50 µs to 5 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

/// Label of requests that matched no route (404s, scanners): one series for all of them.
const UNMATCHED: &str = "unmatched";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Per-route request counts and latencies; cheap to clone (shared counters).
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RouteStatus, Counter>,
    latency: Family<RouteOnly, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    fn register(registry: &mut Registry) -> Self {
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = Family::<RouteOnly, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status code.",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its answer's head, by route.",
            Unit::Seconds,
            latency.clone(),
        );
        Self { requests, latency }
    }

    /// Records one answered request.
    pub fn observe(&self, route: &str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteOnly {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }
}

/// A process's metrics: build with [`MetricsBuilder`], render with [`Metrics::render`].
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http: HttpMetrics,
}

/// Registration happens once at start-up; the registry is read-only afterwards.
pub struct MetricsBuilder {
    registry: Registry,
    http: HttpMetrics,
}

impl MetricsBuilder {
    /// `prefix` names every series of the process, e.g. `bazaar_node`.
    pub fn new(prefix: &str) -> Self {
        let mut registry = Registry::with_prefix(prefix);
        let http = HttpMetrics::register(&mut registry);
        Self { registry, http }
    }

    /// Where the process registers its own metrics and collectors.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn build(self) -> Arc<Metrics> {
        Arc::new(Metrics {
            registry: self.registry,
            http: self.http,
        })
    }
}

impl Metrics {
    pub fn http(&self) -> &HttpMetrics {
        &self.http
    }

    /// The Prometheus (OpenMetrics) text exposition of every registered metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(cause = %e, "metrics encoding failed");
        }
        out
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// axum middleware: times every request and files it under its matched route.
pub async fn track(State(metrics): State<HttpMetrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics.observe(
        route.as_deref().unwrap_or(UNMATCHED),
        resp.status().as_u16(),
        start.elapsed(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_status_with_a_latency_histogram() {
        let metrics = MetricsBuilder::new("t").build();
        metrics
            .http()
            .observe("/a", 200, Duration::from_micros(200));
        metrics.http().observe("/a", 404, Duration::from_millis(2));
        let text = metrics.render();
        assert!(
            text.contains("t_http_requests_total{route=\"/a\",status=\"200\"} 1"),
            "{text}"
        );
        assert!(text.contains("t_http_requests_total{route=\"/a\",status=\"404\"} 1"));
        assert!(text.contains("# TYPE t_http_request_duration_seconds histogram"));
        assert!(
            text.contains("t_http_request_duration_seconds_bucket{le=\"0.00025\",route=\"/a\"} 1"),
            "{text}"
        );
        assert!(text.contains("t_http_request_duration_seconds_count{route=\"/a\"} 2"));
    }
}
