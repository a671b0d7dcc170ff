//! Orders placed by a few tasks of their own until stopped, every acknowledged one kept by
//! its idempotency key: the load a fault test kills, cuts and restarts nodes under.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazaar_api::OrderView;

use super::{wait_within, Attempt, Orders, POLL};

/// How long one order is retried (same key) before it counts as not acknowledged.
const PATIENCE: Duration = Duration::from_secs(20);

pub struct Load {
    acked: Arc<Mutex<BTreeMap<String, OrderView>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts `workers` tasks, each placing one-unit orders of `product` one after another
    /// with keys `<prefix>-<worker>-<n>`. An order refused with a 4xx fails the test (at
    /// [`stop`](Self::stop)); one without an answer within its patience is not counted.
    pub fn start(orders: Orders, product: &str, workers: usize, prefix: &str) -> Self {
        let acked: Arc<Mutex<BTreeMap<String, OrderView>>> = Arc::default();
        let stop: Arc<AtomicBool> = Arc::default();
        let workers = (0..workers)
            .map(|w| {
                let (orders, acked, stop) = (orders.clone(), Arc::clone(&acked), Arc::clone(&stop));
                let (product, prefix) = (product.to_owned(), prefix.to_owned());
                tokio::spawn(async move {
                    let mut i = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        let key = format!("{prefix}-{w}-{i}");
                        i += 1;
                        match orders.place_order(&product, 1, &key, PATIENCE).await {
                            Attempt::Acked(order) => {
                                acked
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(key, order);
                            }
                            Attempt::Rejected(status, body) => {
                                panic!("order {key}: {status} {body}")
                            }
                            Attempt::Indeterminate(_) => {}
                        }
                    }
                })
            })
            .collect();
        Self {
            acked,
            stop,
            workers,
        }
    }

    /// Orders acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Waits until `n` orders in all have been acknowledged, or panics after `deadline`,
    /// or as soon as a worker has stopped (an order was refused: its panic is above).
    pub async fn wait_acked(&self, n: usize, deadline: Duration) {
        wait_within(&format!("{n} acknowledged orders"), deadline, POLL, || {
            assert!(
                !self.workers.iter().any(|w| w.is_finished()),
                "an order worker stopped while waiting for {n} acknowledged orders (see its \
                 panic above)"
            );
            std::future::ready((self.acked() >= n).then_some(()))
        })
        .await;
    }

    /// Stops the workers (each finishes the order it is placing) and returns every
    /// acknowledged order by key.
    pub async fn stop(self) -> BTreeMap<String, OrderView> {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.expect("an order worker failed");
        }
        let acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        acked.clone()
    }
}
