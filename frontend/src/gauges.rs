//! The frontend's gauges, read from the cache, the feed and the counters when `/metrics`
//! is scraped (a prometheus-client `Collector`): nothing is kept up to date in between.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use bazaar_service::metrics::prometheus_client::collector::Collector;
use bazaar_service::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use bazaar_service::metrics::prometheus_client::metrics::gauge::ConstGauge;

use crate::cache::VersionedCache;
use crate::feed::FeedState;
use crate::metrics::Metrics;

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
