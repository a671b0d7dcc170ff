//! Bodies of the peer RPCs that are Bazaar's own (openraft's own messages are defined by
//! openraft and stay in the node): the read index a follower asks the leader for. Peer
//! bodies travel as bincode through the node's codec.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::leader::LeaderHint;

/// Paths on a node's `raft` listener.
pub mod paths {
    pub const APPEND: &str = "/raft/append";
    pub const VOTE: &str = "/raft/vote";
    pub const SNAPSHOT: &str = "/raft/snapshot";
    pub const READ_INDEX: &str = "/raft/read-index";
    pub const CAMPAIGN: &str = "/raft/campaign";
    /// A member asks the leader to raise an alarm (`RaiseAlarmRequest`).
    pub const ALARM: &str = "/raft/alarm";
    /// A member's disk figures (`SpaceReport`), asked by a leader before a disarm.
    pub const SPACE: &str = "/raft/space";
    /// A member's state check at one index (`StateCheckReport`), asked by the leader.
    pub const STATE_CHECK: &str = "/raft/state-check";
    /// A member's digest of a range of orders (`ArchiveDigestRequest`), asked by the leader
    /// before it proposes an archive commit of that range.
    pub const ARCHIVE_DIGEST: &str = "/raft/archive-digest";
}

/// `POST /raft/archive-digest`: the leader, about to propose the archive commit of orders
/// `from..=upto`, has each member read its own copy of the range ahead of the commit, at
/// low priority, so that applying the commit compares a digest already known instead of
/// reading the range while it holds the member's applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveDigestRequest {
    pub from: u64,
    pub upto: u64,
}

/// The member's digest of the range (its text form), or why it has none: it has not
/// applied every order of the range yet, or they are archived already.
pub type ArchiveDigestReply = Result<String, String>;

/// `POST /raft/campaign`: the leader `from`, in `term`, hands leadership over; the target
/// campaigns only while it still follows that leader in that term, so a late request
/// cannot start a needless election.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// A member's state at one `CheckState` entry, as the leader compares it: replicas that
/// applied the same entries hold the same digest and content sum there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateCheckReport {
    pub member: u64,
    pub index: u64,
    /// The rolling state digest (hex).
    pub digest: String,
    /// The sum of the stored product, order and alarm records, and how many there are.
    pub content_sum: u64,
    pub content_records: u64,
    /// Whether the member has scanned its disk since the entry; what it found wrong.
    pub disk_scanned: bool,
    pub disk_damage: Option<String>,
}

impl StateCheckReport {
    /// What replicas must agree on.
    pub fn fingerprint(&self) -> (String, u64, u64) {
        (self.digest.clone(), self.content_sum, self.content_records)
    }
}
