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
        let mut schedule = Schedule::new(&policy, quorum_lost_after, Instant::now());
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.cancelled() => return,
            }
            let leadership = Leadership::of(&raft);
            let seeded = reader.current().shop.seeded;
            match schedule.tick(Instant::now(), &leadership, seeded) {
                Duty::Nothing => {}
                Duty::StepDown => {
                    step_down(&raft, my_id, leadership.millis_since_quorum_ack).await;
                }
                Duty::Seed => {
                    match proposer
                        .propose(Command::SeedCatalog(catalog.clone()))
                        .await
                    {
                        Ok(_) => tracing::info!(products = catalog.len(), "seeded the catalog"),
                        Err(e) => {
                            tracing::warn!(cause = %e, "seeding the catalog failed; will retry")
                        }
                    }
                }
                Duty::RestockLow => {
                    let command = Command::RestockLow {
                        threshold: policy.threshold,
                        amount: policy.amount,
                    };
                    if let Err(e) = proposer.propose(command).await {
                        tracing::warn!(cause = %e, "low-stock restock failed");
                    }
                }
            }
        }
    });
}

/// What one tick of the duty loop does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Duty {
    Nothing,
    /// This node leads without a quorum: step down.
    StepDown,
    /// Nothing was seeded yet: propose the catalog (again, each tick, until it is).
    Seed,
    /// The restock interval has passed since this node began leading or last restocked.
    RestockLow,
}

/// The duty loop's decisions, apart from openraft and the clock.
struct Schedule {
    /// `None`: the periodic restock is off.
    restock_every: Option<Duration>,
    quorum_lost_after: Duration,
    /// The last restock, or when this node last did not lead: a new leader waits a whole
    /// interval, so a leadership change cannot restock twice in a row.
    last_restock: Instant,
}

impl Schedule {
    fn new(policy: &RestockPolicy, quorum_lost_after: Duration, now: Instant) -> Self {
        Self {
            restock_every: (policy.interval_secs > 0)
                .then(|| Duration::from_secs(policy.interval_secs)),
            quorum_lost_after,
            last_restock: now,
        }
    }

    fn tick(&mut self, now: Instant, leadership: &Leadership, seeded: bool) -> Duty {
        if !leadership.is_leader {
            self.last_restock = now;
            return Duty::Nothing;
        }
        if leadership.quorum_lost(self.quorum_lost_after) {
            return Duty::StepDown;
        }
        if !seeded {
            return Duty::Seed;
        }
        match self.restock_every {
            Some(every) if now.saturating_duration_since(self.last_restock) >= every => {
                self.last_restock = now;
                Duty::RestockLow
            }
            _ => Duty::Nothing,
        }
    }
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
    let request = {
        let m = raft.metrics();
        let m = m.borrow();
        let voters = m.membership_config.membership().voter_ids();
        step_down_vote(my_id, m.current_term, m.last_log_index, voters)
    };
    // A single-voter cluster is its own quorum: there is nothing to step down to.
    let Some(request) = request else { return };
    let term = request.vote.leader_id().term;
    match raft.vote(request).await {
        Ok(resp) if resp.vote_granted => tracing::warn!(
            millis_since_quorum_ack = quorum_ack_ms,
            term,
            "lost contact with a quorum; stepped down"
        ),
        Ok(resp) => tracing::debug!(vote = %resp.vote, "step-down vote not accepted yet"),
        Err(e) => tracing::warn!(cause = %e, "could not step down"),
    }
}

/// The vote request a leader hands itself to step down: for another voter, in the next
/// term, with the leader's own last log id. `None` when no other voter exists.
fn step_down_vote(
    my_id: NodeId,
    term: u64,
    last_index: Option<u64>,
    mut voters: impl Iterator<Item = NodeId>,
) -> Option<VoteRequest<NodeId>> {
    let candidate = voters.find(|id| *id != my_id)?;
    // A leader's last entry is from its own term: the blank entry it wrote when elected.
    let last_log_id =
        last_index.map(|index| LogId::new(CommittedLeaderId::new(term, my_id), index));
    Some(VoteRequest::new(
        Vote::new(term + 1, candidate),
        last_log_id,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUORUM_LOST_AFTER: Duration = Duration::from_secs(2);

    fn policy(interval_secs: u64) -> RestockPolicy {
        RestockPolicy {
            interval_secs,
            ..RestockPolicy::default()
        }
    }

    fn leading(millis_since_quorum_ack: u64) -> Leadership {
        Leadership {
            leader: Some(1),
            hint: None,
            is_leader: true,
            term: 2,
            millis_since_quorum_ack: Some(millis_since_quorum_ack),
        }
    }

    fn following() -> Leadership {
        Leadership {
            is_leader: false,
            leader: Some(2),
            millis_since_quorum_ack: None,
            ..leading(0)
        }
    }

    #[test]
    fn a_leader_seeds_first_then_restocks_once_per_interval() {
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut s = Schedule::new(&policy(10), QUORUM_LOST_AFTER, t0);
        assert_eq!(s.tick(at(1), &leading(0), false), Duty::Seed);
        assert_eq!(
            s.tick(at(11), &leading(0), false),
            Duty::Seed,
            "seeding comes first"
        );
        assert_eq!(s.tick(at(11), &leading(0), true), Duty::RestockLow);
        assert_eq!(s.tick(at(20), &leading(0), true), Duty::Nothing);
        assert_eq!(s.tick(at(21), &leading(0), true), Duty::RestockLow);
    }

    #[test]
    fn a_new_leader_waits_a_whole_interval_before_restocking() {
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut s = Schedule::new(&policy(10), QUORUM_LOST_AFTER, t0);
        assert_eq!(s.tick(at(30), &following(), true), Duty::Nothing);
        assert_eq!(s.tick(at(39), &leading(0), true), Duty::Nothing);
        assert_eq!(s.tick(at(40), &leading(0), true), Duty::RestockLow);
    }

    #[test]
    fn a_leader_without_a_quorum_steps_down_instead_of_proposing() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&policy(10), QUORUM_LOST_AFTER, t0);
        let lost = leading(2_001);
        assert_eq!(s.tick(t0, &lost, false), Duty::StepDown);
        assert_eq!(
            s.tick(t0 + Duration::from_secs(60), &lost, true),
            Duty::StepDown
        );
        assert_eq!(
            s.tick(t0, &leading(2_000), false),
            Duty::Seed,
            "at the limit"
        );
    }

    #[test]
    fn an_interval_of_zero_never_restocks() {
        let t0 = Instant::now();
        let mut s = Schedule::new(&policy(0), QUORUM_LOST_AFTER, t0);
        let much_later = t0 + Duration::from_secs(1_000_000);
        assert_eq!(s.tick(much_later, &leading(0), true), Duty::Nothing);
    }

    #[test]
    fn the_step_down_vote_is_for_another_voter_in_the_next_term_with_our_last_log_id() {
        let vote = step_down_vote(1, 4, Some(17), [1, 2, 3].into_iter()).expect("a candidate");
        assert_eq!(vote.vote, Vote::new(5, 2));
        assert_eq!(
            vote.last_log_id,
            Some(LogId::new(CommittedLeaderId::new(4, 1), 17))
        );
        assert_eq!(step_down_vote(1, 4, None, [1].into_iter()), None);
        assert_eq!(
            step_down_vote(1, 4, None, [1, 3].into_iter()).map(|v| v.last_log_id),
            Some(None)
        );
    }
}
