//! Cluster membership, etcdctl style: list the members with their replication progress, add
//! a learner, promote it, remove any member. Every change is checked on the leader first,
//! so it is refused with a clear reason instead of leaving the cluster without a quorum.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bazaar_api::{LeaderHint, MemberStatus, MembersView};
use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, RaftMetrics};

use crate::fresh_snapshot::NewMemberSnapshot;
use crate::leadership::{hint_of, Leadership};
use crate::net::PeerContacts;
use crate::types::{NodeAddr, NodeId, Raft};
use crate::versions::MemberVersions;

#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("this node does not lead; membership changes go to the leader")]
    NotLeader(Option<LeaderHint>),
    #[error("node ids start at 1")]
    ZeroId,
    #[error("member {0} already exists; remove it first to re-add it")]
    AlreadyMember(NodeId),
    #[error("member {id} already uses address {address}")]
    AddressInUse { id: NodeId, address: String },
    #[error("no member {0}")]
    Unknown(NodeId),
    #[error("member {0} is already a voter")]
    AlreadyVoter(NodeId),
    #[error(
        "learner {id} is {lag} entries behind the leader (at most {limit} allowed); \
         wait until it has caught up (`bazaar member add --wait`)"
    )]
    Lagging { id: NodeId, lag: u64, limit: u64 },
    #[error("member {0} is the last voter; a cluster needs at least one")]
    LastVoter(NodeId),
    #[error(
        "refused: after this change {alive} of {voters} voters would answer, short of a \
         quorum of {quorum} (not answering: {silent:?}); bring those back or replace them \
         first"
    )]
    NoQuorum {
        alive: usize,
        voters: usize,
        quorum: usize,
        silent: Vec<NodeId>,
    },
    /// openraft refused the change itself (another change is still in progress, ...).
    #[error("refused by raft: {0}")]
    Refused(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
}

/// The leader's membership operations.
#[derive(Clone)]
pub struct Members {
    pub raft: Raft,
    pub my_id: NodeId,
    pub contacts: PeerContacts,
    /// A peer that has not answered for this long counts as down.
    pub alive_window: Duration,
    /// A learner further behind than this is not promoted.
    pub max_promote_lag: u64,
    /// When the leader snapshots before adding a learner, so it replays little log.
    pub new_member_snapshot: NewMemberSnapshot,
    pub versions: MemberVersions,
    /// How long adding a member waits for a fresh snapshot. The caller sets it from the
    /// time its route gets (half of it, so the change itself still fits); a longer build
    /// goes on, and the learner starts from the older snapshot.
    pub fresh_snapshot_budget: Duration,
}

/// A quorum of `voters`: more than half.
pub fn quorum_of(voters: usize) -> usize {
    voters / 2 + 1
}

/// Refuses a voter set in which fewer than a quorum would answer.
pub fn check_quorum(
    voters: &BTreeSet<NodeId>,
    answers: impl Fn(NodeId) -> bool,
) -> Result<(), MemberError> {
    let silent: Vec<NodeId> = voters.iter().copied().filter(|v| !answers(*v)).collect();
    let alive = voters.len() - silent.len();
    let quorum = quorum_of(voters.len());
    if alive < quorum {
        return Err(MemberError::NoQuorum {
            alive,
            voters: voters.len(),
            quorum,
            silent,
        });
    }
    Ok(())
}

type Metrics = RaftMetrics<NodeId, NodeAddr>;

