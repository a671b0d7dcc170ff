//! A snapshot of the state as it is now, for a member about to be added. A new learner
//! installs the leader's current snapshot and then replays every entry after it, and
//! openraft 0.9 hands that whole backlog to one apply, held in memory. Snapshots are weighed
//! by the state's size (`snapshot_schedule.rs`), so the log behind the last one can be long;
//! when it is, the leader snapshots first, the way etcd sends a new member its current state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::metrics::WaitError;
use openraft::RaftMetrics;

use crate::snapshot_schedule::{entries_since_snapshot, SnapshotSchedule};
use crate::store::snapshot::SnapshotFiles;
use crate::store::LogVolume;
use crate::types::{NodeAddr, NodeId, Raft};

/// A fresh snapshot is built once the log since the last one is this share of its size.
/// Measured at 1–2 M orders (BENCHMARKS.md): replaying the log costs about 4.5 times as
/// much per byte as dumping the state, so below a tenth the replay is the quicker path and
/// holds little in memory; above a fifth the dump wins on both.
const LOG_PERCENT: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The last snapshot is recent enough: nothing was built.
    Recent { snapshot: u64, behind: u64 },
    /// A snapshot at `snapshot`, at or after the applied index when asked, is current.
    Built { snapshot: u64, elapsed: Duration },
    /// No new snapshot within the budget: the build goes on, and the member is added with
    /// the older one (it replays more log, nothing else changes).
    Late { waited: Duration },
    /// Raft is shutting down.
    Stopped,
}

impl Freshness {
    /// One line on how new member `learner` will start.
    pub fn log(&self, learner: NodeId) {
        match *self {
            Freshness::Recent { snapshot, behind } => {
                tracing::info!(
                    learner,
                    snapshot,
                    behind,
                    "new member starts from the last snapshot"
                );
            }
            Freshness::Built { snapshot, elapsed } => {
                tracing::info!(
                    learner,
                    snapshot,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "snapshot built for the new member"
                );
            }
            Freshness::Late { waited } => {
                tracing::warn!(
                    learner,
                    waited_ms = waited.as_millis() as u64,
                    "no fresh snapshot in time; the new member replays the log since the last one"
                );
            }
            // Adding the member then fails with the stop, and says so.
            Freshness::Stopped => {}
        }
    }
}

/// When the leader snapshots for a new member, and the build itself.
#[derive(Clone)]
pub struct NewMemberSnapshot {
    rule: SnapshotSchedule,
    volume: Arc<LogVolume>,
    snapshots: SnapshotFiles,
}

impl NewMemberSnapshot {
    /// A fresh snapshot once more than `replay_at_most` entries and `LOG_PERCENT` of the
    /// last snapshot's size lie behind it.
    pub fn new(replay_at_most: u64, volume: Arc<LogVolume>, snapshots: SnapshotFiles) -> Self {
        Self {
            rule: rule(replay_at_most),
            volume,
            snapshots,
        }
    }

    /// Makes the current snapshot recent by the rule above, waiting at most `budget` for
    /// a build.
    pub async fn freshen(&self, raft: &Raft, budget: Duration) -> Freshness {
        let started = Instant::now();
        let (applied, behind, mut seen) = {
            let m = raft.metrics();
            let m = m.borrow();
            (
                applied_index(&m),
                entries_since_snapshot(&m),
                snapshot_index(&m),
            )
        };
        let due = self.rule.is_due(
            behind,
            self.snapshots.current_bytes(),
            self.volume.mean_entry_bytes(),
        );
        if !due {
            return Freshness::Recent {
                snapshot: seen,
                behind,
            };
        }
        loop {
            // Ignored while a build is under way; that build may end before `applied`,
            // and then the next turn asks again.
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
}

fn rule(replay_at_most: u64) -> SnapshotSchedule {
    SnapshotSchedule::with(replay_at_most.saturating_add(1), LOG_PERCENT)
}

fn applied_index(m: &RaftMetrics<NodeId, NodeAddr>) -> u64 {
    m.last_applied.map_or(0, |l| l.index)
}

fn snapshot_index(m: &RaftMetrics<NodeId, NodeAddr>) -> u64 {
    m.snapshot.map_or(0, |l| l.index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_replay_needs_no_snapshot() {
        // No snapshot yet: only the entry count decides.
        assert!(!rule(1_000).is_due(1_000, 0, Some(4_000)));
        assert!(rule(1_000).is_due(1_001, 0, Some(4_000)));
    }

    #[test]
    fn a_log_that_is_small_beside_the_state_is_replayed() {
        // 5,000 entries of 4 KB against a 400 MB snapshot: 5 %, replayed.
        assert!(!rule(1_000).is_due(5_000, 400_000_000, Some(4_000)));
        // 10,000 of them: 10 %, a fresh snapshot.
        assert!(rule(1_000).is_due(10_000, 400_000_000, Some(4_000)));
    }
}
