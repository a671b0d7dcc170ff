//! Every catalog read the frontend answers: from the cache while the change feed is
//! fresh, otherwise (or on a miss) from a node, sharing concurrent misses of one key. Each
//! node answer raises the watermarks of the keys it shows before it is served or stored
//! (the cache's rule, `cache::store`), so no later answer can go back before it.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderValue, StatusCode};
use bazaar_api::{Envelope, ProductList, ProductView, SearchResult};

use crate::backend::{Backend, BackendError, NodeReply};
use crate::cache::{CacheKey, CachedAnswer, FillOutcome, Singleflight, VersionedCache};
use crate::feed::FeedState;
use crate::lookup_batcher::LookupBatcher;
use crate::metrics::Metrics;

type FetchResult = Result<NodeReply, BackendError>;

/// How a cacheable read was answered.
#[derive(Debug)]
pub enum ReadOutcome {
    Hit(CachedAnswer),
    Miss(NodeReply),
    /// Read from a node because the cache may not answer now (off, or the feed is not
    /// fresh).
    Bypass(NodeReply),
}

pub struct CachedReader {
    backend: Arc<Backend>,
    /// Product lookups that go to a node, many per request (`None`:
    /// `frontend.batch_lookups` is off).
    lookups: Option<LookupBatcher>,
    cache: Arc<VersionedCache>,
    feed: Arc<FeedState>,
    metrics: Arc<Metrics>,
    flights: Singleflight<CacheKey, FetchResult>,
    enabled: bool,
}

impl CachedReader {
    pub fn new(
        backend: Arc<Backend>,
        lookups: Option<LookupBatcher>,
        cache: Arc<VersionedCache>,
        feed: Arc<FeedState>,
        metrics: Arc<Metrics>,
        enabled: bool,
    ) -> Self {
        Self {
            backend,
            lookups,
            cache,
            feed,
            metrics,
            flights: Singleflight::default(),
            enabled,
        }
    }

    /// Whether lookups may be answered from the cache right now.
    pub fn serving(&self, now: Instant) -> bool {
        self.enabled && self.feed.is_fresh(now)
    }

    /// A cacheable read of `key`, fetched from the node on a miss. `request_id` goes with
    /// the node request this call makes (a shared miss carries the first caller's).
    pub async fn lookup(
        &self,
        key: CacheKey,
        request_id: Option<&HeaderValue>,
    ) -> Result<ReadOutcome, BackendError> {
        let now = Instant::now();
        if !self.serving(now) {
            // Cache off, or the feed has been down past the staleness bound: whatever
            // is cached may be stale, so neither answer from it nor fill it.
            self.metrics.cache_misses.inc();
            self.metrics.cache_bypassed.inc();
            return self
                .node_read(&key, &key.node_path(), request_id)
                .await
                .map(ReadOutcome::Bypass);
        }
        if let Some(hit) = self.cache.get(&key, now) {
            self.metrics.cache_hits.inc();
            return Ok(ReadOutcome::Hit(hit));
        }
        self.metrics.cache_misses.inc();
        let path = key.node_path();
        let path = path.as_str();
        let (result, shared) = self
            .flights
            .run(key.clone(), || {
                self.fetch_and_fill(key.clone(), path, request_id.cloned())
            })
            .await;
        if shared {
            self.metrics.singleflight_shared.inc();
            // The flight may have started before a write this caller already saw was
            // acknowledged; an answer older than the key's newest invalidation would
            // break read-your-writes, so read again on our own.
            if let Ok(reply) = &result {
                if reply.index.unwrap_or(0) < self.cache.watermark(&key) {
                    return self
                        .node_read(&key, path, request_id)
                        .await
                        .map(ReadOutcome::Miss);
                }
            }
        }
        result.map(ReadOutcome::Miss)
    }

    async fn fetch_and_fill(
        &self,
        key: CacheKey,
        path: &str,
        request_id: Option<HeaderValue>,
    ) -> FetchResult {
        let reply = self.backend_read(&key, path, request_id.as_ref()).await?;
        let Some(answer) = self.observe(&key, &reply) else {
            return Ok(reply);
        };
        #[cfg(feature = "failpoints")]
        hold_fill(&key).await;
        let read_index = answer.index;
        match self.cache.fill(key.clone(), answer, Instant::now()) {
            FillOutcome::Stored => {
                self.metrics.fills_stored.inc();
            }
            FillOutcome::RefusedStale => {
                self.metrics.fills_refused.inc();
                tracing::debug!(%key, read_index, "stale fill refused");
            }
            FillOutcome::KeptNewer => {}
        }
        Ok(reply)
    }

    /// `key` read from a node at `path`, its watermarks raised: what every answer that
    /// is not stored (a bypass, a re-read) goes through.
    async fn node_read(
        &self,
        key: &CacheKey,
        path: &str,
        request_id: Option<&HeaderValue>,
    ) -> FetchResult {
        let reply = self.backend_read(key, path, request_id).await?;
        self.observe(key, &reply);
        Ok(reply)
    }

