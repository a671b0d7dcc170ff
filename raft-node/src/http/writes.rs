//! `POST /orders`: validated here, decided by the state machine, deduplicated by request id.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::error::HttpError;
use super::respond::{json_body, ok};
use super::state::AppState;
use crate::api::{ApiError, ErrorKind, OrderRequest, IDEMPOTENCY_HEADER, MAX_IDEMPOTENCY_KEY_LEN};
use crate::shop::{Command, CommandResult, OrderRejection};

/// The client's idempotency key, or a fresh one when it sent none.
pub fn request_id(headers: &HeaderMap) -> Result<String, HttpError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(uuid::Uuid::new_v4().to_string());
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::bad_request("Idempotency-Key must be printable ASCII"))?;
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN || key.chars().any(|c| c.is_control())
    {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} printable characters"
        ))
        .into());
    }
    Ok(key.to_owned())
}

pub async fn place_order(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let order: OrderRequest = json_body(body)?;
    order.validate().map_err(ApiError::bad_request)?;
    let request_id = request_id(&headers)?;
    let result = s
        .proposer
        .propose(Command::PlaceOrder {
            request_id,
            product: order.name.clone(),
            quantity: order.quantity,
        })
        .await?;
    match result {
        CommandResult::Order(Ok(record)) => Ok(ok(record.view(), record.index)),
        CommandResult::Order(Err(rejection)) => Err(order_rejection(&order, rejection).into()),
        other => {
            tracing::error!(result = ?other, "order produced a non-order result");
            Err(ApiError::new(ErrorKind::Internal, "unexpected result").into())
        }
    }
}

fn order_rejection(order: &OrderRequest, rejection: OrderRejection) -> ApiError {
    match rejection {
        OrderRejection::UnknownProduct => {
            ApiError::not_found(format!("unknown product {:?}", order.name))
        }
        OrderRejection::InsufficientStock { available } => ApiError::conflict(format!(
            "insufficient stock for {:?}: {available} available, {} requested",
            order.name, order.quantity
        )),
        OrderRejection::BadQuantity => ApiError::bad_request("bad quantity"),
        OrderRejection::KeyReused => ApiError::new(
            ErrorKind::UnprocessableEntity,
            "Idempotency-Key was already used for a different order",
        ),
    }
}
