//! Archive commits on the node: the leader's checks before it proposes one (so a file that
//! is not a copy of this cluster's orders never reaches the log, and never names a healthy
//! replica), and the task that acts on what this replica's state machine did with one:
//! reclaims the disk and has a small snapshot built, or has the `corrupt` alarm raised for
//! this node when its orders differ from the file's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bazaar_api::archive::{ArchiveCommitRequest, OrderDigest};
use bazaar_api::peer::{paths, ArchiveDigestRequest};
use bazaar_api::{AlarmKind, ArchivedRange, LeaderHint, FEATURE_ARCHIVE};
use bazaar_service::{CancellationToken, TaskTracker};

use crate::leadership::Leadership;
use crate::net::PeerNetwork;
use crate::proposer::{Proposer, WriteError};
use crate::shop::{
    AlarmRecord, ArchiveCommit, ArchiveOutcome, ArchiveRejection, Command, CommandResult,
};
use crate::space_alarm::SpaceAlarm;
use crate::store::{
    prepare_digest, reclaim_archived, ArchiveEvent, ArchiveEvents, StateReader, StoreError,
};
use crate::types::{NodeAddr, NodeId, Raft};
use crate::versions::{MemberVersions, KNOWN_WITHIN};

/// How long the call asking a member to read its copy of a range is kept open (the raft
/// listener cuts its routes at 30 s). The leader stops waiting sooner (see
/// [`MIN_PREPARE_GRACE`]); a member goes on reading however long it takes (about a second
/// per million orders, at low priority) and keeps what it finds for the commit's apply.
const PREPARE_PATIENCE: Duration = Duration::from_secs(30);
/// The least the leader waits for the members after reading its own copy of a range.
const MIN_PREPARE_GRACE: Duration = Duration::from_secs(1);

/// How often the leader compares the orders held with `archive.keep_recent_orders`.
const POLICY_EVERY: Duration = Duration::from_secs(10);

/// How often a node whose orders differ from an archive asks again for its `corrupt`
/// alarm, until the alarm is in its view.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("this node is not the leader")]
    NotLeader(Option<LeaderHint>),
    #[error("{0}")]
    BadRequest(String),
    /// Nothing was removed anywhere; the message says why.
    #[error("refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("unexpected result {0}")]
    Unexpected(String),
}

/// Commits archives on the leader.
#[derive(Clone)]
pub struct Archiver {
    pub raft: Raft,
    pub proposer: Proposer,
    pub reader: StateReader,
    /// The members' builds: a commit waits until every member can apply one.
    pub versions: MemberVersions,
    /// To have each member read its copy of the range before the commit.
    pub net: PeerNetwork,
}

impl Archiver {
    /// Checks `req` against this leader's own state and proposes it. A linearizable view
    /// must have been taken by the caller (every earlier commit is in it).
    pub async fn commit(&self, req: &ArchiveCommitRequest) -> Result<ArchiveOutcome, ArchiveError> {
        let leadership = Leadership::of(&self.raft);
        if !leadership.is_leader {
            return Err(ArchiveError::NotLeader(leadership.hint));
        }
        let digest = OrderDigest::parse(&req.digest, req.count).ok_or_else(|| {
            ArchiveError::BadRequest(format!(
                "digest must be 16 hex digits, got {:?}",
                req.digest
            ))
        })?;
        let member_addrs: BTreeMap<NodeId, NodeAddr> = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .nodes()
            .map(|(id, node)| (*id, node.clone()))
            .collect();
        let members: Vec<NodeId> = member_addrs.keys().copied().collect();
        self.versions.wait_known(&members, KNOWN_WITHIN).await;
        let lacking = self.versions.lacking(&members, FEATURE_ARCHIVE);
        if !lacking.is_empty() {
            let named: Vec<String> = lacking
                .iter()
                .map(|(id, build)| format!("node {id} ({build})"))
                .collect();
            return Err(ArchiveError::Refused(format!(
                "nothing proposed: {} cannot apply an archive commit yet; upgrade every member \
                 (or wait until the leader has heard from it) first",
                named.join(", ")
            )));
        }
        let view = self.reader.current();
        let commit = ArchiveCommit {
            from: req.from,
            upto: req.upto,
            count: req.count,
            digest_sum: digest.sum,
            proposed_at_ms: now_ms(),
            label: req.label.clone(),
        };
        let retry = view
            .shop
            .archives
            .with_upto(req.upto)
            .is_some_and(|done| done.made_by(&commit));
        if !retry {
            let archived_upto = view.shop.archived_upto();
            let next_order = view.shop.next_order;
            if req.from != archived_upto + 1
                || req.upto < req.from
                || req.upto >= next_order
                || req.count != req.upto - req.from + 1
            {
                return Err(ArchiveError::Refused(
                    ArchiveRejection::Range {
                        archived_upto,
                        next_order,
                    }
                    .to_string(),
                ));
            }
            // The members read their copies while the leader reads its own; the leader
            // then waits for them about as long again as its own took, not longer: they
            // are only being prepared, and the caller is waiting for the commit.
            let range = ArchiveDigestRequest {
                from: req.from,
                upto: req.upto,
            };
            let this = self.clone();
            let members_read =
                tokio::spawn(
                    async move { this.prepare_members(member_addrs, range, digest).await },
                );
            let started = Instant::now();
            let have = prepare_digest(view.db.clone(), req.from, req.upto).await?;
            let grace = started.elapsed().max(MIN_PREPARE_GRACE);
            if tokio::time::timeout(grace, members_read).await.is_err() {
                tracing::info!(
                    grace_ms = grace.as_millis() as u64,
                    "proposing before every member has read its copy of the range"
                );
            }
            if have != digest {
                return Err(ArchiveError::Refused(format!(
                    "nothing proposed: the leader's orders {}..={} hash to {have}, the file says \
                     {digest}; the file is not a copy of this cluster's orders",
                    req.from, req.upto
                )));
            }
        }
        let applied = self
            .proposer
            .propose(Command::ArchiveOrders(commit))
            .await?;
        match applied.result {
            CommandResult::Archived(Ok(outcome)) => Ok(outcome),
            CommandResult::Archived(Err(why)) => Err(ArchiveError::Refused(why.to_string())),
            other => Err(ArchiveError::Unexpected(format!("{other:?}"))),
        }
    }
}

