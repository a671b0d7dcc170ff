//! When each peer last answered this node: the liveness a membership change or a leadership
//! transfer checks before it can strand the cluster without a quorum (openraft 0.9 reports
//! replication progress, not whether a follower still answers).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::types::NodeId;

/// Shared by every peer client of one node; cheap to clone.
#[derive(Clone, Default)]
pub struct PeerContacts {
    last: Arc<Mutex<HashMap<NodeId, Instant>>>,
}

impl PeerContacts {
    /// `peer` answered an RPC just now (any answer: it is up and reachable).
    pub fn answered(&self, peer: NodeId) {
        if let Ok(mut last) = self.last.lock() {
            last.insert(peer, Instant::now());
        }
    }

    /// True when `peer` answered within `window`.
    pub fn recently(&self, peer: NodeId, window: Duration) -> bool {
        self.last
            .lock()
            .ok()
            .and_then(|last| last.get(&peer).copied())
            .is_some_and(|at| at.elapsed() <= window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_recent_only_after_it_answered_and_within_the_window() {
        let contacts = PeerContacts::default();
        assert!(!contacts.recently(2, Duration::from_secs(60)));
        contacts.answered(2);
        assert!(contacts.recently(2, Duration::from_secs(60)));
        assert!(!contacts.recently(3, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(5));
        assert!(!contacts.recently(2, Duration::from_millis(1)));
    }
}
