//! The `raft` listener's routes (the server side of peer RPC; `net` is the client side):
//! openraft's RPCs from peers, read-index requests from followers, campaign requests from a
//! leader handing over, the alarms' requests (raise one; report this node's space) and the
//! leader's state checks, all behind the bearer token, with a body limit large enough for
//! AppendEntries batches and snapshot chunks. It sits beside `http`, above the modules it
//! serves, so none of them imports it back.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::Router;
use bazaar_api::peer::{paths, ArchiveDigestReply, ArchiveDigestRequest, CampaignRequest};
use bazaar_api::RaiseAlarmRequest;
use bazaar_service::auth::require_token;
use bazaar_service::{standard_layers, HttpMetrics, Limits, RouteTable};
use openraft::error::RaftError;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::Serialize;

use crate::codec::{decode, encode};
use crate::fail_stop::{StorageHealth, StoragePart};
use crate::read_index::ReadIndexer;
use crate::space_alarm::SpaceAlarm;
use crate::store::{prepare_digest, StateChecks, StateReader};
use crate::types::{NodeId, Raft, TypeConfig};

/// Above openraft's 3 MiB snapshot chunk and a full AppendEntries batch.
const RAFT_BODY_LIMIT: usize = 64 * 1024 * 1024;
/// Above openraft's own RPC timeouts (the snapshot install timeout is the longest).
const RAFT_ROUTE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the peer routes act on.
#[derive(Clone)]
pub struct RaftRpc {
    pub raft: Raft,
    pub reads: ReadIndexer,
    pub health: StorageHealth,
    pub alarm: SpaceAlarm,
    pub checks: StateChecks,
    /// This replica's applied state, for a member's digest ahead of an archive commit.
    pub reader: StateReader,
}

impl RaftRpc {
    /// A fatal answer is this node's storage failure: openraft writes a received snapshot's
    /// chunks itself, and a write that fails there reaches no store of ours, only this
    /// answer (without it the node would go on refusing every snapshot while looking ready).
    fn check<T, E>(&self, part: StoragePart, answer: &Result<T, RaftError<NodeId, E>>) {
        if let Err(RaftError::Fatal(fatal)) = answer {
            self.health.record(part, fatal);
        }
    }
}

/// The peer routes of the `raft` listener, behind the peer token. Built without a state,
/// so a test can list them.
pub fn raft_table(token: Arc<str>) -> RouteTable<RaftRpc> {
    RouteTable::new()
        .post(paths::APPEND, append)
        .post(paths::VOTE, vote)
        .post(paths::SNAPSHOT, snapshot)
        .post(paths::READ_INDEX, read_index)
        .post(paths::CAMPAIGN, campaign)
        .post(paths::ALARM, raise_alarm)
        .post(paths::SPACE, space)
        .post(paths::STATE_CHECK, state_check)
        .post(paths::ARCHIVE_DIGEST, archive_digest)
        .map_router(|r| r.layer(middleware::from_fn_with_state(token, require_token)))
}

pub fn raft_router(rpc: RaftRpc, token: Arc<str>, metrics: &HttpMetrics) -> Router {
    let router = raft_table(token).into_router().with_state(rpc);
    standard_layers(
        router,
        metrics,
        Limits {
            body_bytes: RAFT_BODY_LIMIT,
            timeout: RAFT_ROUTE_TIMEOUT,
        },
    )
}

