//! `POST /orders`: validated here, decided by the state machine, deduplicated by request id.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bazaar_api::{ApiError, IdempotencyKey, OrderRequest, OrderView, Reason, IDEMPOTENCY_HEADER};
use bazaar_service::respond::{self, json_body, ok};
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
    match decide(&s, &order, request_id).await {
        Ok((view, index)) => Ok(ok(&view, index)),
        Err(refused) => Ok(refused.into_response()),
    }
}

/// Why an order was not placed. `index` is the log entry the state machine refused it
/// at, when it got that far: the answer reflects the state there (a refusal for want of
/// stock shows every earlier order), so it carries that index like a success does and a
/// cache orders it against what it holds.
#[derive(Debug)]
pub struct OrderRefused {
    pub error: ApiError,
    pub index: Option<u64>,
}

impl From<ApiError> for OrderRefused {
    fn from(error: ApiError) -> Self {
        Self { error, index: None }
    }
}

impl IntoResponse for OrderRefused {
    fn into_response(self) -> Response {
        let mut response = respond::error(&self.error);
        if let Some(index) = self.index {
            response
                .headers_mut()
                .insert(respond::index_header(), HeaderValue::from(index));
        }
        response
    }
}

/// One order through the log: validated, proposed under `request_id`, and the accepted
/// order with its log index, or why not. `POST /orders` and `POST /orders/batch` share it.
pub async fn decide(
    s: &AppState,
    order: &OrderRequest,
    request_id: String,
) -> Result<(OrderView, u64), OrderRefused> {
    order.validate().map_err(ApiError::bad_request)?;
    let applied = s
        .proposer
        .propose(Command::PlaceOrder {
            request_id,
            product: order.name.clone(),
            quantity: order.quantity,
        })
        .await
        .map_err(write_error)?;
    match applied.result {
        CommandResult::Order(Ok(record)) => Ok((record.view(), record.index)),
        CommandResult::Order(Err(rejection)) => Err(OrderRefused {
            error: order_rejection(order, rejection),
            index: Some(applied.index),
        }),
        other => {
            tracing::error!(result = ?other, "order produced a non-order result");
            Err(ApiError::internal("unexpected result").into())
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
        OrderRejection::NoSpace => no_space("new orders"),
        OrderRejection::Archived { number } => ApiError::new(
            Reason::Archived,
            format!(
                "this Idempotency-Key placed order {number}, which was archived, and its first \
                 answer is no longer held here; `bazaar archive get FILE {number}` reads it"
            ),
        ),
    }
}

/// The answer to a write the `nospace` alarm refused.
pub fn no_space(what: &str) -> ApiError {
    ApiError::new(
        Reason::NoSpace,
        format!(
            "the cluster's nospace alarm is active: {what} are refused until space is freed \
             and an operator disarms it (`bazaar alarm list`, `bazaar alarm disarm`)"
        ),
    )
}
