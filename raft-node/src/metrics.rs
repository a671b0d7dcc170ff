//! Request counts and latency histograms by route, rendered as Prometheus text. Lock-free on
//! the request path: the route table is fixed at start-up and every counter is atomic.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Status classes counted separately: 2xx, 3xx, 4xx, 5xx.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

#[derive(Default)]
struct RouteStats {
    by_class: [AtomicU64; 4],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl RouteStats {
    fn record(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).saturating_sub(2).min(3);
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

pub struct HttpMetrics {
    prefix: &'static str,
    routes: HashMap<&'static str, RouteStats>,
    other: RouteStats,
}

impl HttpMetrics {
    /// `prefix` names the series (`bazaar_node`, `bazaar_frontend`); `routes` are axum paths.
    pub fn new(prefix: &'static str, routes: &[&'static str]) -> Arc<Self> {
        Arc::new(Self {
            prefix,
            routes: routes.iter().map(|r| (*r, RouteStats::default())).collect(),
            other: RouteStats::default(),
        })
    }

    pub fn record(&self, route: Option<&str>, status: u16, seconds: f64) {
        route
            .and_then(|r| self.routes.get(r))
            .unwrap_or(&self.other)
            .record(status, seconds);
    }

    pub fn render(&self, out: &mut String) {
        let p = self.prefix;
        let _ = writeln!(
            out,
            "# HELP {p}_requests_total Requests answered, by route and status class."
        );
        let _ = writeln!(out, "# TYPE {p}_requests_total counter");
        let mut rows: Vec<(&str, &RouteStats)> = self.routes.iter().map(|(r, s)| (*r, s)).collect();
        rows.sort_by_key(|(r, _)| *r);
        rows.push(("other", &self.other));
        for (route, stats) in &rows {
            for (class, n) in CLASSES.iter().zip(&stats.by_class) {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "{p}_requests_total{{route=\"{route}\",status=\"{class}\"}} {n}"
                    );
                }
            }
        }
        let _ = writeln!(out, "# HELP {p}_request_seconds Request latency by route.");
        let _ = writeln!(out, "# TYPE {p}_request_seconds histogram");
        for (route, stats) in &rows {
            let count = stats.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&stats.buckets) {
                cumulative += n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "{p}_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "{p}_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let sum = stats.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "{p}_request_seconds_sum{{route=\"{route}\"}} {sum}");
            let _ = writeln!(
                out,
                "{p}_request_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
    }
}

/// axum middleware: times every request and files it under its matched route.
pub async fn track_requests(
    State(metrics): State<Arc<HttpMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let start = Instant::now();
    let resp = next.run(req).await;
    metrics.record(
        route.as_deref(),
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_route_and_class_with_cumulative_buckets() {
        let m = HttpMetrics::new("t", &["/a"]);
        m.record(Some("/a"), 200, 0.0002);
        m.record(Some("/a"), 404, 0.002);
        m.record(Some("/zzz"), 500, 0.2);
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains("t_requests_total{route=\"/a\",status=\"2xx\"} 1"),
            "{out}"
        );
        assert!(out.contains("t_requests_total{route=\"/a\",status=\"4xx\"} 1"));
        assert!(out.contains("t_requests_total{route=\"other\",status=\"5xx\"} 1"));
        assert!(out.contains("t_request_seconds_bucket{route=\"/a\",le=\"0.00025\"} 1"));
        assert!(out.contains("t_request_seconds_bucket{route=\"/a\",le=\"0.0025\"} 2"));
        assert!(out.contains("t_request_seconds_count{route=\"/a\"} 2"));
    }
}
