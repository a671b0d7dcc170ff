//! The versioned LRU: entries tagged with the index they were read at, and a per-key
//! watermark (the newest index at which this frontend has learned or shown the key) below
//! which nothing is stored or served.
//!
//! The rule, which is what makes the frontend's reads linearizable when every write goes
//! through it: an answer about a key raises that key's watermark to the answer's index
//! *before* it leaves the frontend (a change from the feed, an order or admin answer, and
//! every node read alike), an entry below its key's watermark is dropped, and a fill
//! below it is refused. So after any answer at index `i` has been given, the cache can only
//! serve that key as of `i` or later.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

use super::answer::CachedAnswer;
use super::key::CacheKey;

/// Watermarks are kept for more keys than entries, since keys are invalidated whether
/// or not they are cached; one evicted watermark raises the global floor instead.
const WATERMARKS_PER_ENTRY: usize = 4;

/// What became of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillOutcome {
    Stored,
    /// The read is older than the key's watermark: storing it would bring back a value
    /// that is known to have changed, or that is older than one already served.
    RefusedStale,
    /// A newer answer is already cached.
    KeptNewer,
}

#[derive(Debug)]
struct Entry {
    answer: CachedAnswer,
    stored_at: Instant,
}

#[derive(Debug)]
struct Inner {
    entries: LruCache<CacheKey, Entry>,
    /// Newest index per key at which a change was seen or an answer was given.
    watermarks: LruCache<CacheKey, u64>,
    /// Lower bound on every key's watermark: raised by a reset and by watermark eviction,
    /// so forgetting a key's watermark can only make the rule stricter.
    floor: u64,
    /// Which topic each product belongs to, learned from answers, so a write that names
    /// only a product also invalidates its topic's search. Bounded by the catalog size.
    topics: HashMap<String, String>,
}

impl Inner {
    fn watermark(&self, key: &CacheKey) -> u64 {
        self.watermarks
            .peek(key)
            .copied()
            .unwrap_or(0)
            .max(self.floor)
    }
}

/// The cache proper. One mutex: every operation is a few hash-map steps.
#[derive(Debug)]
pub struct VersionedCache {
    inner: Mutex<Inner>,
    ttl: Duration,
    capacity: usize,
}

