//! One load session: the earlier shops' client loop on a kept-alive connection. Look up
//! a random product, then with probability p order one unit of it under a fresh
//! idempotency key, retried with the same key on no answer or 503.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::{IdempotencyKey, OrderRequest};
use rand::Rng;

use super::stats::LoadStats;
use crate::api_client::ApiClient;

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
    /// Lookups left to issue when the run is bounded by `--requests`.
    pub remaining: Option<AtomicU64>,
    pub order_retry_for: Duration,
    /// Live counters for the progress bar.
    pub done: AtomicU64,
    pub errors: AtomicU64,
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
}

pub async fn run_session(
    client: ApiClient,
    plan: Arc<SessionPlan>,
) -> (LoadStats, Vec<PlacedOrder>) {
    let mut stats = LoadStats::default();
    let mut placed = Vec::new();
    while plan.take_one() {
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
            Ok(_) => stats.record_lookup(started.elapsed()),
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
                    stats.record_order(started.elapsed());
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
                Err(e) if e.is_retryable() && Instant::now() < give_up => {
                    stats.record_error(&format!("{} (retried)", e.label()), "order");
                    tokio::time::sleep(Duration::from_millis(20)).await;
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
