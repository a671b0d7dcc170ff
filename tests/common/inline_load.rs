//! An order load run inside the test's own task (joined with the fault it races, so the
//! workers borrow the cluster): a few workers place one-unit orders of one product until
//! stopped, each with its own key, and every acknowledged order is kept so the test can
//! re-read them all. `load.rs` is the same with workers in tasks of their own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bazaar_api::OrderView;

use super::{Attempt, TestCluster};

/// Orders placed by a few workers until `stop`, every acknowledged one kept.
pub struct Load {
    pub product: String,
    pub acked: Arc<Mutex<BTreeMap<String, OrderView>>>,
    pub count: Arc<AtomicUsize>,
    pub stop: Arc<AtomicBool>,
}

impl Load {
    pub fn new(product: &str) -> Self {
        Self {
            product: product.to_owned(),
            acked: Arc::default(),
            count: Arc::default(),
            stop: Arc::default(),
        }
    }

    /// Runs `workers` order loops against `cluster` until stopped. A definite refusal is
    /// a failure of the test (the product is stocked for the whole run).
    pub async fn run(&self, cluster: &TestCluster, workers: usize, prefix: &str) {
        let loops = (0..workers).map(|w| async move {
            let mut i = 0usize;
            while !self.stop.load(Ordering::SeqCst) {
                let key = format!("{prefix}-{w}-{i}");
                i += 1;
                match cluster
                    .place_order(&self.product, 1, &key, Duration::from_secs(20))
                    .await
                {
                    Attempt::Acked(order) => {
                        self.acked
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key, order);
                        self.count.fetch_add(1, Ordering::SeqCst);
                    }
                    Attempt::Rejected(status, body) => panic!("order {key}: {status} {body}"),
                    // Retried with the same key by the next round of `place_order` in
                    // a real client; here it is simply not counted as acknowledged.
                    Attempt::Indeterminate(_) => {}
                }
            }
        });
        futures::future::join_all(loops).await;
    }

    pub fn acked(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Every order acknowledged so far, by key.
    pub fn orders(&self) -> BTreeMap<String, OrderView> {
        self.acked.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
