//! Counters the frontend keeps about itself, shown by `GET /metrics` (Prometheus text)
//! and `GET /cluster`. Plain atomics: the hot path only ever increments.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    /// Cacheable reads answered by a node because the cache was off or the feed stale.
    pub cache_bypassed: AtomicU64,
    pub fills_stored: AtomicU64,
    /// Fills refused because an invalidation newer than the read was seen (no stale fill).
    pub fills_refused: AtomicU64,
    /// Misses that waited on another request's backend read instead of making their own.
    pub singleflight_shared: AtomicU64,
    pub invalidations: AtomicU64,
    pub backend_reads: AtomicU64,
    pub backend_writes: AtomicU64,
    pub backend_failures: AtomicU64,
    pub not_leader_redirects: AtomicU64,
    pub orders: AtomicU64,
    /// Requests this frontend answered 503 because no node answered in time.
    pub unavailable: AtomicU64,
    pub feed_reconnects: AtomicU64,
    pub feed_resets: AtomicU64,
    pub feed_changes: AtomicU64,
    /// Fills that went through the test-only delay hook.
    pub test_fill_delays: AtomicU64,
}

/// Gauges sampled at render time from other parts of the frontend.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub cache_entries: usize,
    pub cache_capacity: usize,
    pub cache_enabled: bool,
    pub cache_serving: bool,
    pub feed_connected: bool,
    pub feed_last_index: u64,
    pub feed_age_ms: Option<u64>,
}

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub fn hit_ratio(&self) -> f64 {
        let hits = self.cache_hits.load(Ordering::Relaxed) as f64;
        let misses = self.cache_misses.load(Ordering::Relaxed) as f64;
        if hits + misses == 0.0 {
            0.0
        } else {
            hits / (hits + misses)
        }
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, gauges: Gauges) -> String {
        let counters: [(&str, &str, &AtomicU64); 17] = [
            (
                "cache_hits_total",
                "Cacheable reads answered from the cache.",
                &self.cache_hits,
            ),
            (
                "cache_misses_total",
                "Cacheable reads not found in the cache.",
                &self.cache_misses,
            ),
            (
                "cache_bypassed_total",
                "Cacheable reads sent to a node because the cache was off or stale.",
                &self.cache_bypassed,
            ),
            (
                "cache_fills_total",
                "Answers stored in the cache.",
                &self.fills_stored,
            ),
            (
                "cache_fills_refused_total",
                "Fills refused as older than a seen invalidation.",
                &self.fills_refused,
            ),
            (
                "singleflight_shared_total",
                "Misses served by another request's backend read.",
                &self.singleflight_shared,
            ),
            (
                "cache_invalidations_total",
                "Keys invalidated by writes or the change feed.",
                &self.invalidations,
            ),
            (
                "backend_reads_total",
                "Read attempts sent to nodes.",
                &self.backend_reads,
            ),
            (
                "backend_writes_total",
                "Write attempts sent to nodes.",
                &self.backend_writes,
            ),
            (
                "backend_failures_total",
                "Node requests that failed to connect or timed out.",
                &self.backend_failures,
            ),
            (
                "not_leader_redirects_total",
                "Not-leader answers followed to the named leader.",
                &self.not_leader_redirects,
            ),
            (
                "orders_total",
                "Orders acknowledged through this frontend.",
                &self.orders,
            ),
            (
                "unavailable_total",
                "Requests answered 503 because no node answered in time.",
                &self.unavailable,
            ),
            (
                "feed_reconnects_total",
                "Change feed connections opened.",
                &self.feed_reconnects,
            ),
            (
                "feed_resets_total",
                "Change feed resets (whole cache dropped).",
                &self.feed_resets,
            ),
            (
                "feed_changes_total",
                "Change events received from the feed.",
                &self.feed_changes,
            ),
            (
                "test_fill_delays_total",
                "Fills delayed by the test-only hook.",
                &self.test_fill_delays,
            ),
        ];
        let mut out = String::with_capacity(4096);
        for (name, help, value) in counters {
            let _ = writeln!(out, "# HELP bazaar_frontend_{name} {help}");
            let _ = writeln!(out, "# TYPE bazaar_frontend_{name} counter");
            let _ = writeln!(
                out,
                "bazaar_frontend_{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let gauges_list: [(&str, &str, f64); 7] = [
            (
                "cache_entries",
                "Entries in the cache.",
                gauges.cache_entries as f64,
            ),
            (
                "cache_capacity",
                "Cache capacity in entries.",
                gauges.cache_capacity as f64,
            ),
            (
                "cache_enabled",
                "1 when the cache is configured on.",
                f64::from(u8::from(gauges.cache_enabled)),
            ),
            (
                "cache_serving",
                "1 when the cache may answer (enabled and feed fresh).",
                f64::from(u8::from(gauges.cache_serving)),
            ),
            (
                "feed_connected",
                "1 while the change feed is connected.",
                f64::from(u8::from(gauges.feed_connected)),
            ),
            (
                "feed_last_index",
                "Last log index the change feed has processed.",
                gauges.feed_last_index as f64,
            ),
            (
                "feed_age_ms",
                "Milliseconds since the feed was last caught up (-1: never).",
                gauges.feed_age_ms.map_or(-1.0, |v| v as f64),
            ),
        ];
        for (name, help, value) in gauges_list {
            let _ = writeln!(out, "# HELP bazaar_frontend_{name} {help}");
            let _ = writeln!(out, "# TYPE bazaar_frontend_{name} gauge");
            let _ = writeln!(out, "bazaar_frontend_{name} {value}");
        }
        let _ = writeln!(
            out,
            "# HELP bazaar_frontend_cache_hit_ratio Hits over hits plus misses."
        );
        let _ = writeln!(out, "# TYPE bazaar_frontend_cache_hit_ratio gauge");
        let _ = writeln!(out, "bazaar_frontend_cache_hit_ratio {}", self.hit_ratio());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_ratio() {
        let m = Metrics::default();
        bump(&m.cache_hits);
        bump(&m.cache_hits);
        bump(&m.cache_hits);
        bump(&m.cache_misses);
        let text = m.render(Gauges {
            cache_entries: 2,
            cache_capacity: 10,
            cache_enabled: true,
            cache_serving: false,
            feed_connected: false,
            feed_last_index: 7,
            feed_age_ms: None,
        });
        assert!(
            text.contains("bazaar_frontend_cache_hits_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("bazaar_frontend_cache_hit_ratio 0.75\n"),
            "{text}"
        );
        assert!(
            text.contains("bazaar_frontend_feed_last_index 7\n"),
            "{text}"
        );
        assert!(text.contains("bazaar_frontend_feed_age_ms -1\n"), "{text}");
    }
}
