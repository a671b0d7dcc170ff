//! The node's view of itself: `GET /cluster`'s body and the node's own Prometheus series,
//! both read from openraft and the applied view when asked (nothing is kept twice).

use std::fmt;
use std::sync::Arc;

use std::time::Duration;

use bazaar_api::{AlarmKind, ClusterInfo, MemberInfo, NodeRole, Readiness};
use bazaar_service::metrics::prometheus_client::collector::Collector;
use bazaar_service::metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use bazaar_service::metrics::prometheus_client::metrics::counter::ConstCounter;
use bazaar_service::metrics::prometheus_client::metrics::gauge::ConstGauge;
use bazaar_service::metrics::prometheus_client::metrics::MetricType;
use openraft::ServerState;

use crate::disk_space::{DiskSpace, PARTS};
use crate::fail_stop::StorageHealth;
use crate::leadership::Leadership;
use crate::store::{CommitMark, StateReader};
use crate::types::{NodeId, Raft};
use crate::versions::MemberVersions;

/// Everything needed to describe this node; cheap to clone.
#[derive(Clone)]
pub struct NodeStatus {
    pub id: NodeId,
    pub cluster_name: Arc<str>,
    pub raft: Raft,
    pub reader: StateReader,
    /// Highest commit index openraft has saved on this node.
    pub committed: Arc<CommitMark>,
    pub versions: MemberVersions,
    /// A leader that has not heard from a quorum for this long is not ready.
    pub quorum_lost_after: Duration,
    /// A node whose applied index trails its commit index by more is not ready.
    pub ready_max_lag: u64,
    /// Whether this node's storage failed (then its role is `failed`).
    pub health: StorageHealth,
    /// The data dir's size and its filesystem's free space, as last measured.
    pub space: DiskSpace,
}

impl fmt::Debug for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeStatus").field("id", &self.id).finish()
    }
}

