//! Learners that promote themselves: after `member add --promote`, the leader watches the
//! new learner's progress and makes it a voter once it is within `ready_max_lag_entries`
//! (etcd#15107's ask), so adding a voter is one step instead of add, wait, promote.
//!
//! The intent lives in the leader's memory, not in the log: a leader that steps down (or
//! stops) before the learner has caught up logs that the promotion did not happen and the
//! operator promotes it by hand (`bazaar member promote ID`), as before.

use std::time::Duration;

use bazaar_service::{CancellationToken, TaskTracker};

use crate::members::{MemberError, Members};
use crate::types::NodeId;

/// How often a watch looks at the learner's progress. Short beside a catch-up (seconds)
/// and cheap: it reads the leader's metrics, no I/O.
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// After a refusal that may pass (another membership change in progress, a quorum that
/// does not answer yet), the next try waits this long.
const RETRY_AFTER_REFUSAL: Duration = Duration::from_secs(1);

/// Spawns the node's promotion watches, on its task tracker, until it stops.
#[derive(Clone)]
pub struct Promotions {
    tasks: TaskTracker,
    stop: CancellationToken,
}

/// What a watch does after one look at the learner.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Promoted, or nothing left to do (already a voter, removed).
    Done,
    /// Still catching up: look again soon.
    Wait,
    /// Refused for a reason that may pass: try again later.
    Retry,
    /// This node no longer leads, or Raft stopped: the promotion is the operator's now.
    GiveUp,
}

impl Promotions {
    pub fn new(tasks: TaskTracker, stop: CancellationToken) -> Self {
        Self { tasks, stop }
    }

    /// Watches learner `id` from this (leading) node and promotes it once caught up.
    pub fn watch(&self, members: Members, id: NodeId) {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tracing::info!(learner = id, "promoting the learner once it has caught up");
            loop {
                let pause = match step_of(members.promote(id).await) {
                    Step::Done => return,
                    Step::Wait => WATCH_EVERY,
                    Step::Retry => RETRY_AFTER_REFUSAL,
                    Step::GiveUp => {
                        tracing::warn!(
                            learner = id,
                            "this node no longer leads: learner not promoted; \
                             run `bazaar member promote {id}` once it has caught up"
                        );
                        return;
                    }
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        });
    }
}

/// The next step after one promotion attempt.
pub fn step_of(attempt: Result<u64, MemberError>) -> Step {
    match attempt {
        Ok(index) => {
            tracing::info!(index, "caught-up learner promoted to voter");
            Step::Done
        }
        Err(MemberError::AlreadyVoter(_) | MemberError::Unknown(_)) => Step::Done,
        Err(MemberError::Lagging { .. }) => Step::Wait,
        Err(e @ (MemberError::NoQuorum { .. } | MemberError::Refused(_))) => {
            tracing::debug!(cause = %e, "promotion refused for now; trying again");
            Step::Retry
        }
        Err(MemberError::NotLeader(_) | MemberError::Fatal(_)) => Step::GiveUp,
        Err(
            e @ (MemberError::ZeroId
            | MemberError::AlreadyMember(_)
            | MemberError::AddressInUse { .. }
            | MemberError::LastVoter(_)),
        ) => {
            // Not answers a promotion gives; stop rather than loop on them.
            tracing::warn!(cause = %e, "learner not promoted");
            Step::Done
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_waits_while_the_learner_lags_and_ends_once_it_is_a_voter() {
        let lagging = MemberError::Lagging {
            id: 4,
            lag: 5000,
            limit: 1000,
        };
        assert_eq!(step_of(Err(lagging)), Step::Wait);
        assert_eq!(step_of(Ok(42)), Step::Done);
        assert_eq!(step_of(Err(MemberError::AlreadyVoter(4))), Step::Done);
        assert_eq!(step_of(Err(MemberError::Unknown(4))), Step::Done, "removed");
    }

    #[test]
    fn a_watch_retries_what_may_pass_and_gives_up_when_leadership_moves() {
        let busy = MemberError::Refused("a membership change is in progress".into());
        assert_eq!(step_of(Err(busy)), Step::Retry);
        let no_quorum = MemberError::NoQuorum {
            alive: 2,
            voters: 4,
            quorum: 3,
            silent: vec![3, 4],
        };
        assert_eq!(step_of(Err(no_quorum)), Step::Retry);
        assert_eq!(step_of(Err(MemberError::NotLeader(None))), Step::GiveUp);
        assert_eq!(
            step_of(Err(MemberError::Fatal("stopped".into()))),
            Step::GiveUp
        );
    }
}
