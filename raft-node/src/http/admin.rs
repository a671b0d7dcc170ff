//! Admin routes (bearer token) for the catalog: changes through the log, each audited.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bazaar_api::{
    cents_to_decimal, validate_product_name, ApiError, ProductPatch, ProductSpec, Reason,
    RestockRequest,
};
use bazaar_service::respond::{json_body, ok, path};
use bazaar_service::ErrorResponse;

use super::audit::Audit;
use super::state::AppState;
use super::writes::{no_space, request_id};
use crate::shop::{Command, CommandResult, ProductRecord, ProductRejection};

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
    let result = s
        .proposer
        .propose(command)
        .await
        .map(|applied| applied.result);
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
        CommandResult::Product(Err(ProductRejection::NoSpace)) => {
            Err(no_space("new products").into())
        }
        other => {
            tracing::error!(result = ?other, "product change produced an unexpected result");
            Err(ApiError::internal("unexpected result").into())
        }
    }
}
