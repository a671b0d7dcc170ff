//! The change feed's source: a bounded ring of the keys each applied entry changed, and a
//! signal that wakes `/watch` streams when the applied index moves.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use bazaar_api::ChangeEvent;

/// How many change events a node keeps for resuming watchers.
const RETAINED_EVENTS: usize = 100_000;

/// What a watcher resuming from an index gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// Up to one page of the changes after the index, oldest first (possibly none yet);
    /// `more` when the ring held further ones.
    Page {
        events: Vec<ChangeEvent>,
        more: bool,
    },
    /// The ring no longer reaches back that far: the watcher must drop its cache.
    TooOld,
}

/// The retained history. A persistent vector, so a reader copies it (a pointer and a few
/// chunk references) under the lock and pages through its copy after letting go: `publish`,
/// which runs on the state machine's task after every apply, never waits behind a watcher
/// reading a long backlog.
#[derive(Clone)]
struct Ring {
    /// Changes with index > `floor` are all in `events`.
    floor: u64,
    /// `Arc`s, so the copy-on-write of a chunk shared with a reader's copy moves pointers,
    /// not strings.
    events: imbl::Vector<Arc<ChangeEvent>>,
}

#[derive(Clone)]
pub struct ChangeFeed {
    ring: Arc<Mutex<Ring>>,
    applied: watch::Sender<u64>,
}

impl ChangeFeed {
    /// A feed that knows nothing before `applied` (the index at startup).
    pub fn new(applied: u64) -> Self {
        Self {
            ring: Arc::new(Mutex::new(Ring {
                floor: applied,
                events: imbl::Vector::new(),
            })),
            applied: watch::Sender::new(applied),
        }
    }

    /// Records the changes of an apply call that brought the state to `applied`.
    pub fn publish(&self, events: Vec<ChangeEvent>, applied: u64) {
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            for e in events {
                ring.events.push_back(Arc::new(e));
            }
            while ring.events.len() > RETAINED_EVENTS {
                if let Some(old) = ring.events.pop_front() {
                    ring.floor = old.index;
                }
            }
        }
        self.applied.send_replace(applied);
    }

    /// After a snapshot install the history in between is unknown: start over.
    pub fn reset(&self, applied: u64) {
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            ring.events.clear();
            ring.floor = applied;
        }
        self.applied.send_replace(applied);
    }

    /// At most `page` of the changes after `from`. The lock is held only to copy the ring's
    /// root; the search and the copying of the page happen after it is released.
    pub fn since(&self, from: u64, page: usize) -> Resume {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if from < ring.floor {
            return Resume::TooOld;
        }
        let start = ring
            .events
            .binary_search_by(|e| {
                if e.index <= from {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            })
            .unwrap_or_else(|at| at);
        let end = start.saturating_add(page).min(ring.events.len());
        let events = ring
            .events
            .skip(start)
            .iter()
            .take(end - start)
            .map(|e| e.as_ref().clone())
            .collect();
        Resume::Page {
            events,
            more: end < ring.events.len(),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(index: u64) -> ChangeEvent {
        ChangeEvent {
            index,
            products: vec!["Tux".into()],
            topics: vec!["toys".into()],
            archived: None,
        }
    }

    fn page(events: Vec<ChangeEvent>, more: bool) -> Resume {
        Resume::Page { events, more }
    }

    #[test]
    fn resumes_after_the_given_index_and_refuses_older_ones() {
        let feed = ChangeFeed::new(10);
        feed.publish(vec![ev(11), ev(13)], 13);
        assert_eq!(feed.since(11, 100), page(vec![ev(13)], false));
        assert_eq!(feed.since(10, 100), page(vec![ev(11), ev(13)], false));
        assert_eq!(feed.since(13, 100), page(vec![], false));
        assert_eq!(feed.since(9, 100), Resume::TooOld);
        feed.reset(20);
        assert_eq!(feed.since(13, 100), Resume::TooOld);
    }

    #[test]
    fn a_long_backlog_comes_in_pages_that_join_up() {
        let feed = ChangeFeed::new(0);
        feed.publish((1..=1000).map(ev).collect(), 1000);
        let mut from = 0;
        let mut seen = Vec::new();
        loop {
            let Resume::Page { events, more } = feed.since(from, 64) else {
                panic!("the ring reaches back to 0");
            };
            assert!(events.len() <= 64);
            assert_eq!(more, !events.is_empty() && from + 64 < 1000, "from {from}");
            if let Some(last) = events.last() {
                from = last.index;
            }
            seen.extend(events.into_iter().map(|e| e.index));
            if !more {
                break;
            }
        }
        assert_eq!(seen, (1..=1000).collect::<Vec<_>>());
    }

    #[test]
    fn a_page_is_a_copy_that_later_publishes_leave_alone() {
        let feed = ChangeFeed::new(0);
        feed.publish((1..=10).map(ev).collect(), 10);
        let Resume::Page { events, .. } = feed.since(0, 5) else {
            panic!("page");
        };
        feed.publish((11..=20).map(ev).collect(), 20);
        assert_eq!(events.len(), 5);
        assert_eq!(
            feed.since(15, 100),
            page((16..=20).map(ev).collect(), false)
        );
    }

    #[test]
    fn the_ring_drops_its_oldest_events_past_its_size() {
        let feed = ChangeFeed::new(0);
        let n = RETAINED_EVENTS as u64 + 10;
        feed.publish((1..=n).map(ev).collect(), n);
        assert_eq!(feed.since(5, 1), Resume::TooOld);
        assert_eq!(feed.since(10, 1), page(vec![ev(11)], true));
    }
}