fn bincode_answer<T: Serialize>(value: &T) -> Response {
    match encode(value) {
        Ok(bytes) => bytes.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn bad_body(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("undecodable body: {e}")).into_response()
}

async fn append(State(s): State<RaftRpc>, body: Bytes) -> Response {
    match decode::<AppendEntriesRequest<TypeConfig>>(&body) {
        Ok(req) => {
            let answer = s.raft.append_entries(req).await;
            s.check(StoragePart::Log, &answer);
            bincode_answer(&answer)
        }
        Err(e) => bad_body(e),
    }
}

async fn vote(State(s): State<RaftRpc>, body: Bytes) -> Response {
    match decode::<VoteRequest<NodeId>>(&body) {
        Ok(req) => {
            let answer = s.raft.vote(req).await;
            s.check(StoragePart::Vote, &answer);
            bincode_answer(&answer)
        }
        Err(e) => bad_body(e),
    }
}

async fn snapshot(State(s): State<RaftRpc>, body: Bytes) -> Response {
    match decode::<InstallSnapshotRequest<TypeConfig>>(&body) {
        Ok(req) => {
            let answer = s.raft.install_snapshot(req).await;
            s.check(StoragePart::Snapshot, &answer);
            bincode_answer(&answer)
        }
        Err(e) => bad_body(e),
    }
}

async fn read_index(State(s): State<RaftRpc>) -> Response {
    bincode_answer(&s.reads.leader_read_index().await)
}

/// A leader handing leadership over asks this node to campaign.
async fn campaign(State(s): State<RaftRpc>, body: Bytes) -> Response {
    match decode::<CampaignRequest>(&body) {
        Ok(req) => bincode_answer(&crate::transfer::campaign(&s.raft, &req).await),
        Err(e) => bad_body(e),
    }
}

/// A member asks this node, as leader, to raise an alarm for it: `nospace` when it is short
/// of space, `corrupt` when its orders differ from an archive the leader checked.
async fn raise_alarm(State(s): State<RaftRpc>, body: Bytes) -> Response {
    match decode::<RaiseAlarmRequest>(&body) {
        Ok(req) => {
            let answer = s.alarm.raise(req).await;
            bincode_answer(&answer.map(|_| ()).map_err(|e| e.to_string()))
        }
        Err(e) => bad_body(e),
    }
}

/// This node's disk figures, which a leader checks before it disarms `nospace`.
async fn space(State(s): State<RaftRpc>) -> Response {
    bincode_answer(&Ok::<_, String>(s.alarm.report()))
}

/// This node's report of the state check at the index asked (none before it applied it).
async fn state_check(State(s): State<RaftRpc>, body: Bytes) -> Response {
    match decode::<u64>(&body) {
        Ok(index) => bincode_answer(&Ok::<_, String>(s.checks.report(s.alarm.my_id, index))),
        Err(e) => bad_body(e),
    }
}

/// The leader, about to propose the archive commit of a range, has this member read its own
/// copy of it now, at low priority, so the commit's apply finds the digest known.
async fn archive_digest(State(s): State<RaftRpc>, body: Bytes) -> Response {
    match decode::<ArchiveDigestRequest>(&body) {
        Ok(req) => bincode_answer(&member_digest(&s.reader, req).await),
        Err(e) => bad_body(e),
    }
}

async fn member_digest(reader: &StateReader, req: ArchiveDigestRequest) -> ArchiveDigestReply {
    let view = reader.current();
    // Only a range this member holds whole: a digest of orders not all applied yet would
    // be remembered, and refuse a commit this member's orders in fact match.
    let (archived_upto, next_order) = (view.shop.archived_upto(), view.shop.next_order);
    if req.from <= archived_upto || req.upto < req.from || req.upto >= next_order {
        return Err(format!(
            "orders {}..={} are not all held here (archived up to {archived_upto}, next order \
             {next_order})",
            req.from, req.upto
        ));
    }
    let digest = prepare_digest(view.db.clone(), req.from, req.upto)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        from = req.from,
        upto = req.upto,
        digest = %digest,
        "read this replica's copy of orders ahead of their archive commit"
    );
    Ok(digest.hex())
}

#[cfg(test)]
mod route_tests {
    use bazaar_api::openapi::{compare_routes, node_routes, NodeListener};

    use super::*;

    /// The `raft` listener serves exactly the peer routes the node's OpenAPI document lists.
    #[test]
    fn the_raft_listener_serves_exactly_the_documented_routes() {
        let table = raft_table(Arc::from("test-token"));
        if let Err(diff) = compare_routes(table.routes(), &node_routes(NodeListener::Raft)) {
            panic!("the node's raft router and its OpenAPI document differ:\n{diff}");
        }
    }
}
