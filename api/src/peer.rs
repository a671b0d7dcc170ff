//! Bodies of the peer RPCs that are Bazaar's own (openraft's own messages are defined by
//! openraft and stay in the node): the read index a follower asks the leader for. Peer
//! bodies travel as bincode through the node's codec.

use serde::{Deserialize, Serialize};

use crate::leader::LeaderHint;

/// Paths on a node's `raft` listener.
pub mod paths {
    pub const APPEND: &str = "/raft/append";
    pub const VOTE: &str = "/raft/vote";
    pub const SNAPSHOT: &str = "/raft/snapshot";
    pub const READ_INDEX: &str = "/raft/read-index";
    pub const CAMPAIGN: &str = "/raft/campaign";
}

/// `POST /raft/campaign`: the leader `from`, in `term`, hands leadership over; the target
/// campaigns only while it still follows that leader in that term, so a late request
/// cannot start a needless election.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRequest {
    pub from: u64,
    pub term: u64,
}

/// Whether the target started its campaign.
pub type CampaignReply = Result<(), String>;

/// Why no read index could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ReadIndexError {
    #[error("this node is not the leader")]
    NotLeader(Option<LeaderHint>),
    #[error("no read index: {0}")]
    Unavailable(String),
    /// Too many reads are already waiting for a read index on this node.
    #[error("too many reads waiting for a read index ({0}); retry shortly")]
    Overloaded(usize),
}

/// The leader's answer to `POST /raft/read-index`.
pub type ReadIndexReply = Result<u64, ReadIndexError>;
