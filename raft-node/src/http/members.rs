//! Membership and leadership routes: `GET /cluster/members`, the admin routes that add,
//! promote and remove members, and `POST /admin/leader/transfer`. Changes are audited.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use bazaar_api::{ApiError, MemberId, MembershipChange, Reason, TransferRequest};
use bazaar_service::respond::{body, json_body, ok};
use bazaar_service::ErrorResponse;

use super::audit::Audit;
use super::state::AppState;
use crate::members::MemberError;
use crate::transfer::TransferError;
use crate::types::NodeAddr;

pub fn member_error(e: MemberError) -> ErrorResponse {
    let reason = match &e {
        MemberError::NotLeader(hint) => return ApiError::not_leader(hint.clone()).into(),
        MemberError::ZeroId => Reason::BadRequest,
        MemberError::Unknown(_) => Reason::UnknownMember,
        MemberError::Fatal(_) => Reason::Unavailable,
        MemberError::AlreadyMember(_)
        | MemberError::AddressInUse { .. }
        | MemberError::AlreadyVoter(_)
        | MemberError::Lagging { .. }
        | MemberError::LastVoter(_)
        | MemberError::NoQuorum { .. }
        | MemberError::Refused(_) => Reason::Conflict,
    };
    ApiError::new(reason, e.to_string()).into()
}

pub fn transfer_error(e: TransferError) -> ErrorResponse {
    let reason = match &e {
        TransferError::NotLeader(hint) => return ApiError::not_leader(hint.clone()).into(),
        TransferError::Unknown(_) => Reason::UnknownMember,
        TransferError::Campaign { .. } | TransferError::NoNewLeader(_) => Reason::Unavailable,
        TransferError::Busy
        | TransferError::AlreadyLeads(_)
        | TransferError::NotAVoter(_)
        | TransferError::Unreachable(_)
        | TransferError::Lagging { .. }
        | TransferError::NoCandidate
        | TransferError::CatchUpTimedOut { .. } => Reason::Conflict,
    };
    ApiError::new(reason, e.to_string()).into()
}

/// `GET /cluster/members`: every member; with match index and lag when this node leads.
pub async fn list(State(s): State<Arc<AppState>>) -> Response {
    let view = s.members.list();
    ok(&view, view.last_log_index)
}

/// The members in one line, for the audit trail.
fn roster(s: &AppState) -> String {
    s.members
        .list()
        .members
        .iter()
        .map(|m| format!("{}{}", m.id, if m.voter { "" } else { "(learner)" }))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs a membership change, audits it and answers with the members after it.
async fn change(
    s: &AppState,
    audit: &Audit,
    subject: String,
    result: impl std::future::Future<Output = Result<u64, MemberError>>,
) -> Result<Response, ErrorResponse> {
    let old = roster(s);
    let result = result.await;
    let outcome = match &result {
        Ok(_) => "applied".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    audit.record(&subject, &old, &roster(s), &outcome);
    let index = result.map_err(member_error)?;
    Ok(ok(&s.members.list(), index))
}

/// `POST /admin/membership/learners`: adds a learner; it catches up in the background.
pub async fn add_learner(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let c: MembershipChange = json_body(raw)?;
    for (field, value) in [("api", &c.api), ("raft", &c.raft)] {
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(format!("`{field}` must be host:port")).into());
        }
    }
    let addr = NodeAddr {
        api: c.api,
        raft: c.raft,
    };
    let subject = match c.promote {
        true => format!("member {} ({addr}), to be promoted once caught up", c.id),
        false => format!("member {} ({addr})", c.id),
    };
    let added = async {
        let index = s.members.add_learner(c.id, addr).await?;
        if c.promote {
            s.promotions.watch(s.members.clone(), c.id);
        }
        Ok(index)
    };
    change(&s, &audit, subject, added).await
}

/// `POST /admin/membership/promote`: a caught-up learner becomes a voter.
pub async fn promote(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let m: MemberId = json_body(raw)?;
    let subject = format!("member {}", m.id);
    change(&s, &audit, subject, s.members.promote(m.id)).await
}

/// `POST /admin/membership/remove`: the member leaves the cluster, voter or learner.
pub async fn remove(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let m: MemberId = json_body(raw)?;
    let subject = format!("member {}", m.id);
    change(&s, &audit, subject, s.members.remove(m.id)).await
}

/// `POST /admin/leader/transfer`: an empty body picks the most up-to-date voter.
pub async fn transfer(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let bytes = body(raw)?;
    let req: TransferRequest = if bytes.iter().all(u8::is_ascii_whitespace) {
        TransferRequest::default()
    } else {
        json_body(Ok(bytes))?
    };
    let subject = match req.to {
        Some(id) => format!("leadership to {id}"),
        None => "leadership to the best voter".to_string(),
    };
    let old = format!("leader {}", s.status.id);
    let result = s.transfer.transfer(req.to).await;
    match &result {
        Ok(o) => audit.record(&subject, &old, &format!("leader {}", o.to), "applied"),
        Err(e) => audit.record(&subject, &old, &old, &format!("refused: {e}")),
    }
    let outcome = result.map_err(transfer_error)?;
    Ok(ok(&outcome, s.reader.applied_index()))
}
