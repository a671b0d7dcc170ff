//! `POST /orders`: validated here, decided by the state machine, deduplicated by request id.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bazaar_api::{ApiError, IdempotencyKey, OrderRequest, OrderView, Reason, IDEMPOTENCY_HEADER};
use bazaar_service::respond::{json_body, ok};
use bazaar_service::ErrorResponse;

use super::error::write_error;
use super::state::AppState;
use crate::shop::{Command, CommandResult, OrderRejection};

/// The client's idempotency key, or a fresh one when it sent none.
pub fn request_id(headers: &HeaderMap) -> Result<String, ErrorResponse> {
    match headers.get(IDEMPOTENCY_HEADER) {
        None => Ok(IdempotencyKey::generate().into_string()),
        Some(value) => IdempotencyKey::from_bytes(value.as_bytes())
            .map(IdempotencyKey::into_string)
            .map_err(|e| ErrorResponse(ApiError::bad_request(e.to_string()))),
    }
}

pub async fn place_order(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let order: OrderRequest = json_body(body)?;
    let request_id = request_id(&headers)?;
    let (view, index) = decide(&s, &order, request_id).await?;
    Ok(ok(&view, index))
}

/// One order through the log: validated, proposed under `request_id`, and the accepted
/// order with its log index, or why not. `POST /orders` and `POST /orders/batch` share it.
pub async fn decide(
    s: &AppState,
    order: &OrderRequest,
    request_id: String,
) -> Result<(OrderView, u64), ApiError> {
    order.validate().map_err(ApiError::bad_request)?;
    let result = s
        .proposer
        .propose(Command::PlaceOrder {
            request_id,
            product: order.name.clone(),
            quantity: order.quantity,
        })
        .await
        .map_err(write_error)?;
    match result {
        CommandResult::Order(Ok(record)) => Ok((record.view(), record.index)),
        CommandResult::Order(Err(rejection)) => Err(order_rejection(order, rejection)),
        other => {
            tracing::error!(result = ?other, "order produced a non-order result");
            Err(ApiError::internal("unexpected result"))
        }
    }
}

fn order_rejection(order: &OrderRequest, rejection: OrderRejection) -> ApiError {
    match rejection {
        OrderRejection::UnknownProduct => ApiError::unknown_product(&order.name),
        OrderRejection::InsufficientStock { available } => ApiError::new(
            Reason::InsufficientStock,
            format!(
                "insufficient stock for {:?}: {available} available, {} requested",
                order.name, order.quantity
            ),
        ),
        OrderRejection::BadQuantity => ApiError::bad_request("bad quantity"),
        OrderRejection::KeyReused => ApiError::new(
            Reason::KeyReused,
            "Idempotency-Key was already used for a different order",
        ),
    }
}
