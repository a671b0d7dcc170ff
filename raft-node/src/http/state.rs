//! What every `api` handler can reach, and the read barrier that makes reads linearizable.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bazaar_api::{AlarmKind, ApiError, Consistency, Reason};
use bazaar_service::{Admission, ErrorResponse, Metrics};
use tokio_util::sync::CancellationToken;

use super::error::read_index_error;
use super::watch_slots::WatchSlots;
use crate::archive::Archiver;
use crate::feed::ChangeFeed;
use crate::members::Members;
use crate::metrics::NodeStatus;
use crate::promotion::Promotions;
use crate::proposer::Proposer;
use crate::read_index::ReadIndexer;
use crate::space_alarm::SpaceAlarm;
use crate::store::{AppliedView, StateReader};
use crate::transfer::LeaderTransfer;
use crate::types::Raft;

pub struct AppState {
    /// This node's id, Raft handle and applied view, as `/cluster` reports them.
    pub status: NodeStatus,
    pub raft: Raft,
    pub reader: StateReader,
    pub proposer: Proposer,
    pub reads: ReadIndexer,
    pub feed: ChangeFeed,
    /// The cap on concurrent `/watch` streams.
    pub watch_slots: WatchSlots,
    pub metrics: Arc<Metrics>,
    /// The bearer token of the admin routes.
    pub admin_token: Arc<str>,
    pub read_deadline: Duration,
    /// Cancelled when the node shuts down; long-lived streams end on it.
    pub shutdown: CancellationToken,
    pub members: Members,
    /// The bounds on requests in flight per class (`[limits.node]`): beyond them, 503
    /// `overloaded` at once.
    pub admission: Admission,
    /// Learners added with `promote`, watched until they vote.
    pub promotions: Promotions,
    pub transfer: LeaderTransfer,
    /// Where backups are dumped before they are sent.
    pub backup_dir: PathBuf,
    /// The `nospace` alarm's disarm, and this node's space figures.
    pub alarm: SpaceAlarm,
    /// Archive commits (on the leader).
    pub archiver: Archiver,
}

impl AppState {
    /// 503 `corrupt` while the cluster's `corrupt` alarm names this node.
    pub fn refuse_if_corrupt(&self) -> Result<(), ApiError> {
        let view = self.reader.current();
        let alarm = view
            .shop
            .alarms
            .records()
            .find(|a| a.kind == AlarmKind::Corrupt && a.member == self.status.id)
            .cloned();
        match alarm {
            None => Ok(()),
            Some(alarm) => Err(ApiError::new(
                Reason::Corrupt,
                format!(
                    "this node's state differs from the cluster's ({}); it serves no reads \
                     until it is replaced; other nodes answer",
                    alarm.detail
                ),
            )),
        }
    }

    /// Returns a view that a read which arrived before this call may be answered from:
    /// linearizable unless `consistency` is stale.
    pub async fn read_view(
        &self,
        consistency: Consistency,
    ) -> Result<Arc<AppliedView>, ErrorResponse> {
        // A member the state check named holds another state than the others: it answers
        // no read at all, stale ones included.
        self.refuse_if_corrupt()?;
        if consistency == Consistency::Stale {
            return Ok(self.reader.current());
        }
        // A node whose storage failed may hold less than it acknowledged to the leader
        // before it stopped: it confirms no read (stale reads say what they are).
        if let Err(failed) = self.status.health.check() {
            return Err(ApiError::new(Reason::StorageFailed, failed.to_string()).into());
        }
        let index = self.reads.read_index().await.map_err(read_index_error)?;
        let view = self.reader.current();
        if view.applied_index() >= index {
            return Ok(view);
        }
        self.raft
            .wait(Some(self.read_deadline))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map_err(|e| {
                ApiError::unavailable(format!("this node has not applied index {index} yet: {e}"))
            })?;
        Ok(self.reader.current())
    }
}
