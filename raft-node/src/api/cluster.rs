//! Cluster status (`GET /cluster`) and membership change bodies.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

/// One member of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub api: String,
    pub raft: String,
    /// False for learners.
    pub voter: bool,
}

/// A node's view of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterInfo {
    pub id: u64,
    pub role: NodeRole,
    pub leader: Option<u64>,
    pub leader_api: Option<String>,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_log_index: u64,
    pub snapshot_index: u64,
    pub purged_index: u64,
    pub members: Vec<MemberInfo>,
    /// Orders created so far.
    pub orders: u64,
    /// Digest of the replicated state at `applied_index`; equal on replicas at equal index.
    pub state_digest: String,
}

/// `POST /admin/membership/learners`: add a node as a learner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MembershipChange {
    pub id: u64,
    pub api: String,
    pub raft: String,
}
