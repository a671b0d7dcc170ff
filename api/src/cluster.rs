//! Cluster status bodies: a node's `GET /cluster`, the frontend's `GET /cluster` (the same
//! plus its cache and feed) and `GET /cluster/nodes` (every node probed), and the bodies
//! of membership changes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::alarm::AlarmView;

/// A node's Raft role as it reports it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
    /// The node's storage failed: it serves no writes or linearizable reads and is about
    /// to exit (fail-stop).
    Failed,
}

/// One member of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct MemberInfo {
    pub id: u64,
    pub api: String,
    pub raft: String,
    /// False for learners.
    pub voter: bool,
    /// The member's build (`0.1.0 (commit ...)`), once this node has asked it.
    #[serde(default)]
    pub version: Option<String>,
}

/// A node's view of the cluster (`GET /cluster` on a node).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ClusterInfo {
    /// `cluster_name` from the cluster file: tells this cluster's nodes from strangers.
    #[serde(default)]
    pub cluster_name: String,
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
    /// The cluster's active alarms, as this node has applied them.
    #[serde(default)]
    pub alarms: Vec<AlarmView>,
    /// Orders up to this number were archived out of the hot state (0: none).
    #[serde(default)]
    pub archived_upto: u64,
    /// The archive commits applied, oldest first.
    #[serde(default)]
    pub archives: Vec<crate::archive::ArchiveView>,
}

/// `GET /cluster` as either process answers it: the answering node's view, plus the
/// frontend's own state when a frontend answered.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ClusterAnswer {
    #[serde(flatten)]
    pub cluster: ClusterInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontend: Option<FrontendStatus>,
}

/// A frontend's cache, feed and routing state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct FrontendStatus {
    pub cache_enabled: bool,
    /// Whether lookups may be answered from the cache right now.
    pub cache_serving: bool,
    pub cache_size: usize,
    pub cache_capacity: usize,
    pub hits: u64,
    pub misses: u64,
    /// Hits over hits plus misses; 0 before the first lookup.
    pub hit_ratio: f64,
    pub fills_refused: u64,
    pub singleflight_shared: u64,
    /// The node writes are sent to, as `host:port`.
    pub leader_hint: Option<String>,
    pub feed: FeedStatus,
}

/// Where the change feed stands.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FeedPhase {
    /// The cache is disabled, so nothing follows the feed.
    Off,
    /// Connected and caught up within the staleness bound.
    Synced,
    /// Connected, replaying changes.
    Syncing,
    Down,
}

/// The change feed as the frontend reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct FeedStatus {
    pub state: FeedPhase,
    /// The node serving the feed.
    pub node: Option<u64>,
    pub last_index: u64,
    /// How far the serving node's applied index is ahead of what the cache has seen.
    pub lag_entries: u64,
    /// Milliseconds since the feed was last caught up; `None` if it never was.
    pub age_ms: Option<u64>,
    pub staleness_bound_ms: u64,
    /// Whether lookups may be answered from the cache right now.
    pub cache_serving: bool,
    /// The highest archived order number the feed has announced (0: none seen).
    #[serde(default)]
    pub archived_upto: u64,
}

/// A node's role as a prober sees it: its own answer, or `down` when it gave none.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbedRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
    /// The node answered, but its storage failed and it is about to exit.
    Failed,
    Down,
}

impl From<NodeRole> for ProbedRole {
    fn from(r: NodeRole) -> Self {
        match r {
            NodeRole::Leader => ProbedRole::Leader,
            NodeRole::Follower => ProbedRole::Follower,
            NodeRole::Candidate => ProbedRole::Candidate,
            NodeRole::Learner => ProbedRole::Learner,
            NodeRole::Shutdown => ProbedRole::Shutdown,
            NodeRole::Failed => ProbedRole::Failed,
        }
    }
}

/// One node in `GET /cluster/nodes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct NodeProbe {
    pub id: u64,
    /// `host:port` of the node's API.
    pub api: String,
    pub role: ProbedRole,
    pub up: bool,
    pub term: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// The leader this node believes in.
    pub leader: Option<u64>,
    /// Why a down node counts as down.
    pub error: Option<String>,
}

/// `GET /cluster/nodes` on the frontend.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct NodesOverview {
    pub nodes: Vec<NodeProbe>,
    /// The node that calls itself leader at the highest term: a deposed leader cut off
    /// from the others may still call itself leader, at an older term.
    pub leader: Option<u64>,
    pub term: Option<u64>,
    pub frontend: FrontendStatus,
}

impl NodesOverview {
    /// The self-declared leader with the highest term, and the highest term seen.
    pub fn current_leader(nodes: &[NodeProbe]) -> (Option<u64>, Option<u64>) {
        let leader = nodes
            .iter()
            .filter(|n| n.role == ProbedRole::Leader)
            .max_by_key(|n| n.term);
        let term = nodes.iter().filter_map(|n| n.term).max();
        (leader.map(|n| n.id), term)
    }
}

