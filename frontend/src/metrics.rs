//! The frontend's own Prometheus series (besides the per-route HTTP series every router
//! gets): counters bumped on the request path, and gauges read from the cache and the feed
//! at scrape time.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bazaar_service::metrics::prometheus_client::collector::Collector;
use bazaar_service::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use bazaar_service::metrics::prometheus_client::metrics::counter::Counter;
use bazaar_service::metrics::prometheus_client::metrics::gauge::ConstGauge;
use bazaar_service::metrics::prometheus_client::registry::Registry;

use crate::cache::VersionedCache;
use crate::feed::FeedState;

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
    /// Fills that went through the test-only delay hook.
    pub test_fill_delays: Counter,
}

impl Metrics {
    /// Registers every counter (and the gauges `gauges` reads) in `registry`.
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
                "test_fill_delays",
                "Fills delayed by the test-only hook.",
                &self.test_fill_delays,
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

/// Gauges read from the cache and the feed when scraped.
pub struct Gauges {
    pub metrics: Arc<Metrics>,
    pub cache: Arc<VersionedCache>,
    pub feed: Arc<FeedState>,
    pub cache_enabled: bool,
}

impl fmt::Debug for Gauges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauges").finish_non_exhaustive()
    }
}

fn gauge<N>(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: N) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let now = Instant::now();
        let feed = self.feed.view(now);
        let e = &mut encoder;
        gauge(
            e,
            "cache_entries",
            "Entries in the cache.",
            self.cache.len() as i64,
        )?;
        gauge(
            e,
            "cache_capacity",
            "Cache capacity in entries.",
            self.cache.capacity() as i64,
        )?;
        gauge(
            e,
            "cache_enabled",
            "1 when the cache is configured on.",
            i64::from(self.cache_enabled),
        )?;
        gauge(
            e,
            "cache_serving",
            "1 when the cache may answer (enabled and feed fresh).",
            i64::from(feed.cache_serving),
        )?;
        gauge(
            e,
            "cache_hit_ratio",
            "Hits over hits plus misses since start.",
            self.metrics.hit_ratio(),
        )?;
        gauge(
            e,
            "feed_connected",
            "1 while the change feed is connected.",
            i64::from(self.feed.is_connected()),
        )?;
        gauge(
            e,
            "feed_last_index",
            "Last log index the change feed has processed.",
            i64::try_from(feed.last_index).unwrap_or(i64::MAX),
        )?;
        if let Some(age_ms) = feed.age_ms {
            gauge(
                e,
                "feed_age_seconds",
                "Time since the feed was last caught up (absent before the first catch-up).",
                age_ms as f64 / 1000.0,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bazaar_service::MetricsBuilder;
    use std::num::NonZeroUsize;
    use std::time::Duration;

    #[test]
    fn renders_counters_gauges_and_ratio() {
        let metrics = Arc::new(Metrics::default());
        let mut builder = MetricsBuilder::new("bazaar_frontend");
        metrics.register(builder.registry());
        builder.registry().register_collector(Box::new(Gauges {
            metrics: metrics.clone(),
            cache: Arc::new(VersionedCache::new(
                NonZeroUsize::new(10).expect("non-zero"),
                Duration::from_secs(1),
            )),
            feed: Arc::new(FeedState::new(Duration::from_secs(1), true)),
            cache_enabled: true,
        }));
        let registry = builder.build();
        for _ in 0..3 {
            metrics.cache_hits.inc();
        }
        metrics.cache_misses.inc();
        let text = registry.render();
        assert!(
            text.contains("bazaar_frontend_cache_hits_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("bazaar_frontend_cache_hit_ratio 0.75\n"),
            "{text}"
        );
        assert!(
            text.contains("bazaar_frontend_cache_capacity 10\n"),
            "{text}"
        );
        assert!(
            !text.contains("feed_age_seconds"),
            "no sentinel for a feed never caught up: {text}"
        );
    }
}