impl NodeStatus {
    /// This node's view of the cluster, as `GET /cluster` shows it.
    pub fn info(&self) -> ClusterInfo {
        let view = self.reader.current();
        let applied = view.applied_index();
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, n)| MemberInfo {
                id: *id,
                api: n.api.clone(),
                raft: n.raft.clone(),
                voter: voters.contains(id),
                version: self.versions.get(*id),
            })
            .collect();
        let role = match m.state {
            // Whatever openraft still reports: the node is about to exit.
            _ if self.health.failure().is_some() => NodeRole::Failed,
            ServerState::Leader => NodeRole::Leader,
            ServerState::Follower => NodeRole::Follower,
            ServerState::Candidate => NodeRole::Candidate,
            ServerState::Learner => NodeRole::Learner,
            ServerState::Shutdown => NodeRole::Shutdown,
        };
        let leader_api = m
            .current_leader
            .and_then(|l| membership.get_node(&l).map(|n| n.api.clone()));
        ClusterInfo {
            cluster_name: self.cluster_name.to_string(),
            id: self.id,
            role,
            leader: m.current_leader,
            leader_api,
            term: m.current_term,
            commit_index: self.committed.index().max(applied),
            applied_index: applied,
            last_log_index: m.last_log_index.unwrap_or(0),
            snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
            purged_index: m.purged.map(|l| l.index).unwrap_or(0),
            members,
            orders: view.shop.orders_created(),
            state_digest: view.shop.digest.hex(),
            alarms: view.shop.alarms.views(),
            archived_upto: view.shop.archived_upto(),
            archives: view.shop.archives.iter().map(|a| a.view()).collect(),
        }
    }

    fn millis_since_quorum_ack(&self) -> Option<u64> {
        self.raft.metrics().borrow().millis_since_quorum_ack
    }

    /// Whether this node can serve linearizable reads and writes now, and if not why.
    pub fn readiness(&self) -> Readiness {
        let info = self.info();
        let lead = Leadership::of(&self.raft);
        let reason = if info.leader.is_none() {
            Some("no leader is known".to_string())
        } else if lead.quorum_lost(self.quorum_lost_after) {
            Some(format!(
                "this leader has not heard from a quorum for {} ms",
                lead.millis_since_quorum_ack.unwrap_or(0)
            ))
        } else if info.commit_index.saturating_sub(info.applied_index) > self.ready_max_lag {
            Some(format!(
                "applied index {} is {} entries behind the commit index {} (at most {})",
                info.applied_index,
                info.commit_index - info.applied_index,
                info.commit_index,
                self.ready_max_lag
            ))
        } else {
            None
        };
        Readiness {
            ready: reason.is_none(),
            reason,
            leader: info.leader,
        }
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn as_gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The node's Raft and shop series, computed at scrape time.
impl Collector for NodeStatus {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let info = self.info();
        let e = &mut encoder;
        gauge(e, "raft_term", "Current Raft term.", as_gauge(info.term))?;
        gauge(
            e,
            "raft_is_leader",
            "1 while this node is the leader.",
            i64::from(info.role == NodeRole::Leader),
        )?;
        gauge(
            e,
            "raft_has_leader",
            "1 while this node knows a leader.",
            i64::from(info.leader.is_some()),
        )?;
        if let Some(leader) = info.leader {
            gauge(
                e,
                "raft_leader_id",
                "Id of the leader this node knows (absent while none is known).",
                as_gauge(leader),
            )?;
        }
        for (name, help, value) in [
            (
                "raft_commit_index",
                "Highest committed log index known here.",
                info.commit_index,
            ),
            (
                "raft_applied_index",
                "Last applied log index.",
                info.applied_index,
            ),
            (
                "raft_last_log_index",
                "Last log index on this node.",
                info.last_log_index,
            ),
            (
                "raft_snapshot_index",
                "Last log index in the current snapshot.",
                info.snapshot_index,
            ),
            (
                "raft_purged_index",
                "Last purged log index.",
                info.purged_index,
            ),
        ] {
            gauge(e, name, help, as_gauge(value))?;
        }
        // Scraped on the node's own runtime, so this is the count it really runs with.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            gauge(
                e,
                "runtime_worker_threads",
                "Async worker threads of this node's runtime (runtime.node_worker_threads).",
                i64::try_from(runtime.metrics().num_workers()).unwrap_or(i64::MAX),
            )?;
        }
        if let Some(ms) = self.millis_since_quorum_ack() {
            let metric = ConstGauge::new(ms as f64 / 1000.0);
            metric.encode(e.encode_descriptor(
                "raft_quorum_ack_age_seconds",
                "On the leader: time since a quorum last acknowledged it.",
                None,
                metric.metric_type(),
            )?)?;
        }
        gauge(
            e,
            "storage_failed",
            "1 once this node's storage failed (it exits shortly after: fail-stop).",
            i64::from(self.health.failure().is_some()),
        )?;
        let errors = ConstCounter::new(self.health.errors());
        errors.encode(e.encode_descriptor(
            "storage_errors",
            "Storage errors seen by this node; only the first is logged.",
            None,
            errors.metric_type(),
        )?)?;
        // Absent until measured, and while measuring fails: a stale figure would hide a
        // disk that keeps filling.
        if let Some(space) = self.space.latest() {
            let mut parts = e.encode_descriptor(
                "storage_bytes",
                "Bytes this node's data takes on disk, by part (log, state, snapshots).",
                None,
                MetricType::Gauge,
            )?;
            for (part, _) in PARTS {
                ConstGauge::new(as_gauge(space.part(part)))
                    .encode(parts.encode_family(&[("part", part)])?)?;
            }
            gauge(
                e,
                "disk_free_bytes",
                "Free bytes on the data dir's filesystem (for an unprivileged writer).",
                as_gauge(space.free_bytes),
            )?;
        }
        // Every kind, 0 when none is active, so an alert rule sees the series at once.
        {
            let mut alarms = e.encode_descriptor(
                "alarm_active",
                "Active alarms of each kind (nospace, corrupt), as this node has applied them.",
                None,
                MetricType::Gauge,
            )?;
            for kind in AlarmKind::ALL {
                let active = info.alarms.iter().filter(|a| a.kind == kind).count();
                ConstGauge::new(as_gauge(active as u64))
                    .encode(alarms.encode_family(&[("kind", kind.as_str())])?)?;
            }
        }
        gauge(
            e,
            "archived_upto",
            "Orders up to this number were archived out of the hot state (0: none).",
            as_gauge(info.archived_upto),
        )?;
        gauge(
            e,
            "orders_held",
            "Orders this node holds in its hot state (created, less archived).",
            as_gauge(info.orders.saturating_sub(info.archived_upto)),
        )?;
        let orders = ConstCounter::new(info.orders);
        orders.encode(e.encode_descriptor(
            "orders_created",
            "Orders created by the replicated state machine (as applied on this node).",
            None,
            orders.metric_type(),
        )?)?;
        Ok(())
    }
}