    /// `key` read from a node at `path`: product lookups through the batcher when it is on.
    /// Callers pass the answer through [`CachedReader::observe`] before using it.
    async fn backend_read(
        &self,
        key: &CacheKey,
        path: &str,
        request_id: Option<&HeaderValue>,
    ) -> FetchResult {
        match (&self.lookups, key) {
            (Some(lookups), CacheKey::Product(name)) => lookups.lookup(name, request_id).await,
            _ => self.backend.read(path, request_id).await,
        }
    }

    /// A read of `key` that the cache never answers nor stores (a query the node must
    /// see, such as `?consistency=...`), its answer still raising the watermarks.
    pub async fn read_uncached(
        &self,
        key: &CacheKey,
        path: &str,
        request_id: Option<&HeaderValue>,
    ) -> FetchResult {
        let reply = self.backend.read(path, request_id).await?;
        self.observe(key, &reply);
        Ok(reply)
    }

    /// `GET /products` (paged) from a node; each listed product's watermark is raised.
    pub async fn list(&self, path: &str, request_id: Option<&HeaderValue>) -> FetchResult {
        let reply = self.backend.read(path, request_id).await?;
        if let (Some(index), StatusCode::OK) = (reply.index, reply.status) {
            if let Ok(env) = serde_json::from_slice::<Envelope<ProductList>>(&reply.body) {
                for product in &env.data.products {
                    self.show_product(product, index);
                }
            }
        }
        Ok(reply)
    }

    /// Raises the watermark of every key a node's answer about `key` shows, to the index
    /// it was read at, before that answer is served: the key itself (whatever the
    /// status: a 404 says the product is absent there) and, for a product, its topic's
    /// search; for a search, each product in it. Returns the entry to store, if the answer
    /// is one the cache can hold.
    fn observe(&self, key: &CacheKey, reply: &NodeReply) -> Option<CachedAnswer> {
        let index = reply.index?;
        if reply.status != StatusCode::OK {
            self.cache.advance(key, index);
            return None;
        }
        let version = match key {
            CacheKey::Product(_) => {
                let Ok(env) = serde_json::from_slice::<Envelope<ProductView>>(&reply.body) else {
                    self.cache.advance(key, index);
                    return None;
                };
                self.show_product(&env.data, index);
                env.data.version
            }
            CacheKey::Topic(_) => {
                self.cache.advance(key, index);
                let env: Envelope<SearchResult> = serde_json::from_slice(&reply.body).ok()?;
                for product in &env.data.products {
                    self.show_product(product, index);
                }
                env.data
                    .products
                    .iter()
                    .map(|p| p.version)
                    .max()
                    .unwrap_or(0)
            }
        };
        Some(CachedAnswer {
            body: reply.body.clone(),
            index,
            version,
        })
    }

    /// A product shown as of `index`: its lookup and its topic's search may not be served
    /// from before it.
    fn show_product(&self, product: &ProductView, index: u64) {
        self.cache.learn_topic(&product.name, &product.topic);
        self.cache
            .advance(&CacheKey::Product(product.name.clone()), index);
        self.cache
            .advance(&CacheKey::Topic(product.topic.clone()), index);
    }
}

/// The failpoint `reader.fill` (test builds only, feature `failpoints`): between a node's
/// answer to a miss and its fill, so a test can land an invalidation inside that window.
/// `FAILPOINTS=reader.fill=return(MS)` holds each such fill MS milliseconds, on the async
/// timer: the crate's own `sleep` action would block a runtime worker for that long.
/// Returns the hold applied, if any.
#[cfg(feature = "failpoints")]
async fn hold_fill(key: &CacheKey) -> Option<u64> {
    let hold_ms = fail::eval(FILL_FAILPOINT, |arg| {
        arg.and_then(|ms| ms.trim().parse::<u64>().ok())
    })
    .flatten()?;
    // Tests wait for this line (the frontend's log) to know the fill is held.
    tracing::info!(%key, hold_ms, "failpoint reader.fill: holding the fill");
    tokio::time::sleep(std::time::Duration::from_millis(hold_ms)).await;
    Some(hold_ms)
}

/// The name `FAILPOINTS` arms the fill hold by.
#[cfg(feature = "failpoints")]
const FILL_FAILPOINT: &str = "reader.fill";

#[cfg(all(test, feature = "failpoints"))]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    /// The only test of this binary that arms `reader.fill` (the registry is per process).
    #[tokio::test]
    async fn the_fill_failpoint_holds_a_fill_as_long_as_armed() {
        let key = CacheKey::Product("Tux".into());
        assert_eq!(hold_fill(&key).await, None, "not armed: no hold");
        fail::cfg(FILL_FAILPOINT, "return(50)").expect("valid action");
        let start = Instant::now();
        let held = hold_fill(&key).await;
        let took = start.elapsed();
        fail::cfg(FILL_FAILPOINT, "return(soon)").expect("valid action");
        let unreadable = hold_fill(&key).await;
        fail::remove(FILL_FAILPOINT);
        assert_eq!(held, Some(50));
        // A timer never fires early, so this lower bound cannot flake.
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert_eq!(
            unreadable, None,
            "an argument that is no number holds nothing"
        );
    }
}
