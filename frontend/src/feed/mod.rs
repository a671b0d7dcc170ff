//! The change feed follower: streams `GET /watch?from=INDEX` from any node and
//! invalidates every key a committed change touched, resuming from the last index after
//! a reconnect and dropping the whole cache when the node sends `reset`.

mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use bazaar_api::WatchMessage;
use futures::{StreamExt, TryStreamExt};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;
use tokio_util::sync::CancellationToken;

pub use state::FeedState;

use crate::backend::{Backend, Node};
use crate::cache::{CacheKey, VersionedCache};
use crate::metrics::Metrics;

/// Longest feed line accepted; a change lists a handful of keys.
const MAX_LINE: usize = 1024 * 1024;
const RETRY_START: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_millis(1000);
const CLUSTER_TIMEOUT: Duration = Duration::from_millis(1000);

/// The waits between rounds over every node: exponential with jitter (frontends that lost
/// their feed at the same moment do not retry in step), capped, never giving up.
fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(RETRY_START)
        .with_max_delay(RETRY_MAX)
        .with_jitter()
        .without_max_times()
        .build()
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{0}")]
    Node(String),
    #[error("stream failed: {0}")]
    Stream(std::io::Error),
    #[error("no message for {0:?}")]
    Idle(Duration),
    #[error("the node closed the stream")]
    Closed,
    #[error("feed line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("unreadable feed line: {0}")]
    BadLine(serde_json::Error),
}

pub struct ChangeFeed {
    backend: Arc<Backend>,
    cache: Arc<VersionedCache>,
    state: Arc<FeedState>,
    metrics: Arc<Metrics>,
    /// Silence longer than this means the node is gone or paused: reconnect elsewhere.
    idle_timeout: Duration,
    /// Last index whose changes reached the cache; `None` before the first connection.
    resume_from: Option<u64>,
    /// The newest index this frontend had seen (any node's answer) and when: once the
    /// feed has delivered up to it, the cache holds every change made before that moment.
    probe: Option<(u64, Instant)>,
}

impl ChangeFeed {
    pub fn new(
        backend: Arc<Backend>,
        cache: Arc<VersionedCache>,
        state: Arc<FeedState>,
        metrics: Arc<Metrics>,
        staleness_bound: Duration,
    ) -> Self {
        // Heartbeats come every ~250 ms; waiting a little past the staleness bound
        // keeps short hiccups from forcing a reconnect and replay.
        let idle_timeout = (staleness_bound + Duration::from_millis(250))
            .clamp(Duration::from_millis(750), Duration::from_secs(10));
        Self {
            backend,
            cache,
            state,
            metrics,
            idle_timeout,
            resume_from: None,
            probe: None,
        }
    }