impl Members {
    /// Every member, with the leader's view of its progress when this node leads.
    pub fn list(&self) -> MembersView {
        let m = self.raft.metrics().borrow().clone();
        let leadership = Leadership::of(&self.raft);
        let last = m.last_log_index.unwrap_or(0);
        let matched = self.matched(&m);
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, n)| {
                let at = matched
                    .as_ref()
                    .map(|all| all.get(id).copied().unwrap_or(0));
                MemberStatus {
                    id: *id,
                    api: n.api.clone(),
                    raft: n.raft.clone(),
                    voter: voters.contains(id),
                    matched_index: at,
                    lag: at.map(|at| last.saturating_sub(at)),
                    version: self.versions.get(*id),
                }
            })
            .collect();
        MembersView {
            answered_by: self.my_id,
            leader: leadership.leader,
            leader_api: leadership.hint.map(|h| h.api),
            last_log_index: last,
            members,
        }
    }

    /// On the leader, each member's highest replicated index (its own last index for itself).
    fn matched(&self, m: &Metrics) -> Option<BTreeMap<NodeId, u64>> {
        let replication = m.replication.as_ref()?;
        let mut out: BTreeMap<NodeId, u64> = replication
            .iter()
            .map(|(id, at)| (*id, at.map(|l| l.index).unwrap_or(0)))
            .collect();
        out.insert(self.my_id, m.last_log_index.unwrap_or(0));
        Some(out)
    }

    /// The leader's metrics, or where the leader is.
    fn leader_metrics(&self) -> Result<Metrics, MemberError> {
        let leadership = Leadership::of(&self.raft);
        if !leadership.is_leader {
            return Err(MemberError::NotLeader(leadership.hint));
        }
        Ok(self.raft.metrics().borrow().clone())
    }

    /// True when `id` is this node or answered recently.
    pub fn answers(&self, id: NodeId) -> bool {
        id == self.my_id || self.contacts.recently(id, self.alive_window)
    }

    /// How far `id` is behind the leader's last index (`u64::MAX` when unknown).
    fn lag(&self, m: &Metrics, id: NodeId) -> u64 {
        let last = m.last_log_index.unwrap_or(0);
        self.matched(m)
            .and_then(|all| all.get(&id).copied())
            .map_or(u64::MAX, |at| last.saturating_sub(at))
    }

    /// Adds `id` as a learner; it catches up in the background (watch `list`). The snapshot
    /// it will install is first brought up to date when the log since the last one is long
    /// (see `fresh_snapshot.rs`).
    pub async fn add_learner(&self, id: NodeId, addr: NodeAddr) -> Result<u64, MemberError> {
        if id == 0 {
            return Err(MemberError::ZeroId);
        }
        let m = self.leader_metrics()?;
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_some() {
            return Err(MemberError::AlreadyMember(id));
        }
        for (other, n) in membership.nodes() {
            for address in [&addr.api, &addr.raft] {
                if *address == n.api || *address == n.raft {
                    return Err(MemberError::AddressInUse {
                        id: *other,
                        address: address.clone(),
                    });
                }
            }
        }
        let freshness = self
            .new_member_snapshot
            .freshen(&self.raft, self.fresh_snapshot_budget)
            .await;
        freshness.log(id);
        let added = self.raft.add_learner(id, addr, false).await;
        added.map(|r| r.log_id.index).map_err(write_error)
    }

    /// Makes learner `id` a voter, once it has caught up and the new voter set keeps a
    /// quorum that answers.
    pub async fn promote(&self, id: NodeId) -> Result<u64, MemberError> {
        let m = self.leader_metrics()?;
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(MemberError::Unknown(id));
        }
        let mut voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        if voters.contains(&id) {
            return Err(MemberError::AlreadyVoter(id));
        }
        let lag = self.lag(&m, id);
        if lag > self.max_promote_lag {
            return Err(MemberError::Lagging {
                id,
                lag,
                limit: self.max_promote_lag,
            });
        }
        voters.insert(id);
        check_quorum(&voters, |v| self.answers(v))?;
        let changed = self
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await;
        changed.map(|r| r.log_id.index).map_err(write_error)
    }

    /// Removes member `id` entirely (voter or learner), unless that leaves no voter or no
    /// quorum that answers.
    pub async fn remove(&self, id: NodeId) -> Result<u64, MemberError> {
        let m = self.leader_metrics()?;
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(MemberError::Unknown(id));
        }
        let mut voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let change = if voters.remove(&id) {
            if voters.is_empty() {
                return Err(MemberError::LastVoter(id));
            }
            check_quorum(&voters, |v| self.answers(v))?;
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        // retain = false: a removed voter does not linger as a learner.
        let changed = self.raft.change_membership(change, false).await;
        changed.map(|r| r.log_id.index).map_err(write_error)
    }
}

fn write_error(e: RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>) -> MemberError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            MemberError::NotLeader(hint_of(&f))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            MemberError::Refused(c.to_string())
        }
        RaftError::Fatal(f) => MemberError::Fatal(f.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_more_than_half() {
        assert_eq!(quorum_of(1), 1);
        assert_eq!(quorum_of(2), 2);
        assert_eq!(quorum_of(3), 2);
        assert_eq!(quorum_of(4), 3);
        assert_eq!(quorum_of(5), 3);
    }

    #[test]
    fn a_voter_set_without_enough_answering_members_is_refused() {
        let voters = BTreeSet::from([1, 2, 3]);
        assert!(check_quorum(&voters, |v| v != 3).is_ok());
        match check_quorum(&voters, |v| v == 1) {
            Err(MemberError::NoQuorum {
                alive,
                voters,
                quorum,
                silent,
            }) => {
                assert_eq!((alive, voters, quorum), (1, 3, 2));
                assert_eq!(silent, vec![2, 3]);
            }
            other => panic!("expected NoQuorum, got {other:?}"),
        }
        // Removing a live voter from {1, 2, 3} with 3 down leaves {1, 3}: one of two.
        let after = BTreeSet::from([1, 3]);
        assert!(matches!(
            check_quorum(&after, |v| v != 3),
            Err(MemberError::NoQuorum { .. })
        ));
    }
}
