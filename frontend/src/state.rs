//! What every request handler shares: the backend, the cache and its reader, the feed's
//! health and the counters.

use std::sync::Arc;
use std::time::Instant;

use crate::backend::Backend;
use crate::cache::{CacheKey, VersionedCache};
use crate::feed::FeedState;
use crate::metrics::{bump, Gauges, Metrics};
use crate::reader::CachedReader;

pub struct AppState {
    pub backend: Arc<Backend>,
    pub reader: CachedReader,
    pub cache: Arc<VersionedCache>,
    pub feed: Arc<FeedState>,
    pub metrics: Arc<Metrics>,
    pub cache_enabled: bool,
}

impl AppState {
    /// Write-through invalidation of a product (and its topic searches) changed at
    /// `index`, done before the write is acknowledged so the writer reads its write.
    pub fn invalidate_product(&self, name: &str, topics: &[Option<String>], index: u64) {
        self.cache
            .invalidate(&CacheKey::Product(name.to_string()), index);
        bump(&self.metrics.invalidations);
        for topic in topics.iter().flatten() {
            self.cache
                .invalidate(&CacheKey::Topic(topic.clone()), index);
            bump(&self.metrics.invalidations);
        }
    }

    pub fn gauges(&self, now: Instant) -> Gauges {
        let feed = self.feed.view(now);
        Gauges {
            cache_entries: self.cache.len(),
            cache_capacity: self.cache.capacity(),
            cache_enabled: self.cache_enabled,
            cache_serving: self.reader.serving(now),
            feed_connected: self.feed.is_connected(),
            feed_last_index: feed.last_index,
            feed_age_ms: feed.age_ms,
        }
    }
}
