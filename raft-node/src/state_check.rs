//! The leader's consistency check, etcd's corruption check for Bazaar: every
//! `storage.hash_check_interval_secs` the leader appends a `CheckState` entry; each member
//! notes its state digest and content sum at exactly that index and scans its disk; the
//! leader gathers every member's report and raises the `corrupt` alarm, through the log,
//! for each member that differs from the majority or found its disk damaged. A member named
//! by that alarm serves no reads, and a leader named by it hands leadership over.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bazaar_api::peer::{paths, StateCheckReport};
use bazaar_api::AlarmKind;
use bazaar_service::{CancellationToken, TaskTracker};

use crate::leadership::Leadership;
use crate::log_gate::LogGate;
use crate::net::PeerNetwork;
use crate::proposer::Proposer;
use crate::shop::{AlarmRecord, Command};
use crate::store::{StateChecks, StateReader};
use crate::transfer::LeaderTransfer;
use crate::types::{NodeAddr, NodeId, Raft};

/// How long the leader waits for every member's report of one check (a member must apply
/// the entry and scan its disk); a member that has not answered by then is left out.
const REPORT_PATIENCE: Duration = Duration::from_secs(20);
const REPORT_POLL: Duration = Duration::from_millis(100);
const PEER_TTL: Duration = Duration::from_secs(2);
/// How often the duty looks at its clock and at whether it must hand leadership over.
const TICK: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct StateCheckDuty {
    pub my_id: NodeId,
    pub raft: Raft,
    pub checks: StateChecks,
    pub reader: StateReader,
    pub proposer: Proposer,
    pub net: PeerNetwork,
    pub transfer: LeaderTransfer,
    /// Zero turns the periodic check off (a corrupt leader still steps down).
    pub interval: Duration,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Members that differ from the majority, or whose disk scan found damage, and why.
    pub corrupt: BTreeMap<NodeId, String>,
    /// Members that did not report in time.
    pub missing: Vec<NodeId>,
}

/// Compares the reports of one check. The majority's digest and content sum are the
/// cluster's; when no fingerprint has a majority, the leader's stands in for it.
pub fn judge(leader: NodeId, reports: &[StateCheckReport], members: &[NodeId]) -> Verdict {
    let mut counts: BTreeMap<(String, u64, u64), usize> = BTreeMap::new();
    for report in reports {
        *counts.entry(report.fingerprint()).or_default() += 1;
    }
    let majority = counts
        .iter()
        .find(|(_, n)| **n * 2 > reports.len())
        .map(|(fingerprint, _)| fingerprint.clone())
        .or_else(|| {
            reports
                .iter()
                .find(|r| r.member == leader)
                .map(StateCheckReport::fingerprint)
        });
    let mut corrupt = BTreeMap::new();
    for report in reports {
        if let Some(damage) = &report.disk_damage {
            corrupt.insert(report.member, damage.clone());
        } else if majority
            .as_ref()
            .is_some_and(|m| *m != report.fingerprint())
        {
            corrupt.insert(
                report.member,
                format!(
                    "at index {}: digest {}, content sum {:016x} over {} records; most members \
                     hold another state",
                    report.index, report.digest, report.content_sum, report.content_records
                ),
            );
        }
    }
    let missing = members
        .iter()
        .filter(|id| !reports.iter().any(|r| r.member == **id))
        .copied()
        .collect();
    Verdict { corrupt, missing }
}

