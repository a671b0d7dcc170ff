//! The change feed (`GET /watch?from=INDEX`): newline-delimited JSON messages that tell a
//! cache which keys changed at which log index.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Keys changed by one applied log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ChangeEvent {
    pub index: u64,
    /// Product names whose value changed.
    pub products: Vec<String>,
    /// Topics whose search result changed.
    pub topics: Vec<String>,
    /// Orders archived out of the hot state by this entry (older nodes never send it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<ArchivedRange>,
}

/// The orders an archive commit removed, `from..=upto`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ArchivedRange {
    pub from: u64,
    pub upto: u64,
}

/// One line of the feed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WatchMessage {
    Change(ChangeEvent),
    /// The node no longer holds changes back to the requested index: drop everything
    /// cached and resume from `index`.
    Reset {
        index: u64,
    },
    /// Nothing changed; the node has applied up to `index`.
    Heartbeat {
        index: u64,
    },
}