impl Archiver {
    /// Has every other member read its own copy of the range now, at low priority and all
    /// at once, so that none reads it while it applies the commit (which holds its applies
    /// for as long, about a second per million orders, at full priority, beside the
    /// orders' own work). Only a preparation: a member that does not answer in time, or
    /// holds the range only partly yet, reads it at apply as before; one whose digest
    /// differs from the file is named in the log now, and refuses the commit there.
    async fn prepare_members(
        &self,
        members: BTreeMap<NodeId, NodeAddr>,
        range: ArchiveDigestRequest,
        expected: OrderDigest,
    ) {
        let my_id = self.raft.metrics().borrow().id;
        let asks = members
            .iter()
            .filter(|(id, _)| **id != my_id)
            .map(|(id, node)| {
                let net = self.net.clone();
                async move {
                    let answer = net
                        .peer_call::<_, String, String>(
                            *id,
                            node,
                            paths::ARCHIVE_DIGEST,
                            &range,
                            PREPARE_PATIENCE,
                        )
                        .await;
                    (*id, answer)
                }
            });
        for (id, answer) in futures::future::join_all(asks).await {
            match answer.map(|r| r.map(|hex| OrderDigest::parse(&hex, expected.count))) {
                Ok(Ok(Some(digest))) if digest == expected => {
                    tracing::debug!(member = id, "member read its copy of the range")
                }
                Ok(Ok(_)) => tracing::warn!(
                    member = id,
                    "member's copy of orders {}..={} differs from the file's digest {expected}: \
                     it will refuse the commit",
                    range.from,
                    range.upto
                ),
                Ok(Err(why)) | Err(why) => tracing::info!(
                    member = id,
                    cause = %why,
                    "member did not read its copy ahead; it reads it when it applies the commit"
                ),
            }
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Acts on the archive commits this replica applies or refuses, until `stop`. At start it
/// resumes the last archive's reclaim (a crash may have cut it short; on a compacted range
/// it costs next to nothing).
pub fn spawn_archive_task(
    events: &ArchiveEvents,
    reader: StateReader,
    raft: Raft,
    alarm: SpaceAlarm,
    tasks: &TaskTracker,
    stop: CancellationToken,
) {
    let Some(mut events) = events.take_receiver() else {
        return;
    };
    tasks.spawn(async move {
        let last = reader.current().shop.archives.iter().last().cloned();
        if let Some(last) = last {
            let snapshot_older = raft
                .metrics()
                .borrow()
                .snapshot
                .is_none_or(|s| s.index < last.committed_index);
            reclaim(&reader, &raft, last.range(), snapshot_older, &stop).await;
        }
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                event = events.recv() => event,
            };
            match event {
                None => return,
                Some(ArchiveEvent::Removed(range)) => {
                    reclaim(&reader, &raft, range, true, &stop).await
                }
                Some(ArchiveEvent::Refused { index, why }) => {
                    report_divergence(&reader, &alarm, index, why, &stop).await
                }
            }
        }
    });
}

/// Compacts the archived range, then has a snapshot built (the current one still holds
/// the archived orders, and the log behind it is purged only after a new one).
async fn reclaim(
    reader: &StateReader,
    raft: &Raft,
    range: ArchivedRange,
    then_snapshot: bool,
    stop: &CancellationToken,
) {
    let db = reader.current().db.clone();
    tracing::info!(
        from = range.from,
        upto = range.upto,
        "reclaiming archived orders' space"
    );
    match reclaim_archived(db, range.from, range.upto, stop.clone()).await {
        Ok(r) => tracing::info!(
            from = range.from,
            upto = range.upto,
            slices = r.slices,
            took_ms = r.took.as_millis() as u64,
            interrupted = r.interrupted,
            "archived orders' space reclaimed"
        ),
        Err(e) => tracing::warn!(cause = %e, "reclaiming archived orders' space failed"),
    }
    if then_snapshot && !stop.is_cancelled() {
        if let Err(e) = raft.trigger().snapshot().await {
            tracing::warn!(cause = %e, "could not trigger a snapshot after an archive");
        }
    }
}

/// Asks for the `corrupt` alarm for this node until its view holds it: this replica
/// refused an archive commit the leader had checked against its own orders.
async fn report_divergence(
    reader: &StateReader,
    alarm: &SpaceAlarm,
    index: u64,
    why: String,
    stop: &CancellationToken,
) {
    let detail = format!("refused the archive commit at index {index}: {why}");
    tracing::error!(node = alarm.my_id, index, %why, "this replica's orders differ from an archive the leader checked");
    while !reader
        .current()
        .shop
        .alarms
        .contains(AlarmKind::Corrupt, alarm.my_id)
    {
        alarm.ask_leader(AlarmKind::Corrupt, detail.clone()).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ASK_AGAIN_AFTER) => {}
        }
    }
}

