//! A snapshot of the state as it is now, for a member about to be added. A new learner
//! installs the leader's current snapshot and then replays every entry after it, and
//! openraft 0.9 hands that whole backlog to one apply, held in memory. Snapshots are weighed
//! by the state's size (`snapshot_schedule.rs`), so the log behind the last one can be long;
//! the leader therefore snapshots first, the way etcd sends a new member its current state.

use std::time::{Duration, Instant};

use openraft::metrics::WaitError;
use openraft::RaftMetrics;

use crate::types::{NodeAddr, NodeId, Raft};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The last snapshot is at most the allowed replay behind: nothing was built.
    Recent { snapshot: u64, behind: u64 },
    /// A snapshot at `snapshot`, at or after the applied index when asked, is current.
    Built { snapshot: u64, elapsed: Duration },
    /// No new snapshot within the budget: the build goes on, and the member is added with
    /// the older one (it replays more log, nothing else changes).
    Late { waited: Duration },
    /// Raft is shutting down.
    Stopped,
}

/// Makes the current snapshot no more than `replay_at_most` entries behind the applied
/// state, waiting at most `budget` for a build.
pub async fn freshen(raft: &Raft, replay_at_most: u64, budget: Duration) -> Freshness {
    let started = Instant::now();
    let (applied, mut seen) = {
        let m = raft.metrics();
        let m = m.borrow();
        (applied_index(&m), snapshot_index(&m))
    };
    let behind = applied.saturating_sub(seen);
    if behind <= replay_at_most {
        return Freshness::Recent {
            snapshot: seen,
            behind,
        };
    }
    loop {
        // Ignored while a build is under way; that build may end before `applied`, and
        // then the next turn asks again.
        if raft.trigger().snapshot().await.is_err() {
            return Freshness::Stopped;
        }
        let Some(left) = budget.checked_sub(started.elapsed()) else {
            return Freshness::Late {
                waited: started.elapsed(),
            };
        };
        let newer = raft
            .wait(Some(left))
            .metrics(|m| snapshot_index(m) > seen, "a newer snapshot")
            .await;
        match newer {
            Ok(m) => {
                seen = snapshot_index(&m);
                if seen >= applied {
                    return Freshness::Built {
                        snapshot: seen,
                        elapsed: started.elapsed(),
                    };
                }
            }
            Err(WaitError::Timeout(..)) => {
                return Freshness::Late {
                    waited: started.elapsed(),
                }
            }
            Err(WaitError::ShuttingDown) => return Freshness::Stopped,
        }
    }
}

fn applied_index(m: &RaftMetrics<NodeId, NodeAddr>) -> u64 {
    m.last_applied.map_or(0, |l| l.index)
}

fn snapshot_index(m: &RaftMetrics<NodeId, NodeAddr>) -> u64 {
    m.snapshot.map_or(0, |l| l.index)
}
