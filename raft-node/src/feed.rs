//! The change feed's source: a bounded ring of the keys each applied entry changed, and a
//! signal that wakes `/watch` streams when the applied index moves.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use bazaar_api::ChangeEvent;

/// How many change events a node keeps for resuming watchers.
const RETAINED_EVENTS: usize = 100_000;

/// What a watcher resuming from an index gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Resume {
    /// Every change after the index (possibly none yet).
    Changes(Vec<ChangeEvent>),
    /// The ring no longer reaches back that far: the watcher must drop its cache.
    TooOld,
}

struct Ring {
    /// Changes with index > `floor` are all in `events`.
    floor: u64,
    events: VecDeque<ChangeEvent>,
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
                events: VecDeque::new(),
            })),
            applied: watch::Sender::new(applied),
        }
    }

    /// Records the changes of an apply call that brought the state to `applied`.
    pub fn publish(&self, events: Vec<ChangeEvent>, applied: u64) {
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            for e in events {
                ring.events.push_back(e);
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

    /// Changes after `from`.
    pub fn since(&self, from: u64) -> Resume {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if from < ring.floor {
            return Resume::TooOld;
        }
        let start = ring.events.partition_point(|e| e.index <= from);
        Resume::Changes(ring.events.range(start..).cloned().collect())
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
        }
    }

    #[test]
    fn resumes_after_the_given_index_and_refuses_older_ones() {
        let feed = ChangeFeed::new(10);
        feed.publish(vec![ev(11), ev(13)], 13);
        assert_eq!(feed.since(11), Resume::Changes(vec![ev(13)]));
        assert_eq!(feed.since(10), Resume::Changes(vec![ev(11), ev(13)]));
        assert_eq!(feed.since(13), Resume::Changes(vec![]));
        assert_eq!(feed.since(9), Resume::TooOld);
        feed.reset(20);
        assert_eq!(feed.since(13), Resume::TooOld);
    }
}
