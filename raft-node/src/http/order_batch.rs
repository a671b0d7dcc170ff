//! `POST /orders/batch`: the orders a frontend gathered while its previous forward was in
//! flight. They go to the proposer together (so they share log entries) and each gets the
//! answer `POST /orders` would have given it, under its own idempotency key.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::Response;
use bazaar_api::{
    ApiError, Envelope, IdempotencyKey, KeyedOrder, OrderBatch, OrderBatchReply, OrderOutcome,
    MAX_ORDERS_PER_BATCH,
};
use bazaar_service::respond::{json, json_body};
use bazaar_service::ErrorResponse;
use futures::future::join_all;
use serde::Serialize;
use serde_json::value::{to_raw_value, RawValue};

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
    let results = join_all(batch.orders.into_iter().map(|item| answer(&s, item))).await;
    Ok(json(&OrderBatchReply { results }))
}

async fn answer(s: &AppState, item: KeyedOrder) -> OrderOutcome {
    let decided = match IdempotencyKey::from_bytes(item.key.as_bytes()) {
        Ok(key) => decide(s, &item.order, key.into_string()).await,
        Err(e) => Err(ApiError::bad_request(e.to_string()).into()),
    };
    match decided {
        Ok((view, index)) => outcome(200, Some(index), &Envelope { data: view }),
        Err(refused) => outcome(
            refused.error.status(),
            refused.index,
            &refused.error.to_envelope(),
        ),
    }
}

fn outcome<T: Serialize>(status: u16, index: Option<u64>, envelope: &T) -> OrderOutcome {
    match to_raw_value(envelope) {
        Ok(body) => OrderOutcome {
            status,
            index,
            body,
        },
        Err(e) => {
            tracing::error!(cause = %e, "cannot encode an order's answer");
            let fallback = ApiError::internal("cannot encode the answer").to_envelope();
            OrderOutcome {
                status: 500,
                index: None,
                body: to_raw_value(&fallback).unwrap_or_else(|_| empty_object()),
            }
        }
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("a literal empty JSON object")
}
