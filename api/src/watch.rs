//! The change feed (`GET /watch?from=INDEX`): newline-delimited JSON messages that tell a
//! cache which keys changed at which log index.

use serde::{Deserialize, Serialize};

/// Keys changed by one applied log entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChangeEvent {
    pub index: u64,
    /// Product names whose value changed.
    pub products: Vec<String>,
    /// Topics whose search result changed.
    pub topics: Vec<String>,
}

/// One line of the feed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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
