//! The frontend's own counters (besides the per-route HTTP series every router gets),
//! bumped on the request path. A leaf: the gauges read at scrape time from the cache and
//! the feed are `gauges.rs`, so every module may count here without a cycle.

use bazaar_service::metrics::prometheus_client::metrics::counter::Counter;
use bazaar_service::metrics::prometheus_client::registry::Registry;

/// Counters; each is a shared atomic, so bumping one is one atomic add.
#[derive(Debug, Default)]
pub struct Metrics {
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    /// Cacheable reads answered by a node because the cache was off or the feed stale.
    pub cache_bypassed: Counter,
    pub fills_stored: Counter,
    /// Fills refused because an invalidation newer than the read was seen (no stale fill).
    pub fills_refused: Counter,
    /// Misses that waited on another request's backend read instead of making their own.
    pub singleflight_shared: Counter,
    pub invalidations: Counter,
    pub backend_reads: Counter,
    pub backend_writes: Counter,
    pub backend_failures: Counter,
    pub not_leader_redirects: Counter,
    pub orders: Counter,
    /// Requests this frontend answered 503 because no node answered in time.
    pub unavailable: Counter,
    pub feed_reconnects: Counter,
    pub feed_resets: Counter,
    /// Times the cache started again from empty once the feed caught up after a bypass.
    pub cache_refills: Counter,
    pub feed_changes: Counter,
    /// Requests answered 429 because their client was over its rate (`[limits.rate]`).
    pub rate_limited: Counter,
}

impl Metrics {
    /// Registers every counter in `registry` (the gauges are `gauges::Gauges`).
    pub fn register(&self, registry: &mut Registry) {
        let counters: [(&str, &str, &Counter); 18] = [
            (
                "cache_hits",
                "Cacheable reads answered from the cache.",
                &self.cache_hits,
            ),
            (
                "cache_misses",
                "Cacheable reads not found in the cache.",
                &self.cache_misses,
            ),
            (
                "cache_bypassed",
                "Cacheable reads sent to a node because the cache was off or stale.",
                &self.cache_bypassed,
            ),
            (
                "cache_fills",
                "Answers stored in the cache.",
                &self.fills_stored,
            ),
            (
                "cache_fills_refused",
                "Fills refused as older than a seen invalidation.",
                &self.fills_refused,
            ),
            (
                "singleflight_shared",
                "Misses served by another request's backend read.",
                &self.singleflight_shared,
            ),
            (
                "cache_invalidations",
                "Keys invalidated by writes or the change feed.",
                &self.invalidations,
            ),
            (
                "backend_reads",
                "Read attempts sent to nodes.",
                &self.backend_reads,
            ),
            (
                "backend_writes",
                "Write attempts sent to nodes.",
                &self.backend_writes,
            ),
            (
                "backend_failures",
                "Node requests that failed to connect or timed out.",
                &self.backend_failures,
            ),
            (
                "not_leader_redirects",
                "Not-leader answers followed to the named leader.",
                &self.not_leader_redirects,
            ),
            (
                "orders",
                "Orders acknowledged through this frontend.",
                &self.orders,
            ),
            (
                "unavailable",
                "Requests answered 503 because no node answered in time.",
                &self.unavailable,
            ),
            (
                "feed_reconnects",
                "Change feed connections opened.",
                &self.feed_reconnects,
            ),
            (
                "feed_resets",
                "Change feed resets (whole cache dropped).",
                &self.feed_resets,
            ),
            (
                "cache_refills",
                "Times the cache started again from empty once the change feed caught up after the cache was bypassed.",
                &self.cache_refills,
            ),
            (
                "feed_changes",
                "Change events received from the feed.",
                &self.feed_changes,
            ),
            (
                "rate_limited",
                "Requests answered 429 because their client was over its rate ([limits.rate]).",
                &self.rate_limited,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
    }

    pub fn hit_ratio(&self) -> f64 {
        let hits = self.cache_hits.get() as f64;
        let misses = self.cache_misses.get() as f64;
        if hits + misses == 0.0 {
            0.0
        } else {
            hits / (hits + misses)
        }
    }
}
