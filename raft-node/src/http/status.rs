//! `/cluster`, `/health` and `/metrics`.

use std::sync::Arc;

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use openraft::ServerState;

use super::respond::ok;
use super::state::AppState;
use crate::api::{ClusterInfo, MemberInfo, NodeRole};

pub fn cluster_info(s: &AppState) -> ClusterInfo {
    let (applied, orders, digest) = s.reader.with(|st| {
        (
            st.applied_index(),
            st.shop.orders_created(),
            st.shop.digest.hex(),
        )
    });
    let m = s.raft.metrics();
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
        })
        .collect();
    let role = match m.state {
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
        id: s.id,
        role,
        leader: m.current_leader,
        leader_api,
        term: m.current_term,
        commit_index: s.committed.load(Ordering::Relaxed).max(applied),
        applied_index: applied,
        last_log_index: m.last_log_index.unwrap_or(0),
        snapshot_index: m.snapshot.map(|l| l.index).unwrap_or(0),
        purged_index: m.purged.map(|l| l.index).unwrap_or(0),
        members,
        orders,
        state_digest: digest,
    }
}

pub async fn cluster(State(s): State<Arc<AppState>>) -> Response {
    let info = cluster_info(&s);
    let index = info.applied_index;
    ok(info, index)
}

pub async fn health(State(s): State<Arc<AppState>>) -> Response {
    let index = s.reader.applied_index();
    ok(serde_json::json!({"status": "ok", "id": s.id}), index)
}

pub async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let info = cluster_info(&s);
    let mut out = String::with_capacity(8 * 1024);
    let gauges = [
        ("bazaar_raft_term", "Current Raft term.", info.term),
        (
            "bazaar_raft_leader",
            "Id of the known leader (0: none).",
            info.leader.unwrap_or(0),
        ),
        (
            "bazaar_raft_is_leader",
            "1 if this node is the leader.",
            u64::from(info.role == NodeRole::Leader),
        ),
        (
            "bazaar_raft_commit_index",
            "Highest committed log index known here.",
            info.commit_index,
        ),
        (
            "bazaar_raft_applied_index",
            "Last applied log index.",
            info.applied_index,
        ),
        (
            "bazaar_raft_last_log_index",
            "Last log index on this node.",
            info.last_log_index,
        ),
        (
            "bazaar_raft_snapshot_index",
            "Last log index in the current snapshot.",
            info.snapshot_index,
        ),
        (
            "bazaar_raft_purged_index",
            "Last purged log index.",
            info.purged_index,
        ),
        ("bazaar_orders_total", "Orders created.", info.orders),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{node=\"{}\"}} {value}",
            s.id
        );
    }
    s.metrics.render(&mut out);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
