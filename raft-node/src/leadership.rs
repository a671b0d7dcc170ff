//! What this node knows about leadership, read from openraft in one place: who leads,
//! where to send a caller instead, and how long ago a quorum last acknowledged us.

use bazaar_api::LeaderHint;
use openraft::error::ForwardToLeader;
use openraft::ServerState;

use crate::types::{NodeAddr, NodeId, Raft};

/// A snapshot of openraft's leadership metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub leader: Option<NodeId>,
    /// Where the leader's API is, when it is a known member.
    pub hint: Option<LeaderHint>,
    pub is_leader: bool,
    pub term: u64,
    /// On the leader: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
}

impl Leadership {
    pub fn of(raft: &Raft) -> Self {
        let m = raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader;
        let hint = leader.and_then(|id| {
            m.membership_config
                .membership()
                .get_node(&id)
                .map(|n| LeaderHint::new(id, n.api.clone()))
        });
        Self {
            leader,
            hint,
            is_leader: m.state == ServerState::Leader,
            term: m.current_term,
            millis_since_quorum_ack: m.millis_since_quorum_ack,
        }
    }

    /// True when this node leads but has not heard from a quorum for longer than `limit`.
    pub fn quorum_lost(&self, limit: std::time::Duration) -> bool {
        self.is_leader
            && self
                .millis_since_quorum_ack
                .is_some_and(|ms| u128::from(ms) > limit.as_millis())
    }
}

/// The hint an openraft "forward to leader" error carries.
pub fn hint_of(forward: &ForwardToLeader<NodeId, NodeAddr>) -> Option<LeaderHint> {
    forward
        .leader_id
        .zip(forward.leader_node.as_ref())
        .map(|(id, n)| LeaderHint::new(id, n.api.clone()))
}