    /// Follows the feed until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        tokio::select! {
            _ = self.follow_forever() => {}
            _ = stop.cancelled() => {}
        }
    }

    async fn follow_forever(mut self) {
        let backend = self.backend.clone();
        let mut waits = backoff();
        loop {
            for node in backend.read_order() {
                match self.follow(node).await {
                    Ok(()) => {}
                    Err(err) => {
                        tracing::warn!(node = node.id, error = %err, last_index = self.state.last_index(), "change feed interrupted");
                    }
                }
                if self.state.is_connected() {
                    // The feed was up: a fresh outage starts with short waits again.
                    waits = backoff();
                }
                self.state.disconnected();
            }
            tokio::time::sleep(waits.next().unwrap_or(RETRY_MAX)).await;
        }
    }

    async fn follow(&mut self, node: &Node) -> Result<(), FeedError> {
        // The node's applied index now: once the feed has passed it, every change
        // committed before this connection has reached the cache.
        let info = self
            .backend
            .node_status(node, CLUSTER_TIMEOUT)
            .await
            .map_err(FeedError::Node)?;
        let target = info.applied_index;
        let from = *self.resume_from.get_or_insert(target);
        let response = self
            .backend
            .watch(node, from)
            .await
            .map_err(FeedError::Node)?;
        self.metrics.feed_reconnects.inc();
        self.state.connected(node.id);
        tracing::info!(node = node.id, from, target, "change feed connected");
        // NDJSON: tokio-util's codec splits the lines, scanning each byte once, and refuses
        // a line past MAX_LINE instead of buffering it.
        let body = StreamReader::new(response.bytes_stream().map_err(std::io::Error::other));
        let mut lines = FramedRead::new(body, LinesCodec::new_with_max_length(MAX_LINE));
        loop {
            let line = match tokio::time::timeout(self.idle_timeout, lines.next()).await {
                Err(_) => return Err(FeedError::Idle(self.idle_timeout)),
                Ok(None) => return Err(FeedError::Closed),
                Ok(Some(Err(LinesCodecError::MaxLineLengthExceeded))) => {
                    return Err(FeedError::LineTooLong)
                }
                Ok(Some(Err(LinesCodecError::Io(e)))) => return Err(FeedError::Stream(e)),
                Ok(Some(Ok(line))) => line,
            };
            self.handle_line(&line, target)?;
        }
    }

    fn handle_line(&mut self, line: &str, target: u64) -> Result<(), FeedError> {
        let line = line.trim_ascii();
        if line.is_empty() {
            return Ok(());
        }
        let message: WatchMessage = match serde_json::from_str(line) {
            Ok(message) => message,
            Err(err) => {
                // A change we cannot read may have touched anything.
                self.cache.clear(self.state.last_index());
                return Err(FeedError::BadLine(err));
            }
        };
        let mut last = self.resume_from.unwrap_or(0);
        let node_index = match message {
            WatchMessage::Change(event) => {
                self.metrics.feed_changes.inc();
                for name in event.products {
                    self.invalidate(CacheKey::Product(name), event.index);
                }
                for topic in event.topics {
                    self.invalidate(CacheKey::Topic(topic), event.index);
                }
                // Orders are never cached here (each lookup passes through to a node,
                // which answers 410 for an archived one): nothing to evict.
                if let Some(range) = event.archived {
                    tracing::info!(
                        from = range.from,
                        upto = range.upto,
                        index = event.index,
                        "orders archived"
                    );
                    self.state.archived(range.upto);
                }
                last = last.max(event.index);
                event.index
            }
            WatchMessage::Reset { index } => {
                self.metrics.feed_resets.inc();
                tracing::warn!(index, "change feed reset: dropping the whole cache");
                self.cache.clear(index);
                last = index;
                index
            }
            WatchMessage::Heartbeat { index } => {
                last = last.max(index);
                index
            }
        };
        self.resume_from = Some(last);
        let now = Instant::now();
        let caught_up_as_of = if last >= target {
            self.caught_up_as_of(last, now)
        } else {
            None
        };
        let mut caught_up_as_of = caught_up_as_of;
        if caught_up_as_of.is_some() && !self.state.is_fresh(now) {
            // The cache is about to answer again after a time it was bypassed. Reads
            // made meanwhile went to the nodes and may have seen changes this feed has
            // not delivered yet (its node may lag the one that answered), so nothing
            // cached from before may be served after them, nor stored by a read older
            // than the newest answer given.
            let floor = last.max(self.backend.newest_index());
            tracing::info!(
                last_index = last,
                floor,
                "change feed caught up: starting from an empty cache"
            );
            self.cache.clear(floor);
            // An empty cache holds nothing stale: every entry from here on is a node read
            // taken after this moment, at or above the floor.
            caught_up_as_of = Some(now);
            self.metrics.cache_refills.inc();
        }
        self.state.progress(last, node_index, caught_up_as_of);
        Ok(())
    }

    /// The moment up to which the cache has every change, now that the feed has delivered
    /// up to `last`: the time of the last probe the feed has passed. A feed node that lags
    /// the cluster (paused, cut off, catching up) sends heartbeats with its own index, which
    /// say nothing of what the other nodes have committed; the probe is what this frontend
    /// has itself seen, so such a feed stops counting as fresh within the staleness bound.
    fn caught_up_as_of(&mut self, last: u64, now: Instant) -> Option<Instant> {
        let newest = self.backend.newest_index();
        let (index, at) = *self.probe.get_or_insert((newest, now));
        if last < index {
            return None;
        }
        self.probe = Some((newest, now));
        Some(at)
    }

    fn invalidate(&self, key: CacheKey, index: u64) {
        self.metrics.invalidations.inc();
        if self.cache.advance(&key, index) {
            tracing::debug!(%key, index, "feed invalidated cached entry");
        }
    }
}
