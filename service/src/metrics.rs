//! Prometheus metrics through `prometheus-client`: one registry per process under the
//! process's prefix (`bazaar_node`, `bazaar_frontend`), a request counter and a latency
//! histogram per route for every router, and the text exposition. A leaf below the HTTP
//! layer (`http.rs` records into it; nothing here names that layer).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet};
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::latency::LatencyHistogram;

pub use prometheus_client;

/// Label of requests that matched no route (404s, scanners): one series for all of them.
const UNMATCHED: &str = "unmatched";
/// More route templates than any router here has: past it, requests count as unmatched
/// (the bound on what the route table keeps).
const MAX_ROUTES: usize = 256;
/// Status codes are 100 to 599.
const FIRST_STATUS: u16 = 100;
const STATUSES: usize = 500;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteOnly {
    route: &'static str,
}

/// One route's series, all plain atomics (see [`LatencyHistogram`]).
#[derive(Debug)]
struct RouteSeries {
    name: &'static str,
    by_status: Vec<AtomicU64>,
    latency: LatencyHistogram,
}

impl RouteSeries {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            by_status: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            latency: LatencyHistogram::new(),
        }
    }

    fn record(&self, status: u16, took: Duration) {
        let slot = usize::from(status.saturating_sub(FIRST_STATUS)).min(STATUSES - 1);
        self.by_status[slot].fetch_add(1, Ordering::Relaxed);
        self.latency.record(took);
    }
}

/// Every route seen so far, by template. Routes are a fixed handful per router, so each
/// series is created once and kept for the life of the process.
#[derive(Debug)]
struct RouteTable {
    routes: RwLock<HashMap<String, &'static RouteSeries>>,
    unmatched: &'static RouteSeries,
}

impl RouteTable {
    fn new() -> Self {
        Self {
            routes: RwLock::new(HashMap::new()),
            unmatched: Box::leak(Box::new(RouteSeries::new(UNMATCHED))),
        }
    }

    fn series(&self, route: Option<&str>) -> &'static RouteSeries {
        let Some(route) = route else {
            return self.unmatched;
        };
        if let Some(series) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(route)
        {
            return series;
        }
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        if routes.len() >= MAX_ROUTES {
            return self.unmatched;
        }
        routes.entry(route.to_owned()).or_insert_with(|| {
            let name: &'static str = Box::leak(route.to_owned().into_boxed_str());
            Box::leak(Box::new(RouteSeries::new(name)))
        })
    }

    fn all(&self) -> Vec<&'static RouteSeries> {
        let mut all: Vec<_> = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .copied()
            .collect();
        all.sort_by_key(|s| s.name);
        all.push(self.unmatched);
        all
    }
}

/// Per-route request counts and latencies; cheap to clone (one shared table).
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    table: Arc<RouteTable>,
}

impl HttpMetrics {
    fn register(registry: &mut Registry) -> Self {
        let table = Arc::new(RouteTable::new());
        registry.register_collector(Box::new(HttpCollector(table.clone())));
        Self { table }
    }

    /// Records one answered request under the route template it matched (`None`: none).
    pub fn observe(&self, route: Option<&str>, status: u16, took: Duration) {
        self.table.series(route).record(status, took);
    }

    /// The series of a route: looked up once per endpoint of a router, at its first
    /// request (the HTTP layer keeps the handle).
    pub(crate) fn route(&self, matched: Option<&str>) -> RouteHandle {
        RouteHandle(self.table.series(matched))
    }
}

/// Where one request's outcome is recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteHandle(&'static RouteSeries);

impl RouteHandle {
    pub(crate) fn name(self) -> &'static str {
        self.0.name
    }

    pub(crate) fn record(self, status: u16, took: Duration) {
        self.0.record(status, took);
    }
}

/// Encodes the route table as `http_requests_total` and `http_request_duration_seconds`.
#[derive(Debug)]
struct HttpCollector(Arc<RouteTable>);

impl Collector for HttpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let routes = self.0.all();
        let mut counters = encoder.encode_descriptor(
            "http_requests",
            "HTTP requests answered, by route and status code.",
            None,
            MetricType::Counter,
        )?;
        for series in &routes {
            for (slot, n) in series.by_status.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let labels = RouteStatus {
                    route: series.name,
                    status: FIRST_STATUS + slot as u16,
                };
                counters
                    .encode_family(&labels)?
                    .encode_counter::<RouteOnly, u64, u64>(&n, None)?;
            }
        }
        let mut histograms = encoder.encode_descriptor(
            "http_request_duration",
            "Time from a request's arrival to its answer's head, by route.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for series in &routes {
            let (sum, count, buckets) = series.latency.snapshot();
            if count == 0 {
                continue;
            }
            histograms
                .encode_family(&RouteOnly { route: series.name })?
                .encode_histogram::<RouteOnly>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// A process's metrics: build with [`MetricsBuilder`], render with [`Metrics::render`].
#[derive(Debug)]
pub struct Metrics {
    /// Series shared by every Bazaar process: `bazaar_build_info`.
    common: Registry,
    registry: Registry,
    http: HttpMetrics,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    component: String,
    version: &'static str,
    commit: &'static str,
}

/// Registration happens once at start-up; the registry is read-only afterwards.
pub struct MetricsBuilder {
    common: Registry,
    registry: Registry,
    http: HttpMetrics,
}

impl MetricsBuilder {
    /// `prefix` names every series of the process, e.g. `bazaar_node`; its last word is
    /// the `component` of `bazaar_build_info`.
    pub fn new(prefix: &str) -> Self {
        let mut common = Registry::with_prefix("bazaar");
        common.register(
            "build",
            "The build of this process (value always 1).",
            Info::new(BuildLabels {
                component: prefix.rsplit('_').next().unwrap_or(prefix).to_string(),
                version: crate::version::VERSION,
                commit: crate::version::GIT_COMMIT,
            }),
        );
        let mut registry = Registry::with_prefix(prefix);
        let http = HttpMetrics::register(&mut registry);
        Self {
            common,
            registry,
            http,
        }
    }

    /// Where the process registers its own metrics and collectors.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    pub fn build(self) -> Arc<Metrics> {
        Arc::new(Metrics {
            common: self.common,
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
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::with_capacity(16 * 1024);
        let encoded = encode_registry(&mut out, &self.common)
            .and_then(|()| encode_registry(&mut out, &self.registry))
            .and_then(|()| encode_eof(&mut out));
        if let Err(e) = encoded {
            tracing::error!(cause = %e, "metrics encoding failed");
        }
        out
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_status_with_a_latency_histogram() {
        let metrics = MetricsBuilder::new("t").build();
        metrics
            .http()
            .observe(Some("/a"), 200, Duration::from_micros(200));
        metrics
            .http()
            .observe(Some("/a"), 404, Duration::from_millis(2));
        metrics.http().observe(None, 404, Duration::from_millis(1));
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
        assert!(
            text.contains("bazaar_build_info{component=\"t\",version="),
            "{text}"
        );
        assert!(text.contains("t_http_requests_total{route=\"unmatched\",status=\"404\"} 1"));
        assert!(
            text.contains("t_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/a\"} 2"),
            "{text}"
        );
    }
}