impl VersionedCache {
    pub fn new(capacity: NonZeroUsize, ttl: Duration) -> Self {
        let marks = NonZeroUsize::new(capacity.get().saturating_mul(WATERMARKS_PER_ENTRY))
            .unwrap_or(capacity);
        Self {
            inner: Mutex::new(Inner {
                entries: LruCache::new(capacity),
                watermarks: LruCache::new(marks),
                floor: 0,
                topics: HashMap::new(),
            }),
            ttl,
            capacity: capacity.get(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave it half-updated in a way that
        // breaks the rules below, so keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A live entry, marking it recently used; expired entries (TTL) are dropped.
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<CachedAnswer> {
        let mut inner = self.lock();
        let expired = match inner.entries.get(key) {
            None => return None,
            Some(entry) => now.saturating_duration_since(entry.stored_at) >= self.ttl,
        };
        if expired {
            inner.entries.pop(key);
            return None;
        }
        inner.entries.peek(key).map(|e| e.answer.clone())
    }

    /// The index a fill of `key` must reach to be stored.
    pub fn watermark(&self, key: &CacheKey) -> u64 {
        self.lock().watermark(key)
    }

    /// Stores a read's answer unless the key's watermark is above the read (no stale
    /// fill) or a newer answer is already there. The caller has raised the watermark to
    /// the read's own index first ([`VersionedCache::advance`]).
    pub fn fill(&self, key: CacheKey, answer: CachedAnswer, now: Instant) -> FillOutcome {
        let mut inner = self.lock();
        if answer.index < inner.watermark(&key) {
            return FillOutcome::RefusedStale;
        }
        if let Some(existing) = inner.entries.peek(&key) {
            if existing.answer.index > answer.index {
                return FillOutcome::KeptNewer;
            }
        }
        inner.entries.put(
            key,
            Entry {
                answer,
                stored_at: now,
            },
        );
        FillOutcome::Stored
    }

    /// Records that `key` is known as of `index`: it changed there (the feed, an order, an
    /// admin change), or an answer read there is about to be served. Drops an entry read
    /// before that index and refuses later fills read before it. Returns whether an entry
    /// was dropped.
    pub fn advance(&self, key: &CacheKey, index: u64) -> bool {
        let mut inner = self.lock();
        if let Some(mark) = inner.watermarks.get_mut(key) {
            *mark = (*mark).max(index);
        } else if let Some((_, evicted)) = inner.watermarks.push(key.clone(), index) {
            inner.floor = inner.floor.max(evicted);
        }
        // An entry read at or after that index already shows it.
        let stale = inner
            .entries
            .peek(key)
            .is_some_and(|entry| entry.answer.index < index);
        if stale {
            inner.entries.pop(key);
        }
        stale
    }

    /// Drops every entry (feed reset, or the cache answering again after a bypass):
    /// nothing read before `index` may be stored again. The per-key watermarks stay: an
    /// answer given above `index` still bars older fills of its key.
    pub fn clear(&self, index: u64) {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.floor = inner.floor.max(index);
    }

    pub fn learn_topic(&self, product: &str, topic: &str) {
        let mut inner = self.lock();
        if inner.topics.get(product).map(String::as_str) != Some(topic) {
            inner.topics.insert(product.to_string(), topic.to_string());
        }
    }

    pub fn topic_of(&self, product: &str) -> Option<String> {
        self.lock().topics.get(product).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn cache(capacity: usize, ttl_secs: u64) -> VersionedCache {
        VersionedCache::new(
            NonZeroUsize::new(capacity).unwrap(),
            Duration::from_secs(ttl_secs),
        )
    }

    fn answer(index: u64, body: &str) -> CachedAnswer {
        CachedAnswer {
            body: Bytes::from(body.to_string()),
            index,
            version: index,
        }
    }

    fn tux() -> CacheKey {
        CacheKey::Product("Tux".into())
    }

    #[test]
    fn a_fill_older_than_an_invalidation_is_refused() {
        let c = cache(10, 300);
        let now = Instant::now();
        // The slow read was served at index 10; the change at 12 was seen meanwhile.
        assert!(!c.advance(&tux(), 12));
        assert_eq!(
            c.fill(tux(), answer(10, "old"), now),
            FillOutcome::RefusedStale
        );
        assert_eq!(c.get(&tux(), now), None);
        // A read at the invalidation index already includes the change.
        assert_eq!(c.fill(tux(), answer(12, "new"), now), FillOutcome::Stored);
        assert_eq!(c.get(&tux(), now).map(|a| a.body), Some(Bytes::from("new")));
    }

    #[test]
    fn invalidation_only_drops_entries_read_before_it() {
        let c = cache(10, 300);
        let now = Instant::now();
        c.fill(tux(), answer(20, "v20"), now);
        // A late feed message for an older change must not drop a newer read...
        assert!(!c.advance(&tux(), 15));
        assert!(c.get(&tux(), now).is_some());
        // ...but a newer change must.
        assert!(c.advance(&tux(), 21));
        assert!(c.get(&tux(), now).is_none());
        // Watermarks only grow: an out-of-order older invalidation does not lower it.
        c.advance(&tux(), 5);
        assert_eq!(c.watermark(&tux()), 21);
        assert_eq!(
            c.fill(tux(), answer(20, "v20"), now),
            FillOutcome::RefusedStale
        );
    }

    #[test]
    fn a_fill_never_replaces_a_newer_entry() {
        let c = cache(10, 300);
        let now = Instant::now();
        c.fill(tux(), answer(30, "v30"), now);
        assert_eq!(
            c.fill(tux(), answer(25, "v25"), now),
            FillOutcome::KeptNewer
        );
        assert_eq!(c.get(&tux(), now).map(|a| a.index), Some(30));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let c = cache(10, 5);
        let t0 = Instant::now();
        c.fill(tux(), answer(1, "v1"), t0);
        assert!(c.get(&tux(), t0 + Duration::from_secs(4)).is_some());
        assert!(c.get(&tux(), t0 + Duration::from_secs(5)).is_none());
        assert_eq!(c.len(), 0, "an expired entry is dropped when found");
    }

    #[test]
    fn least_recently_used_entry_is_evicted() {
        let c = cache(2, 300);
        let now = Instant::now();
        let a = CacheKey::Product("A".into());
        let b = CacheKey::Product("B".into());
        let t = CacheKey::Topic("toys".into());
        c.fill(a.clone(), answer(1, "a"), now);
        c.fill(b.clone(), answer(1, "b"), now);
        assert!(c.get(&a, now).is_some(), "touch A so B is the oldest");
        c.fill(t.clone(), answer(1, "t"), now);
        assert_eq!(c.len(), 2);
        assert!(c.get(&b, now).is_none());
        assert!(c.get(&a, now).is_some());
        assert!(c.get(&t, now).is_some());
    }

    #[test]
    fn forgetting_a_watermark_raises_the_floor_instead() {
        // Capacity 1 keeps 4 watermarks; the fifth key pushes the first one out.
        let c = cache(1, 300);
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            c.advance(&CacheKey::Product((*name).into()), 100 + i as u64);
        }
        assert_eq!(
            c.watermark(&CacheKey::Product("a".into())),
            100,
            "floor took a's mark"
        );
        assert_eq!(
            c.fill(
                CacheKey::Product("a".into()),
                answer(99, "old"),
                Instant::now()
            ),
            FillOutcome::RefusedStale
        );
    }

    #[test]
    fn clear_drops_everything_and_sets_the_floor() {
        let c = cache(10, 300);
        let now = Instant::now();
        c.fill(tux(), answer(5, "v5"), now);
        c.clear(50);
        assert!(c.is_empty());
        assert_eq!(
            c.fill(tux(), answer(49, "old"), now),
            FillOutcome::RefusedStale
        );
        assert_eq!(c.fill(tux(), answer(50, "new"), now), FillOutcome::Stored);
    }

    #[test]
    fn clear_keeps_watermarks_above_its_floor() {
        let c = cache(10, 300);
        let now = Instant::now();
        // An answer at 70 was served; a reset at 50 follows.
        c.advance(&tux(), 70);
        c.clear(50);
        assert_eq!(
            c.fill(tux(), answer(60, "older than served"), now),
            FillOutcome::RefusedStale
        );
        assert_eq!(c.fill(tux(), answer(70, "v70"), now), FillOutcome::Stored);
    }

    #[test]
    fn topics_are_learned() {
        let c = cache(10, 300);
        assert_eq!(c.topic_of("Tux"), None);
        c.learn_topic("Tux", "toys");
        assert_eq!(c.topic_of("Tux").as_deref(), Some("toys"));
        c.learn_topic("Tux", "plush");
        assert_eq!(c.topic_of("Tux").as_deref(), Some("plush"));
    }
}
