//! What every `api` handler can reach, and the read barrier that makes reads linearizable.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use super::error::HttpError;
use crate::api::ApiError;
use crate::feed::ChangeFeed;
use crate::metrics::HttpMetrics;
use crate::proposer::Proposer;
use crate::read_index::ReadIndexer;
use crate::store::StateReader;
use crate::types::{NodeId, Raft};

#[derive(Clone)]
pub struct AppState {
    pub id: NodeId,
    pub raft: Raft,
    pub reader: StateReader,
    pub proposer: Proposer,
    pub reads: ReadIndexer,
    pub feed: ChangeFeed,
    pub metrics: Arc<HttpMetrics>,
    pub token: Arc<str>,
    /// Highest commit index openraft has saved on this node.
    pub committed: Arc<AtomicU64>,
    pub read_deadline: Duration,
    /// Flips to true when the node shuts down; long-lived streams end on it.
    pub shutdown: watch::Receiver<bool>,
}

/// `?consistency=` on reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Read index from the leader, wait until applied, then read locally (the default).
    #[default]
    Linearizable,
    /// This node's applied state as it is.
    Stale,
}

impl AppState {
    /// Returns once a read that arrived before this call may be answered from local state.
    pub async fn read_barrier(&self, consistency: Consistency) -> Result<(), HttpError> {
        if consistency == Consistency::Stale {
            return Ok(());
        }
        let index = self.reads.read_index().await?;
        if self.reader.applied_index() >= index {
            return Ok(());
        }
        self.raft
            .wait(Some(self.read_deadline))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map_err(|e| {
                HttpError(ApiError::unavailable(format!(
                    "this node has not applied index {index} yet: {e}"
                )))
            })?;
        Ok(())
    }
}
