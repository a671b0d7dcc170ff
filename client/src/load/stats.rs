//! Load statistics: HDR latency histograms per request kind, error counts by kind, and
//! apart from them the shed answers (turned away unrun: `overloaded`, `rate_limited`).

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies are recorded in microseconds, up to a minute, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant bounds are valid")
}

#[derive(Debug, Clone)]
pub struct LoadStats {
    pub lookup: Histogram<u64>,
    pub order: Histogram<u64>,
    pub errors: BTreeMap<String, u64>,
    /// Shed answers by request and reason (`lookup overloaded`, `order rate_limited
    /// (retried)`): not failures, the server's ask to come back later.
    pub shed: BTreeMap<String, u64>,
    pub orders_placed: u64,
}

impl Default for LoadStats {
    fn default() -> Self {
        Self {
            lookup: histogram(),
            order: histogram(),
            errors: BTreeMap::new(),
            shed: BTreeMap::new(),
            orders_placed: 0,
        }
    }
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LoadStats {
    pub fn record_lookup(&mut self, took: Duration) {
        self.lookup.saturating_record(took.as_micros() as u64);
    }

    pub fn record_order(&mut self, took: Duration) {
        self.order.saturating_record(took.as_micros() as u64);
    }

    pub fn record_error(&mut self, kind: &str, what: &str) {
        *self.errors.entry(format!("{what} {kind}")).or_default() += 1;
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn record_shed(&mut self, kind: &str, what: &str) {
        *self.shed.entry(format!("{what} {kind}")).or_default() += 1;
    }

    pub fn shed_total(&self) -> u64 {
        self.shed.values().sum()
    }

    pub fn merge(&mut self, other: &LoadStats) {
        // Same bounds on both sides, so adding cannot fail; saturate rather than panic anyway.
        let _ = self.lookup.add(&other.lookup);
        let _ = self.order.add(&other.order);
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.shed {
            *self.shed.entry(k.clone()).or_default() += v;
        }
        self.orders_placed += other.orders_placed;
    }
}

pub fn latency(h: &Histogram<u64>) -> Latency {
    let ms = |us: u64| us as f64 / 1000.0;
    Latency {
        count: h.len(),
        mean: h.mean() / 1000.0,
        p50: ms(h.value_at_quantile(0.5)),
        p90: ms(h.value_at_quantile(0.9)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_stats_add_counts_and_errors() {
        let mut a = LoadStats::default();
        a.record_lookup(Duration::from_millis(1));
        a.record_error("timeout", "order");
        let mut b = LoadStats::default();
        b.record_lookup(Duration::from_millis(3));
        b.record_error("timeout", "order");
        b.record_shed("overloaded", "lookup");
        a.merge(&b);
        let l = latency(&a.lookup);
        assert_eq!(l.count, 2);
        assert!((l.max - 3.0).abs() < 0.01, "{l:?}");
        assert_eq!(a.errors.get("order timeout"), Some(&2));
        assert_eq!(a.shed.get("lookup overloaded"), Some(&1));
        assert_eq!((a.error_total(), a.shed_total()), (2, 1));
    }
}
