//! One checker worker: issues random reads, orders and restocks (each with a unique
//! idempotency key, retried with the same key) against its products until the deadline, recording
//! each operation's invocation, completion, outcome and how it was served.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::{IdempotencyKey, OrderRequest, Reason, RestockRequest};
use rand::Rng;

use super::history::{read_path, OpKind, OpRecord, Outcome};
use crate::api_client::{ApiClient, Served};
use crate::error::ClientError;

/// Shared by all workers of a run.
pub struct WorkerContext {
    pub products: Vec<String>,
    pub start: Instant,
    pub deadline: Instant,
    /// How long an order keeps being retried with its key before it is indeterminate.
    pub retry_for: Duration,
    pub next_id: AtomicU64,
}

impl WorkerContext {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

/// Runs one worker to the deadline and returns its operations.
pub async fn run_worker(worker: u32, client: ApiClient, ctx: Arc<WorkerContext>) -> Vec<OpRecord> {
    let mut ops = Vec::new();
    while Instant::now() < ctx.deadline {
        let (product, roll, quantity, amount, replay) = {
            let mut rng = rand::thread_rng();
            let product = ctx.products[rng.gen_range(0..ctx.products.len())].clone();
            (
                product,
                rng.gen::<f64>(),
                rng.gen_range(1..=3u64),
                rng.gen_range(1..=6u64),
                rng.gen_bool(0.1),
            )
        };
        let id = ctx.next_id.fetch_add(1, Ordering::Relaxed);
        let invoke_us = ctx.now_us();
        let mut record = OpRecord {
            id,
            worker,
            product: product.clone(),
            kind: OpKind::Read,
            invoke_us,
            complete_us: invoke_us,
            outcome: Outcome::Failed {
                error: String::new(),
            },
            replays: Vec::new(),
            unexpected: None,
            path: None,
            index: None,
        };
        if roll < 0.45 {
            match client.product_served(&product).await {
                Ok((view, served)) => {
                    record.outcome = Outcome::ReadOk {
                        stock: view.quantity,
                    };
                    record.path = Some(read_path(served.cache));
                    record.index = served.index;
                }
                Err(e) => fail(&mut record, &e, false),
            }
        } else if roll < 0.8 {
            let key = IdempotencyKey::generate().into_string();
            record.kind = OpKind::Order {
                quantity,
                key: key.clone(),
            };
            order(&client, &ctx, &mut record, &product, quantity, &key, replay).await;
        } else {
            record.kind = OpKind::Restock { amount };
            let req = RestockRequest {
                name: product.clone(),
                amount,
            };
            let key = IdempotencyKey::generate().into_string();
            restock(&client, &ctx, &mut record, &req, &key).await;
        }
        record.complete_us = ctx.now_us();
        ops.push(record);
    }
    ops
}

async fn order(
    client: &ApiClient,
    ctx: &WorkerContext,
    record: &mut OpRecord,
    product: &str,
    quantity: u64,
    key: &str,
    replay: bool,
) {
    let req = OrderRequest {
        name: product.to_owned(),
        quantity,
    };
    match with_retries(ctx, || client.order_served(&req, Some(key))).await {
        Ok((view, Served { index, .. })) => {
            record.index = index;
            record.outcome = Outcome::OrderOk {
                number: view.number,
                quantity: view.quantity,
                name: view.name,
            };
            if replay {
                match client.order(&req, Some(key)).await {
                    Ok(again) => record.replays.push(again.number),
                    Err(e) if e.reason() == Some(Reason::InsufficientStock) => {
                        record.unexpected = Some(format!(
                            "replaying the key of order #{} answered: {e}",
                            view.number
                        ));
                    }
                    Err(_) => {}
                }
            }
        }
        Err((e, _)) if e.reason() == Some(Reason::InsufficientStock) => {
            record.outcome = Outcome::OrderRejected;
        }
        Err((e, maybe_sent)) => fail(record, &e, maybe_sent),
    }
}

/// A restock with its own key, retried with that key (the store deduplicates it) until it
/// has a definite answer or the retry time is up.
async fn restock(
    client: &ApiClient,
    ctx: &WorkerContext,
    record: &mut OpRecord,
    req: &RestockRequest,
    key: &str,
) {
    match with_retries(ctx, || client.restock_served(req, Some(key))).await {
        Ok((view, Served { index, .. })) => {
            record.index = index;
            record.outcome = Outcome::RestockOk {
                stock: view.quantity,
            }
        }
        Err((e, maybe_sent)) => fail(record, &e, maybe_sent),
    }
}

/// Repeats a keyed write while its failures are retryable and the retry time lasts. On
/// failure, also says whether any attempt may have reached the store (indeterminate).
async fn with_retries<T, F, Fut>(
    ctx: &WorkerContext,
    mut attempt: F,
) -> Result<T, (ClientError, bool)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let give_up = Instant::now() + ctx.retry_for;
    let mut maybe_sent = false;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                maybe_sent |= e.is_indeterminate();
                if e.is_retryable()
                    && e.reason() != Some(Reason::InsufficientStock)
                    && Instant::now() < give_up
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                return Err((e, maybe_sent));
            }
        }
    }
}

/// Records a failure; flags answers the API contract rules out for our own products.
fn fail(record: &mut OpRecord, err: &ClientError, indeterminate: bool) {
    let error = err.to_string();
    record.unexpected = match err {
        // Refused by the nospace alarm (the chaos run's storage faults raise it): a definite
        // refusal, not applied under its key, as the contract says.
        ClientError::Api(e)
            if e.reason.is_unavailable()
                || e.reason == Reason::NotLeader
                || e.reason == Reason::NoSpace =>
        {
            None
        }
        ClientError::Api(_) | ClientError::Decode { .. } => Some(error.clone()),
        _ => None,
    };
    record.outcome = if indeterminate {
        Outcome::Indeterminate { error }
    } else {
        Outcome::Failed { error }
    };
}
