//! What only the leader does: seed the catalog once, propose `RestockLow` on a timer (both
//! through the log, so every replica applies them identically), and step down when it has
//! lost its quorum (openraft 0.9 has no CheckQuorum of its own).

use std::time::{Duration, Instant};

use bazaar_api::config::RestockPolicy;
use openraft::raft::VoteRequest;
use openraft::{CommittedLeaderId, LogId};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::leadership::Leadership;
use crate::proposer::Proposer;
use crate::shop::{Command, ProductRecord};
use crate::store::StateReader;
use crate::types::{NodeId, Raft, Vote};

const TICK: Duration = Duration::from_millis(250);

/// What the leader's duty loop needs.
pub struct LeaderDuties {
    pub raft: Raft,
    pub my_id: NodeId,
    pub proposer: Proposer,
    pub reader: StateReader,
    /// Written through the log once, by the first leader.
    pub catalog: Vec<ProductRecord>,
    pub policy: RestockPolicy,
    /// A leader without a quorum ack for this long steps down.
    pub quorum_lost_after: Duration,
}

/// Runs the duties on every node; each tick acts only while this node leads.
pub fn spawn(duties: LeaderDuties, tasks: &TaskTracker, stop: CancellationToken) {
    let LeaderDuties {
        raft,
        my_id,
        proposer,
        reader,
        catalog,
        policy,
        quorum_lost_after,
    } = duties;
    tasks.spawn(async move {
        let interval = Duration::from_secs(policy.interval_secs);
        let mut last_restock = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.cancelled() => return,
            }
            let leadership = Leadership::of(&raft);
            if !leadership.is_leader {
                last_restock = Instant::now();
                continue;
            }
            if leadership.quorum_lost(quorum_lost_after) {
                step_down(&raft, my_id, leadership.millis_since_quorum_ack).await;
                continue;
            }
            if !reader.current().shop.seeded {
                match proposer
                    .propose(Command::SeedCatalog(catalog.clone()))
                    .await
                {
                    Ok(_) => tracing::info!(products = catalog.len(), "seeded the catalog"),
                    Err(e) => tracing::warn!(cause = %e, "seeding the catalog failed; will retry"),
                }
                continue;
            }
            if policy.interval_secs > 0 && last_restock.elapsed() >= interval {
                last_restock = Instant::now();
                let command = Command::RestockLow {
                    threshold: policy.threshold,
                    amount: policy.amount,
                };
                if let Err(e) = proposer.propose(command).await {
                    tracing::warn!(cause = %e, "low-stock restock failed");
                }
            }
        }
    });
}

/// A leader cut off from its quorum stops claiming leadership (Raft's CheckQuorum).
///
/// openraft 0.9 ignores an election trigger on a leader, so the node hands itself the vote
/// request a peer would send: a vote for another voter in the next term, with this node's
/// own last log id. Accepting it is ordinary Raft: the node votes once in that term (the vote
/// is persisted), adopts the term and becomes a follower. That candidate still has to pass
/// the log check when it really asks, and nobody else's vote changes. Back in contact, the
/// node follows whichever leader the majority has.
async fn step_down(raft: &Raft, my_id: NodeId, quorum_ack_ms: Option<u64>) {
    let (term, last_index, candidate) = {
        let m = raft.metrics();
        let m = m.borrow();
        let candidate = m
            .membership_config
            .membership()
            .voter_ids()
            .find(|id| *id != my_id);
        (m.current_term, m.last_log_index, candidate)
    };
    // A single-voter cluster is its own quorum: there is nothing to step down to.
    let Some(candidate) = candidate else { return };
    // A leader's last entry is from its own term: the blank entry it wrote when elected.
    let last_log_id =
        last_index.map(|index| LogId::new(CommittedLeaderId::new(term, my_id), index));
    let request = VoteRequest::new(Vote::new(term + 1, candidate), last_log_id);
    match raft.vote(request).await {
        Ok(resp) if resp.vote_granted => tracing::warn!(
            millis_since_quorum_ack = quorum_ack_ms,
            term = term + 1,
            "lost contact with a quorum; stepped down"
        ),
        Ok(resp) => tracing::debug!(vote = %resp.vote, "step-down vote not accepted yet"),
        Err(e) => tracing::warn!(cause = %e, "could not step down"),
    }
}