/// `GET /version` on every process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct VersionInfo {
    /// The crate version, e.g. `0.1.0`.
    pub version: String,
    /// The git commit the binary was built from (`unknown` outside a git checkout).
    pub commit: String,
    /// What this build's log entries can carry beyond the first release's, so a leader
    /// proposes a new kind of entry only once every member can apply it (a node stops on
    /// an entry it cannot decode). Older builds send none.
    #[serde(default)]
    pub features: Vec<String>,
}

/// The feature of builds that apply archive commits (`Command::ArchiveOrders`).
pub const FEATURE_ARCHIVE: &str = "archive";

impl VersionInfo {
    /// The one-line form: `0.1.0 (commit 1a2b3c4d5e6f)`.
    pub fn line(&self) -> String {
        format!("{} (commit {})", self.version, self.commit)
    }
}

/// `/readyz` when ready; when not, a 503 envelope with reason `not_ready` says why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// Why not, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub leader: Option<u64>,
}

/// `GET /livez` on a node: the process is up and serving HTTP (always 200 while it is).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct NodeLiveness {
    /// Always `serving`.
    pub status: String,
    /// This node's id.
    pub id: u64,
}

/// `GET /livez` on a frontend: the process is up and serving HTTP, and what its cache and
/// change feed are doing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct FrontendLiveness {
    /// Always `serving`.
    pub status: String,
    /// Always `frontend`.
    pub role: String,
    /// Whether lookups may be answered from the cache right now.
    pub cache_serving: bool,
    pub feed: FeedPhase,
}

/// `POST /admin/membership/learners`: add a node as a learner.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipChange {
    pub id: u64,
    pub api: String,
    pub raft: String,
    /// The leader makes it a voter once it is within `raft.ready_max_lag_entries` of the
    /// leader's log (`bazaar member add --promote`). Left out when false, so a request
    /// without it reads the same on a node that predates it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote: bool,
}

/// `POST /admin/membership/promote` and `/remove`: which member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberId {
    pub id: u64,
}

/// One member as the leader sees it (`GET /cluster/members`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct MemberStatus {
    pub id: u64,
    pub api: String,
    pub raft: String,
    pub voter: bool,
    /// The last log index the leader knows this member holds (the leader's own last
    /// index for itself); `None` when the answering node is not the leader.
    pub matched_index: Option<u64>,
    /// How many entries it is behind the leader's last index.
    pub lag: Option<u64>,
    pub version: Option<String>,
}

/// `GET /cluster/members`: the membership with replication progress when the answering
/// node leads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct MembersView {
    /// The node that answered.
    pub answered_by: u64,
    pub leader: Option<u64>,
    /// The leader's API address, to ask it for progress.
    pub leader_api: Option<String>,
    /// The answering leader's last log index.
    pub last_log_index: u64,
    pub members: Vec<MemberStatus>,
}

/// `POST /admin/leader/transfer`: hand leadership to `to`, or to the most up-to-date voter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    #[serde(default)]
    pub to: Option<u64>,
}

/// What a leadership transfer did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct TransferOutcome {
    pub from: u64,
    pub to: u64,
    pub term: u64,
    /// From the writes pausing to the new leader being known here.
    pub took_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(id: u64, role: ProbedRole, term: Option<u64>) -> NodeProbe {
        NodeProbe {
            id,
            api: format!("127.0.0.1:900{id}"),
            role,
            up: role != ProbedRole::Down,
            term,
            commit_index: term.map(|_| 10),
            applied_index: term.map(|_| 10),
            leader: None,
            error: None,
        }
    }

    #[test]
    fn a_deposed_leader_at_an_older_term_is_not_the_leader() {
        let nodes = [
            probe(1, ProbedRole::Leader, Some(3)),
            probe(2, ProbedRole::Leader, Some(4)),
            probe(3, ProbedRole::Follower, Some(4)),
            probe(4, ProbedRole::Down, None),
        ];
        assert_eq!(NodesOverview::current_leader(&nodes), (Some(2), Some(4)));
        let no_leader = [
            probe(1, ProbedRole::Candidate, Some(5)),
            probe(2, ProbedRole::Follower, Some(4)),
        ];
        assert_eq!(NodesOverview::current_leader(&no_leader), (None, Some(5)));
    }

    #[test]
    fn roles_are_lowercase_strings() {
        assert_eq!(
            serde_json::to_string(&ProbedRole::Down).unwrap(),
            "\"down\""
        );
        assert_eq!(
            serde_json::to_string(&FeedPhase::Synced).unwrap(),
            "\"synced\""
        );
    }
}
