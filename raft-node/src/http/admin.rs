//! Admin routes (bearer token): catalog changes through the log, and membership changes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bazaar_api::{
    cents_to_decimal, validate_product_name, ApiError, MembershipChange, MembershipView,
    ProductPatch, ProductSpec, Reason, RestockRequest, Voters,
};
use bazaar_service::respond::{json_body, ok, path};
use bazaar_service::ErrorResponse;
use openraft::error::{ClientWriteError, RaftError};

use super::audit::Audit;
use super::state::AppState;
use super::writes::request_id;
use crate::leadership::hint_of;
use crate::shop::{Command, CommandResult, ProductRecord, ProductRejection};
use crate::types::{NodeAddr, NodeId};

/// A product as the audit line shows it.
fn summary(p: Option<&ProductRecord>) -> String {
    match p {
        Some(p) => format!(
            "title={:?} topic={:?} price={:.2} stock={}",
            p.title,
            p.topic,
            cents_to_decimal(p.price),
            p.stock
        ),
        None => "absent".into(),
    }
}

/// Proposes a product change, answers it, and leaves its audit line.
async fn change_product(
    s: &AppState,
    audit: &Audit,
    name: &str,
    command: Command,
) -> Result<Response, ErrorResponse> {
    let old = summary(s.reader.current().shop.products.get(name));
    let result = s.proposer.propose(command).await;
    let (new, outcome) = match &result {
        Ok(CommandResult::Product(Ok(p))) => (summary(Some(p)), "applied".to_string()),
        Ok(other) => (old.clone(), format!("refused: {other:?}")),
        Err(e) => (old.clone(), format!("not confirmed: {e}")),
    };
    audit.record(name, &old, &new, &outcome);
    product_answer(name, result?)
}

pub async fn upsert_product(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let spec: ProductSpec = json_body(body)?;
    spec.validate().map_err(ApiError::bad_request)?;
    let command = Command::UpsertProduct {
        request_id: request_id(&headers)?,
        product: ProductRecord::from_spec(&spec),
    };
    change_product(&s, &audit, &spec.name, command).await
}

pub async fn update_product(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    name: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let name = path(name)?;
    validate_product_name(&name).map_err(ApiError::bad_request)?;
    let patch: ProductPatch = json_body(body)?;
    if patch.price.is_none() && patch.quantity.is_none() {
        return Err(ApiError::bad_request("give `price` and/or `quantity`").into());
    }
    let command = Command::UpdateProduct {
        request_id: request_id(&headers)?,
        name: name.clone(),
        price: patch.price,
        stock: patch.quantity,
    };
    change_product(&s, &audit, &name, command).await
}

pub async fn restock(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let req: RestockRequest = json_body(body)?;
    validate_product_name(&req.name).map_err(ApiError::bad_request)?;
    if req.amount == 0 {
        return Err(ApiError::bad_request("amount must be above 0").into());
    }
    let command = Command::Restock {
        request_id: request_id(&headers)?,
        name: req.name.clone(),
        amount: req.amount,
    };
    change_product(&s, &audit, &req.name, command).await
}

fn product_answer(name: &str, result: CommandResult) -> Result<Response, ErrorResponse> {
    match result {
        CommandResult::Product(Ok(p)) => Ok(ok(&p.view(), p.version)),
        CommandResult::Product(Err(ProductRejection::UnknownProduct)) => {
            Err(ApiError::unknown_product(name).into())
        }
        CommandResult::Product(Err(ProductRejection::StockOverflow)) => {
            Err(ApiError::bad_request("stock would overflow").into())
        }
        CommandResult::Product(Err(ProductRejection::KeyReused)) => Err(ApiError::new(
            Reason::KeyReused,
            "Idempotency-Key was already used for a different change",
        )
        .into()),
        other => {
            tracing::error!(result = ?other, "product change produced an unexpected result");
            Err(ApiError::internal("unexpected result").into())
        }
    }
}

fn membership_error(e: RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>) -> ErrorResponse {
    ErrorResponse(match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ApiError::not_leader(hint_of(&f))
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(c)) => {
            ApiError::new(Reason::Conflict, c.to_string())
        }
        RaftError::Fatal(f) => ApiError::unavailable(f.to_string()),
    })
}

/// Adds a node as a learner and waits until it has caught up.
pub async fn add_learner(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let change: MembershipChange = json_body(body)?;
    if change.id == 0 {
        return Err(ApiError::bad_request("node ids start at 1").into());
    }
    let subject = format!("member {}", change.id);
    let node = NodeAddr {
        api: change.api,
        raft: change.raft,
    };
    let old = format!("{:?}", membership_view(&s));
    let added = s.raft.add_learner(change.id, node, true).await;
    audit_membership(&s, &audit, &subject, &old, &added);
    let resp = added.map_err(membership_error)?;
    Ok(ok(&membership_view(&s), resp.log_id.index))
}

/// The audit line of a membership change, applied or refused.
fn audit_membership<T>(
    s: &AppState,
    audit: &Audit,
    subject: &str,
    old: &str,
    outcome: &Result<T, RaftError<NodeId, ClientWriteError<NodeId, NodeAddr>>>,
) {
    let new = format!("{:?}", membership_view(s));
    let outcome = match outcome {
        Ok(_) => "applied".to_string(),
        Err(e) => format!("refused: {e}"),
    };
    audit.record(subject, old, &new, &outcome);
}

/// Replaces the voter set (joint consensus); nodes dropped from it stay as learners.
pub async fn change_voters(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let v: Voters = json_body(body)?;
    if v.voters.is_empty() {
        return Err(ApiError::bad_request("voters must not be empty").into());
    }
    let subject = format!("voters {:?}", v.voters);
    let old = format!("{:?}", membership_view(&s));
    let changed = s.raft.change_membership(v.voters, true).await;
    audit_membership(&s, &audit, &subject, &old, &changed);
    let resp = changed.map_err(membership_error)?;
    Ok(ok(&membership_view(&s), resp.log_id.index))
}

fn membership_view(s: &AppState) -> MembershipView {
    let m = s.raft.metrics();
    let m = m.borrow();
    let membership = m.membership_config.membership();
    MembershipView {
        voters: membership.voter_ids().collect(),
        nodes: membership
            .nodes()
            .map(|(id, n)| (id.to_string(), n.api.clone()))
            .collect(),
    }
}
