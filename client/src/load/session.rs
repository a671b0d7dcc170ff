//! One load session: the earlier shops' client loop on a kept-alive connection. Look up
//! a random product, then with probability p order one unit of it under a fresh
//! idempotency key, retried with the same key on no answer or 503. A shed answer (503
//! `overloaded`, 429 `rate_limited`) is counted apart from the errors, and the session
//! waits the server's `Retry-After` before its next request (unless the run ignores it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::{IdempotencyKey, OrderRequest};
use rand::Rng;

use super::stats::LoadStats;
use crate::api_client::ApiClient;
use crate::error::ClientError;
use crate::shed::{retry_pause, shed_pause};

/// The pause before an order is sent again after a failed attempt (at least the server's
/// `Retry-After` after a shed one).
const ORDER_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// An acknowledged order as this client recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub number: u64,
    pub name: String,
    pub quantity: u64,
}

/// Shared by the sessions of one run.
pub struct SessionPlan {
    pub names: Vec<String>,
    pub prob: f64,
    pub deadline: Option<Instant>,
    /// Requests that start before this are made and checked but not timed (`--warmup`:
    /// the sessions open their connections all at once then).
    pub timed_from: Instant,
    /// Lookups left to issue when the run is bounded by `--requests`.
    pub remaining: Option<AtomicU64>,
    pub order_retry_for: Duration,
    /// Send the next request at once after a shed answer instead of waiting the server's
    /// `Retry-After` (`--ignore-retry-after`: what clients that ignore it do to a server).
    pub ignore_retry_after: bool,
    /// Live counters for the progress bar.
    pub done: AtomicU64,
    pub errors: AtomicU64,
    pub shed: AtomicU64,
}

impl SessionPlan {
    fn take_one(&self) -> bool {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match &self.remaining {
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
            None => true,
        }
    }