/// What the leader does about the `archive_due` warning, given the orders held and the
/// limit (0: none) and whether the warning is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DueAction {
    Raise,
    End,
    Nothing,
}

fn due_action(held: u64, keep: u64, active: bool) -> DueAction {
    let due = keep != 0 && held > keep;
    match (due, active) {
        (true, false) => DueAction::Raise,
        (false, true) => DueAction::End,
        _ => DueAction::Nothing,
    }
}

/// On the leader, every `POLICY_EVERY` (10 s) until `stop`: raises the warn-only `archive_due`
/// alarm (member 0: the cluster) while more than `keep` orders are held, and ends it once
/// an archive brings them back under (or the limit is lifted).
pub fn spawn_archive_due_duty(
    archiver: Archiver,
    keep: u64,
    tasks: &TaskTracker,
    stop: CancellationToken,
) {
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(POLICY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            if !Leadership::of(&archiver.raft).is_leader {
                continue;
            }
            let view = archiver.reader.current();
            let held = view
                .shop
                .orders_created()
                .saturating_sub(view.shop.archived_upto());
            let active = view.shop.alarms.any(AlarmKind::ArchiveDue);
            let command = match due_action(held, keep, active) {
                DueAction::Nothing => continue,
                DueAction::Raise => Command::RaiseAlarm(AlarmRecord {
                    kind: AlarmKind::ArchiveDue,
                    member: 0,
                    raised_at: 0,
                    detail: format!(
                        "the hot state holds {held} orders, more than archive.keep_recent_orders \
                         ({keep}): `bazaar archive save --upto {} FILE`, keep the file safe, then \
                         `bazaar archive commit FILE`",
                        view.shop.orders_created().saturating_sub(keep)
                    ),
                }),
                DueAction::End => Command::DisarmAlarms {
                    kind: Some(AlarmKind::ArchiveDue),
                },
            };
            if let Err(e) = archiver.proposer.propose(command).await {
                tracing::debug!(cause = %e, "the archive_due warning is not updated yet");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_follows_the_orders_held_and_the_limit() {
        assert_eq!(due_action(101, 100, false), DueAction::Raise);
        assert_eq!(due_action(101, 100, true), DueAction::Nothing);
        assert_eq!(due_action(100, 100, false), DueAction::Nothing);
        assert_eq!(due_action(100, 100, true), DueAction::End);
        assert_eq!(due_action(5_000_000, 0, false), DueAction::Nothing, "off");
        assert_eq!(due_action(5_000_000, 0, true), DueAction::End, "lifted");
    }
}
