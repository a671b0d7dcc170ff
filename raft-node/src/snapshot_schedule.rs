//! When this node builds a snapshot. A snapshot dumps the whole state, which grows with every
//! order ever placed, so a fixed count of entries between dumps makes each order cost more
//! CPU and disk the older the shop is. A snapshot is due after `raft.snapshot_every_entries`
//! entries and once the log written since the last one is `raft.snapshot_log_percent` of that
//! snapshot's size: the bytes dumped per byte of log stay bounded however large the state.
//! openraft 0.9 counts entries only, so its own policy is off and this task triggers builds.

use std::sync::Arc;
use std::time::Duration;

use bazaar_api::config::RaftSettings;
use openraft::RaftMetrics;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::snapshot::SnapshotFiles;
use crate::store::LogVolume;
use crate::types::{NodeAddr, NodeId, Raft};

/// How often the schedule looks at the log; a build takes far longer than this.
const TICK: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSchedule {
    every_entries: u64,
    log_percent: u64,
}

impl SnapshotSchedule {
    pub fn new(settings: &RaftSettings) -> Self {
        Self::with(
            settings.snapshot_every_entries,
            settings.snapshot_log_percent,
        )
    }

    /// A snapshot due after `every_entries` entries and `log_percent` of log.
    pub fn with(every_entries: u64, log_percent: u64) -> Self {
        Self {
            every_entries,
            log_percent,
        }
    }

    /// Whether a snapshot is due with `entries_since` applied entries outside the last
    /// snapshot, which holds `snapshot_bytes` (0: there is none), when this node's entries
    /// have been `mean_entry_bytes` long on average (none: it has appended none since it
    /// started, so nothing new calls for a snapshot).
    pub fn is_due(
        &self,
        entries_since: u64,
        snapshot_bytes: u64,
        mean_entry_bytes: Option<u64>,
    ) -> bool {
        if entries_since < self.every_entries {
            return false;
        }
        if snapshot_bytes == 0 || self.log_percent == 0 {
            return true;
        }
        mean_entry_bytes.is_some_and(|mean| {
            let log_bytes = u128::from(entries_since) * u128::from(mean);
            log_bytes * 100 >= u128::from(snapshot_bytes) * u128::from(self.log_percent)
        })
    }

    /// Triggers openraft's snapshot build whenever one is due, until `stop`.
    pub fn spawn(
        self,
        raft: Raft,
        volume: Arc<LogVolume>,
        snapshots: SnapshotFiles,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) {
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let entries_since = entries_since_snapshot(&raft.metrics().borrow());
                if entries_since < self.every_entries {
                    continue;
                }
                let snapshot_bytes = snapshots.current_bytes();
                if !self.is_due(entries_since, snapshot_bytes, volume.mean_entry_bytes()) {
                    continue;
                }
                tracing::debug!(entries_since, snapshot_bytes, "snapshot due");
                // openraft ignores the trigger while a build is under way.
                if let Err(e) = raft.trigger().snapshot().await {
                    tracing::warn!(cause = %e, "raft stopped; no more snapshots");
                    return;
                }
            }
        });
    }
}

/// Applied entries that the current snapshot does not hold.
pub fn entries_since_snapshot(m: &RaftMetrics<NodeId, NodeAddr>) -> u64 {
    let applied = m.last_applied.map_or(0, |l| l.index + 1);
    let snapshot = m.snapshot.map_or(0, |l| l.index + 1);
    applied.saturating_sub(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_before_the_entry_count() {
        let s = SnapshotSchedule::with(100, 100);
        assert!(!s.is_due(99, 0, Some(1_000)));
        assert!(s.is_due(100, 0, Some(1_000)));
    }

    #[test]
    fn a_large_state_waits_for_as_much_log() {
        let s = SnapshotSchedule::with(100, 100);
        // 1,000 entries of 1 KB against a 2 MB snapshot: half as much log as state.
        assert!(!s.is_due(1_000, 2_000_000, Some(1_000)));
        assert!(s.is_due(2_000, 2_000_000, Some(1_000)));
        // Half the percentage, half the log.
        assert!(SnapshotSchedule::with(100, 50).is_due(1_000, 2_000_000, Some(1_000)));
    }

    #[test]
    fn zero_percent_counts_entries_only() {
        assert!(SnapshotSchedule::with(100, 0).is_due(100, u64::MAX, Some(1)));
    }

    #[test]
    fn without_appends_there_is_nothing_to_snapshot_for() {
        assert!(!SnapshotSchedule::with(100, 100).is_due(10_000, 2_000_000, None));
    }

    #[test]
    fn huge_figures_do_not_overflow() {
        assert!(SnapshotSchedule::with(1, 1000).is_due(u64::MAX, u64::MAX, Some(u64::MAX)));
    }
}
