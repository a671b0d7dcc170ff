//! The state checks this node applied: at each `CheckState` entry, its state digest and
//! content sum at exactly that index (equal on every replica that holds the same state),
//! and whether a scan of its disk still sums to what it applied. The leader asks every
//! member for these (`/raft/state-check`) and compares them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bazaar_api::peer::StateCheckReport;

use super::content::ContentSum;
use crate::shop::StateDigest;

/// How many checks are kept: the leader asks about the newest within seconds.
const KEEP: usize = 16;

/// One check as this node applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCheck {
    pub index: u64,
    pub digest: StateDigest,
    pub content: ContentSum,
    /// The scan of the disk started after the entry: none yet, or what it found.
    pub disk: Option<Result<(), String>>,
}

#[derive(Debug, Clone, Default)]
pub struct StateChecks(Arc<Mutex<BTreeMap<u64, StateCheck>>>);

impl StateChecks {
    pub(super) fn record(&self, index: u64, digest: StateDigest, content: ContentSum) {
        let mut checks = self.lock();
        checks.insert(
            index,
            StateCheck {
                index,
                digest,
                content,
                disk: None,
            },
        );
        while checks.len() > KEEP {
            checks.pop_first();
        }
    }

    pub(super) fn disk_scanned(&self, index: u64, outcome: Result<(), String>) {
        if let Some(check) = self.lock().get_mut(&index) {
            check.disk = Some(outcome);
        }
    }

    pub fn get(&self, index: u64) -> Option<StateCheck> {
        self.lock().get(&index).cloned()
    }

    /// The report a leader compares, for member `member`.
    pub fn report(&self, member: u64, index: u64) -> Option<StateCheckReport> {
        let check = self.get(index)?;
        Some(StateCheckReport {
            member,
            index,
            digest: check.digest.hex(),
            content_sum: check.content.sum,
            content_records: check.content.records,
            disk_scanned: check.disk.is_some(),
            disk_damage: check.disk.and_then(Result::err),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, StateCheck>> {
        // The map stays whole whatever panicked while it was held.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_checks_and_their_disk_outcome() {
        let checks = StateChecks::default();
        for index in 1..=(KEEP as u64 + 4) {
            checks.record(index, StateDigest(index), ContentSum::default());
        }
        assert!(checks.get(1).is_none(), "the oldest are dropped");
        let newest = KEEP as u64 + 4;
        let report = checks.report(2, newest).expect("kept");
        assert!(!report.disk_scanned);
        checks.disk_scanned(newest, Err("sums differ".into()));
        let report = checks.report(2, newest).expect("kept");
        assert_eq!(report.disk_damage.as_deref(), Some("sums differ"));
        assert_eq!(report.member, 2);
    }
}
