//! `POST /orders/batch`: the orders a frontend gathered while its previous forward was in
//! flight. They go to the proposer together (so they share log entries) and each gets the
//! answer `POST /orders` would have given it, under its own idempotency key.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use bazaar_api::{
    ApiError, BatchAnswer, BatchReply, Envelope, IdempotencyKey, KeyedOrder, OrderBatch,
    MAX_ORDERS_PER_BATCH,
};
use bazaar_service::respond::{json, json_body};
use bazaar_service::ErrorResponse;
use futures::future::join_all;

use super::batch_answer::{answer, error_answer};
use super::state::AppState;
use super::writes::decide;
use crate::leadership::Leadership;

pub async fn place_orders(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let batch: OrderBatch = json_body(body)?;
    if batch.orders.is_empty() || batch.orders.len() > MAX_ORDERS_PER_BATCH {
        return Err(ApiError::bad_request(format!(
            "a batch holds 1 to {MAX_ORDERS_PER_BATCH} orders, not {}",
            batch.orders.len()
        ))
        .into());
    }
    // A node that does not lead answers for the whole batch, so the frontend follows the
    // hint once instead of once per order.
    let leadership = Leadership::of(&s.raft);
    if !leadership.is_leader {
        return Err(ApiError::not_leader(leadership.hint).into());
    }
    let results = join_all(batch.orders.into_iter().map(|item| decide_one(&s, item))).await;
    Ok(json(&BatchReply { results }))
}

async fn decide_one(s: &AppState, item: KeyedOrder) -> BatchAnswer {
    let decided = match IdempotencyKey::from_bytes(item.key.as_bytes()) {
        Ok(key) => decide(s, &item.order, key.into_string()).await,
        Err(e) => Err(ApiError::bad_request(e.to_string()).into()),
    };
    match decided {
        Ok((view, index)) => answer(200, Some(index), &Envelope { data: view }),
        Err(refused) => error_answer(&refused.error, refused.index),
    }
}
