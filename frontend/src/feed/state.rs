//! The change feed's health as the request path sees it: whether the cache may answer
//! (the feed was caught up within the staleness bound) and what `/cluster` reports.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bazaar_api::{FeedPhase, FeedStatus};

#[derive(Debug)]
pub struct FeedState {
    epoch: Instant,
    /// Milliseconds since `epoch` plus one at which the feed was last caught up; 0: never.
    caught_up_at: AtomicU64,
    connected: AtomicBool,
    /// Last log index whose changes have been applied to the cache.
    last_index: AtomicU64,
    /// Newest applied index the serving node reported.
    node_index: AtomicU64,
    /// Id of the node serving the feed; 0 when none.
    node: AtomicU64,
    /// The highest archived order number the feed announced.
    archived_upto: AtomicU64,
    staleness_bound: Duration,
    enabled: bool,
}

impl FeedState {
    pub fn new(staleness_bound: Duration, enabled: bool) -> Self {
        Self {
            epoch: Instant::now(),
            caught_up_at: AtomicU64::new(0),
            connected: AtomicBool::new(false),
            last_index: AtomicU64::new(0),
            node_index: AtomicU64::new(0),
            node: AtomicU64::new(0),
            archived_upto: AtomicU64::new(0),
            staleness_bound,
            enabled,
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// Age of the last caught-up moment, `None` if never caught up.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        match self.caught_up_at.load(Ordering::Acquire) {
            0 => None,
            at => Some(Duration::from_millis(self.ms(now).saturating_sub(at - 1))),
        }
    }

    /// True while every change up to at most `staleness_bound` ago has reached the cache.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.age(now).is_some_and(|age| age <= self.staleness_bound)
    }

    pub fn connected(&self, node: u64) {
        self.node.store(node, Ordering::Relaxed);
        self.connected.store(true, Ordering::Release);
    }

    pub fn disconnected(&self) {
        self.connected.store(false, Ordering::Release);
        self.node.store(0, Ordering::Relaxed);
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Records progress; `caught_up_as_of` is the moment up to which the cache is known
    /// to hold every committed change, if the feed has caught up to one.
    pub fn progress(&self, last_index: u64, node_index: u64, caught_up_as_of: Option<Instant>) {
        self.last_index.store(last_index, Ordering::Release);
        self.node_index.fetch_max(node_index, Ordering::Relaxed);
        if let Some(at) = caught_up_as_of {
            self.caught_up_at
                .fetch_max(self.ms(at) + 1, Ordering::AcqRel);
        }
    }

    /// Notes an archive the feed announced (orders up to `upto` left the hot state).
    pub fn archived(&self, upto: u64) {
        self.archived_upto.fetch_max(upto, Ordering::Relaxed);
    }

    pub fn last_index(&self) -> u64 {
        self.last_index.load(Ordering::Acquire)
    }

    pub fn view(&self, now: Instant) -> FeedStatus {
        let connected = self.is_connected();
        let fresh = self.is_fresh(now);
        let state = match (self.enabled, connected, fresh) {
            (false, _, _) => FeedPhase::Off,
            (true, true, true) => FeedPhase::Synced,
            (true, true, false) => FeedPhase::Syncing,
            (true, false, _) => FeedPhase::Down,
        };
        let last_index = self.last_index();
        let node = self.node.load(Ordering::Relaxed);
        FeedStatus {
            state,
            node: (node != 0).then_some(node),
            last_index,
            lag_entries: self
                .node_index
                .load(Ordering::Relaxed)
                .saturating_sub(last_index),
            age_ms: self.age(now).map(|a| a.as_millis() as u64),
            staleness_bound_ms: self.staleness_bound.as_millis() as u64,
            cache_serving: self.enabled && fresh,
            archived_upto: self.archived_upto.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_only_within_the_bound_after_catching_up() {
        let s = FeedState::new(Duration::from_millis(1000), true);
        let t0 = Instant::now();
        assert!(!s.is_fresh(t0), "never synced: the cache must not answer");
        s.connected(2);
        s.progress(10, 12, None);
        assert!(!s.is_fresh(t0), "still replaying");
        assert_eq!(s.view(t0).state, FeedPhase::Syncing);
        s.progress(12, 12, Some(t0));
        assert!(s.is_fresh(t0 + Duration::from_millis(900)));
        s.disconnected();
        // A short outage within the bound keeps serving; past it the cache is bypassed.
        assert!(s.is_fresh(t0 + Duration::from_millis(1000)));
        assert!(!s.is_fresh(t0 + Duration::from_millis(1100)));
        assert_eq!(
            s.view(t0 + Duration::from_millis(1100)).state,
            FeedPhase::Down
        );
    }
}
