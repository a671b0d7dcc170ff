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
use crate::shed::retry_pause;

/// The pause before a write is sent again (at least the server's `Retry-After` after a
/// shed answer).
const RETRY_PAUSE: Duration = Duration::from_millis(50);

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
/// failure, also says whether any attempt may have reached the store (indeterminate): a
/// shed attempt did not (`overloaded` and `rate_limited` mean, by the contract, turned
/// away unrun), so a write shed every time is a definite failure. This leans on the
/// frontend never passing on a leader's shed answer to a resend of its own whose earlier
/// attempt may have reached a node. After a shed answer the next attempt waits the
/// server's `Retry-After`; one that would come after the retry time is not made.
async fn with_retries<T, F, Fut>(
    ctx: &WorkerContext,
    mut attempt: F,
) -> Result<T, (ClientError, bool)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    // The async clock, so a test's paused time runs it.
    let give_up = tokio::time::Instant::now() + ctx.retry_for;
    let mut maybe_sent = false;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                maybe_sent |= e.is_indeterminate();
                let left = give_up.saturating_duration_since(tokio::time::Instant::now());
                match retry_pause(&e, RETRY_PAUSE, false, left) {
                    Some(pause)
                        if e.is_retryable() && e.reason() != Some(Reason::InsufficientStock) =>
                    {
                        tokio::time::sleep(pause).await;
                    }
                    _ => return Err((e, maybe_sent)),
                }
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
        // Shed (overloaded, rate-limited): turned away before it ran, as the contract says.
        ClientError::Shed { .. } => None,
        ClientError::Api(_) | ClientError::Decode { .. } => Some(error.clone()),
        _ => None,
    };
    record.outcome = if indeterminate {
        Outcome::Indeterminate { error }
    } else {
        Outcome::Failed { error }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bazaar_api::ApiError;

    use super::*;

    fn ctx(retry_for: Duration) -> WorkerContext {
        WorkerContext {
            products: vec!["p".into()],
            start: Instant::now(),
            deadline: Instant::now(),
            retry_for,
            next_id: AtomicU64::new(0),
        }
    }

    fn order_record() -> OpRecord {
        OpRecord {
            id: 1,
            worker: 0,
            product: "p".into(),
            kind: OpKind::Order {
                quantity: 1,
                key: "k".into(),
            },
            invoke_us: 0,
            complete_us: 0,
            outcome: Outcome::Failed {
                error: String::new(),
            },
            replays: Vec::new(),
            unexpected: None,
            path: None,
            index: None,
        }
    }

    /// Runs `with_retries` (5 s of retries) over scripted error answers, the last one
    /// repeated, and records the outcome as the worker does; with the number of sends.
    async fn outcome_of(answers: Vec<ApiError>) -> (OpRecord, usize) {
        let sent = Mutex::new(0usize);
        let got = with_retries(&ctx(Duration::from_secs(5)), || {
            let mut sent = sent.lock().expect("not poisoned");
            let answer = answers[(*sent).min(answers.len() - 1)].clone();
            *sent += 1;
            async move { Err::<(), _>(ClientError::from_answer(answer)) }
        })
        .await;
        let mut record = order_record();
        match got {
            Ok(()) => panic!("scripted failures only"),
            Err((e, maybe_sent)) => fail(&mut record, &e, maybe_sent),
        }
        let sent = *sent.lock().expect("not poisoned");
        (record, sent)
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_shed_every_time_is_definitely_not_applied() {
        for answer in [ApiError::overloaded("writes", 1), ApiError::rate_limited(1)] {
            let (record, sent) = outcome_of(vec![answer]).await;
            assert!(
                matches!(record.outcome, Outcome::Failed { .. }),
                "{record:?}"
            );
            // Each send 1 to 1.5 s after the last (the server's second and a random part
            // of it), within the 5 s: at 0 s and 3 or 4 more times.
            assert!((4..=5).contains(&sent), "{sent} sends");
            // Not a contract breach either.
            assert_eq!(record.unexpected, None);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_shed_retry_after_an_unanswered_attempt_stays_indeterminate() {
        let (record, _) = outcome_of(vec![
            ApiError::unavailable("no quorum"),
            ApiError::overloaded("writes", 1),
        ])
        .await;
        assert!(record.outcome.is_indeterminate(), "{record:?}");
        // And the other way round: a shed first attempt, then no definite answer.
        let (record, _) = outcome_of(vec![
            ApiError::overloaded("writes", 1),
            ApiError::unavailable("no quorum"),
        ])
        .await;
        assert!(record.outcome.is_indeterminate(), "{record:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn shed_writes_wait_retry_after_and_do_not_overrun_the_retry_time() {
        let sends = Mutex::new(Vec::new());
        let started = tokio::time::Instant::now();
        let got = with_retries(&ctx(Duration::from_secs(10)), || {
            sends.lock().expect("not poisoned").push(started.elapsed());
            async { Err::<(), _>(ClientError::from_answer(ApiError::overloaded("writes", 3))) }
        })
        .await;
        assert!(
            matches!(got, Err((ClientError::Shed { .. }, false))),
            "{got:?}"
        );
        let sends = sends.into_inner().expect("not poisoned");
        // Each 3 to 4.5 s after the last (Retry-After and a random part of it), and none
        // after the 10 s: given up once the next wait would end past them.
        assert!((3..=4).contains(&sends.len()), "{sends:?}");
        for pair in sends.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= Duration::from_secs(3) && gap < Duration::from_millis(4500),
                "{sends:?}"
            );
        }
        let last = *sends.last().expect("sent at least once");
        assert!(
            Duration::from_secs(10) - last < Duration::from_millis(4500),
            "gave up with time for another send: {sends:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