    /// Waits until `until`, or the run's end if sooner; false when the run has ended.
    async fn wait_until(&self, until: Instant) -> bool {
        let until = self.deadline.map_or(until, |d| until.min(d));
        tokio::time::sleep_until(until.into()).await;
        self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// How long to wait after shed answer `e` before the next request: the server's
    /// `Retry-After`, unless the run ignores it, and at least `floor`.
    fn pause_after(&self, e: &ClientError, floor: Duration) -> Duration {
        shed_pause(e, floor, self.ignore_retry_after)
    }

    /// Counts shed answer `e` to a `what` (`lookup`, `order`), apart from the errors.
    fn count_shed(&self, stats: &mut LoadStats, e: &ClientError, what: &str, retried: bool) {
        let kind = if retried {
            format!("{} (retried)", e.label())
        } else {
            e.label().to_owned()
        };
        stats.record_shed(&kind, what);
        self.shed.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn run_session(
    client: ApiClient,
    plan: Arc<SessionPlan>,
) -> (LoadStats, Vec<PlacedOrder>) {
    let mut stats = LoadStats::default();
    let mut placed = Vec::new();
    // Set by a shed answer: no request before then (its `Retry-After`).
    let mut resume_at: Option<Instant> = None;
    while plan.take_one() {
        if let Some(until) = resume_at.take() {
            if !plan.wait_until(until).await {
                break;
            }
        }
        let (name, buy) = {
            let mut rng = rand::thread_rng();
            (
                plan.names[rng.gen_range(0..plan.names.len())].clone(),
                rng.gen_bool(plan.prob),
            )
        };
        let started = Instant::now();
        let looked_up = client.product(&name).await;
        plan.done.fetch_add(1, Ordering::Relaxed);
        match looked_up {
            Ok(_) if started >= plan.timed_from => stats.record_lookup(started.elapsed()),
            Ok(_) => {}
            Err(e) if e.is_shed() => {
                plan.count_shed(&mut stats, &e, "lookup", false);
                resume_at = Some(Instant::now() + plan.pause_after(&e, Duration::ZERO));
                continue;
            }
            Err(e) => {
                stats.record_error(e.label(), "lookup");
                plan.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        if !buy {
            continue;
        }
        // Time-ordered like the keys the frontend makes: cheap for every replica to store.
        let key = IdempotencyKey::generate().into_string();
        let req = OrderRequest {
            name: name.clone(),
            quantity: 1,
        };
        let started = Instant::now();
        let give_up = started + plan.order_retry_for;
        loop {
            match client.order(&req, Some(&key)).await {
                Ok(order) => {
                    if started >= plan.timed_from {
                        stats.record_order(started.elapsed());
                    }
                    stats.orders_placed += 1;
                    if order.quantity != 1 || order.name != name {
                        stats.record_error("answer_mismatch", "order");
                    }
                    // What we asked for, so verification also catches a wrong answer.
                    placed.push(PlacedOrder {
                        number: order.number,
                        name,
                        quantity: 1,
                    });
                    break;
                }
                Err(e) if e.is_shed() => {
                    // Not run: sent again after the server's wait if that fits the retry
                    // time, else given up now rather than sent early.
                    let left = give_up.saturating_duration_since(Instant::now());
                    let retry = retry_pause(&e, ORDER_RETRY_PAUSE, plan.ignore_retry_after, left);
                    plan.count_shed(&mut stats, &e, "order", retry.is_some());
                    match retry {
                        Some(pause) => tokio::time::sleep(pause).await,
                        None => {
                            resume_at =
                                Some(Instant::now() + plan.pause_after(&e, ORDER_RETRY_PAUSE));
                            break;
                        }
                    }
                }
                Err(e) if e.is_retryable() && Instant::now() < give_up => {
                    stats.record_error(&format!("{} (retried)", e.label()), "order");
                    tokio::time::sleep(ORDER_RETRY_PAUSE).await;
                }
                Err(e) => {
                    stats.record_error(e.label(), "order");
                    plan.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        plan.done.fetch_add(1, Ordering::Relaxed);
    }
    (stats, placed)
}

#[cfg(test)]
mod tests {
    use bazaar_api::ApiError;

    use super::*;
    use crate::test_server::{Answer, TestServer};
    use crate::transport::Transport;

    fn plan(lookups: u64, prob: f64, ignore_retry_after: bool) -> Arc<SessionPlan> {
        Arc::new(SessionPlan {
            names: vec!["Tux".into()],
            prob,
            deadline: None,
            timed_from: Instant::now(),
            remaining: Some(AtomicU64::new(lookups)),
            order_retry_for: Duration::from_secs(10),
            ignore_retry_after,
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            shed: AtomicU64::new(0),
        })
    }

    fn client(url: &str) -> ApiClient {
        ApiClient::new(url, Duration::from_secs(5), &Transport::default()).expect("client")
    }

    #[tokio::test]
    async fn shed_lookups_are_counted_apart_and_the_session_waits_retry_after() {
        for ignore in [false, true] {
            let server = TestServer::start(vec![Answer::shed(
                &ApiError::overloaded("cached reads", 1),
                "1",
            )])
            .await;
            let plan = plan(2, 0.0, ignore);
            let (stats, placed) = run_session(client(&server.url), plan.clone()).await;
            assert!(placed.is_empty());
            assert!(stats.errors.is_empty(), "{:?}", stats.errors);
            assert_eq!(
                stats.shed.get("lookup overloaded"),
                Some(&2),
                "{:?}",
                stats.shed
            );
            assert_eq!(plan.shed.load(Ordering::Relaxed), 2);
            assert_eq!(plan.errors.load(Ordering::Relaxed), 0);
            let arrivals = server.arrivals();
            assert_eq!(arrivals.len(), 2, "{arrivals:?}");
            let gap = arrivals[1].at - arrivals[0].at;
            if ignore {
                assert!(
                    gap < Duration::from_secs(1),
                    "ignoring Retry-After: {gap:?}"
                );
            } else {
                assert!(
                    gap >= Duration::from_secs(1),
                    "honouring Retry-After: {gap:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_shed_order_is_retried_with_its_key_after_retry_after() {
        let server = TestServer::start(vec![
            Answer::ok(serde_json::json!({
                "name": "Tux", "title": "Tux", "topic": "toys",
                "price": 1.5, "quantity": 3, "version": 7
            })),
            Answer::shed(&ApiError::overloaded("writes", 1), "1"),
            Answer::ok(serde_json::json!({
                "number": 9, "order_number": 9, "name": "Tux", "quantity": 1,
                "unit_price": 1.5, "total": 1.5, "index": 40
            })),
        ])
        .await;
        let (stats, placed) = run_session(client(&server.url), plan(1, 1.0, false)).await;
        assert_eq!(placed.len(), 1);
        assert_eq!(stats.orders_placed, 1);
        assert!(stats.errors.is_empty(), "{:?}", stats.errors);
        assert_eq!(
            stats.shed.get("order overloaded (retried)"),
            Some(&1),
            "{:?}",
            stats.shed
        );
        let arrivals = server.arrivals();
        assert_eq!(arrivals.len(), 3, "{arrivals:?}");
        assert!(
            arrivals[1].line.starts_with("POST /orders ")
                && arrivals[2].line.starts_with("POST /orders ")
        );
        assert!(
            arrivals[2].at - arrivals[1].at >= Duration::from_secs(1),
            "{arrivals:?}"
        );
        let key = arrivals[1].header(bazaar_api::IDEMPOTENCY_HEADER);
        assert!(key.is_some_and(|k| !k.is_empty()), "{arrivals:?}");
        assert_eq!(key, arrivals[2].header(bazaar_api::IDEMPOTENCY_HEADER));
    }
}