impl StateCheckDuty {
    pub fn spawn(self, tasks: &TaskTracker, stop: CancellationToken) {
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_check = Instant::now();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                if !Leadership::of(&self.raft).is_leader {
                    last_check = Instant::now();
                    continue;
                }
                if self.named_corrupt() {
                    self.step_down().await;
                    continue;
                }
                if self.interval.is_zero() || last_check.elapsed() < self.interval {
                    continue;
                }
                last_check = Instant::now();
                tokio::select! {
                    _ = self.check_once() => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
    }

    fn named_corrupt(&self) -> bool {
        self.reader
            .current()
            .shop
            .alarms
            .contains(AlarmKind::Corrupt, self.my_id)
    }

    async fn step_down(&self) {
        static STEP_DOWN: LogGate = LogGate::new(Duration::from_secs(10));
        let outcome = self.transfer.transfer(None).await;
        if let Some(held_back) = STEP_DOWN.pass() {
            match outcome {
                Ok(o) => tracing::warn!(
                    node = self.my_id,
                    to = o.to,
                    "named corrupt: handed leadership over"
                ),
                Err(e) => {
                    tracing::warn!(node = self.my_id, cause = %e, held_back, "named corrupt: cannot hand leadership over yet")
                }
            }
        }
    }

    /// Appends a check, gathers the reports, raises `corrupt` for the members that differ.
    pub async fn check_once(&self) -> Option<Verdict> {
        static FAILED: LogGate = LogGate::new(Duration::from_secs(60));
        let index = match self.raft.client_write(Command::CheckState).await {
            Ok(written) => written.log_id.index,
            Err(e) => {
                if let Some(held_back) = FAILED.pass() {
                    tracing::warn!(node = self.my_id, cause = %e, held_back, "state check not appended");
                }
                return None;
            }
        };
        let members = self.members();
        let reports = self.gather(index, &members).await;
        let ids: Vec<NodeId> = members.keys().copied().collect();
        let verdict = judge(self.my_id, &reports, &ids);
        if verdict.corrupt.is_empty() {
            tracing::debug!(index, reports = reports.len(), missing = ?verdict.missing, "state check passed");
        }
        for (member, detail) in &verdict.corrupt {
            tracing::error!(index, member, %detail, "state check: member holds another state; raising the corrupt alarm");
            if self
                .reader
                .current()
                .shop
                .alarms
                .contains(AlarmKind::Corrupt, *member)
            {
                continue;
            }
            let raise = Command::RaiseAlarm(AlarmRecord {
                kind: AlarmKind::Corrupt,
                member: *member,
                raised_at: 0,
                detail: detail.clone(),
            });
            if let Err(e) = self.proposer.propose(raise).await {
                tracing::warn!(member, cause = %e, "cannot raise the corrupt alarm yet");
            }
        }
        Some(verdict)
    }

    fn members(&self) -> BTreeMap<NodeId, NodeAddr> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .nodes()
            .map(|(id, node)| (*id, node.clone()))
            .collect()
    }

    /// Each member's report of check `index` once it has scanned its disk, until
    /// [`REPORT_PATIENCE`] runs out.
    async fn gather(
        &self,
        index: u64,
        members: &BTreeMap<NodeId, NodeAddr>,
    ) -> Vec<StateCheckReport> {
        let started = Instant::now();
        let mut reports: BTreeMap<NodeId, StateCheckReport> = BTreeMap::new();
        while reports.len() < members.len() && started.elapsed() < REPORT_PATIENCE {
            for (id, node) in members {
                if reports.contains_key(id) {
                    continue;
                }
                let report = if *id == self.my_id {
                    self.checks.report(*id, index)
                } else {
                    self.net
                        .peer_call::<u64, Option<StateCheckReport>, String>(
                            *id,
                            node,
                            paths::STATE_CHECK,
                            &index,
                            PEER_TTL,
                        )
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .flatten()
                };
                if let Some(report) = report.filter(|r| r.disk_scanned) {
                    reports.insert(*id, report);
                }
            }
            if reports.len() < members.len() {
                tokio::time::sleep(REPORT_POLL).await;
            }
        }
        reports.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(member: NodeId, digest: &str, sum: u64) -> StateCheckReport {
        StateCheckReport {
            member,
            index: 40,
            digest: digest.into(),
            content_sum: sum,
            content_records: 9,
            disk_scanned: true,
            disk_damage: None,
        }
    }

    #[test]
    fn equal_reports_name_no_one() {
        let reports = [report(1, "a", 7), report(2, "a", 7), report(3, "a", 7)];
        let verdict = judge(1, &reports, &[1, 2, 3]);
        assert!(verdict.corrupt.is_empty());
        assert!(verdict.missing.is_empty());
    }

    #[test]
    fn the_member_outside_the_majority_is_named_even_when_it_leads() {
        let reports = [report(1, "a", 7), report(2, "a", 8), report(3, "a", 7)];
        let verdict = judge(1, &reports, &[1, 2, 3]);
        assert_eq!(verdict.corrupt.keys().copied().collect::<Vec<_>>(), vec![2]);
        let verdict = judge(2, &reports, &[1, 2, 3]);
        assert_eq!(
            verdict.corrupt.keys().copied().collect::<Vec<_>>(),
            vec![2],
            "a leader outside the majority names itself"
        );
        let digest_only = [report(1, "a", 7), report(2, "b", 7), report(3, "a", 7)];
        assert!(judge(1, &digest_only, &[1, 2, 3]).corrupt.contains_key(&2));
    }

    #[test]
    fn without_a_majority_the_leaders_state_stands_and_silence_is_missing() {
        let reports = [report(1, "a", 7), report(2, "a", 8)];
        let verdict = judge(1, &reports, &[1, 2, 3]);
        assert_eq!(verdict.corrupt.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(verdict.missing, vec![3]);
    }

    #[test]
    fn a_damaged_disk_is_named_whatever_the_sums_say() {
        let mut damaged = report(3, "a", 7);
        damaged.disk_damage = Some("records sum to something else".into());
        let reports = [report(1, "a", 7), report(2, "a", 7), damaged];
        let verdict = judge(1, &reports, &[1, 2, 3]);
        assert_eq!(
            verdict.corrupt.get(&3).map(String::as_str),
            Some("records sum to something else")
        );
    }
}
