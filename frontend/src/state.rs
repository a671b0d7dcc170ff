//! What every request handler shares: the backend, the cache and its reader, the feed's
//! health and the counters, and this frontend's status as `/cluster` reports it.

use std::sync::Arc;
use std::time::Instant;

use bazaar_api::FrontendStatus;
use bazaar_service::Metrics as Registry;

use crate::backend::Backend;
use crate::cache::{CacheKey, VersionedCache};
use crate::feed::FeedState;
use crate::metrics::Metrics;
use crate::order_batcher::OrderBatcher;
use crate::reader::CachedReader;

pub struct AppState {
    pub backend: Arc<Backend>,
    /// Orders to the leader, many per request (`None`: `frontend.batch_orders` is off).
    pub orders: Option<OrderBatcher>,
    pub reader: CachedReader,
    pub cache: Arc<VersionedCache>,
    pub feed: Arc<FeedState>,
    pub metrics: Arc<Metrics>,
    /// Every series of this process, for `GET /metrics`.
    pub registry: Arc<Registry>,
    pub cache_enabled: bool,
    /// `frontend.admin`: forward catalog admin routes.
    pub admin_enabled: bool,
}

impl AppState {
    /// Write-through invalidation of a product (and its topic searches) changed at
    /// `index`, done before the write is acknowledged so the writer reads its write
    /// (the cache's rule: see `cache::store`).
    pub fn invalidate_product(&self, name: &str, topics: &[Option<String>], index: u64) {
        self.cache
            .advance(&CacheKey::Product(name.to_string()), index);
        self.metrics.invalidations.inc();
        for topic in topics.iter().flatten() {
            self.cache.advance(&CacheKey::Topic(topic.clone()), index);
            self.metrics.invalidations.inc();
        }
    }

    /// This frontend's cache, feed and routing state.
    pub fn status(&self, now: Instant) -> FrontendStatus {
        let m = &self.metrics;
        FrontendStatus {
            cache_enabled: self.cache_enabled,
            cache_serving: self.reader.serving(now),
            cache_size: self.cache.len(),
            cache_capacity: self.cache.capacity(),
            hits: m.cache_hits.get(),
            misses: m.cache_misses.get(),
            hit_ratio: m.hit_ratio(),
            fills_refused: m.fills_refused.get(),
            singleflight_shared: m.singleflight_shared.get(),
            leader_hint: self.backend.leader_api(),
            feed: self.feed.view(now),
        }
    }
}
