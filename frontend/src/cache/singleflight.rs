//! Singleflight: concurrent misses for one key share one backend request. The first
//! caller runs it; the others wait for its result. If the first caller is cancelled
//! (its client went away), a waiter takes over instead of hanging.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

type Flights<K, V> = Arc<Mutex<HashMap<K, watch::Receiver<Option<V>>>>>;

#[derive(Debug)]
pub struct Singleflight<K, V> {
    flights: Flights<K, V>,
}

impl<K, V> Default for Singleflight<K, V> {
    fn default() -> Self {
        Self {
            flights: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// Removes the flight when its runner finishes or is dropped mid-way.
struct FlightGuard<K: Eq + Hash, V> {
    flights: Flights<K, V>,
    key: K,
    tx: watch::Sender<Option<V>>,
}

impl<K: Eq + Hash, V> Drop for FlightGuard<K, V> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if flights
            .get(&self.key)
            .is_some_and(|rx| rx.same_channel(&self.tx.subscribe()))
        {
            flights.remove(&self.key);
        }
    }
}

enum Role<K: Eq + Hash, V> {
    Runner(FlightGuard<K, V>),
    Waiter(watch::Receiver<Option<V>>),
}

impl<K, V> Singleflight<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// Number of flights in progress.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.flights.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs `fetch` unless a flight for `key` is already running, in which case its
    /// result is awaited. Returns the value and whether it came from another caller.
    pub async fn run<F, Fut>(&self, key: K, fetch: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let guard = loop {
            let role = {
                let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
                match flights.get(&key) {
                    Some(rx) => Role::Waiter(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        flights.insert(key.clone(), rx);
                        Role::Runner(FlightGuard {
                            flights: self.flights.clone(),
                            key: key.clone(),
                            tx,
                        })
                    }
                }
            };
            match role {
                Role::Runner(guard) => break guard,
                Role::Waiter(rx) => {
                    if let Some(value) = wait_for(rx).await {
                        return (value, true);
                    }
                    // The runner was dropped without a result: go again, maybe as the
                    // runner this time.
                }
            }
        };
        let value = fetch().await;
        guard.tx.send_replace(Some(value.clone()));
        drop(guard);
        (value, false)
    }
}

async fn wait_for<V: Clone>(mut rx: watch::Receiver<Option<V>>) -> Option<V> {
    loop {
        if let Some(value) = rx.borrow_and_update().clone() {
            return Some(value);
        }
        if rx.changed().await.is_err() {
            return rx.borrow().clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let sf: Arc<Singleflight<&'static str, u64>> = Arc::new(Singleflight::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let (release_tx, release_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let sf = sf.clone();
            let calls = calls.clone();
            let mut release = release_rx.clone();
            tasks.push(tokio::spawn(async move {
                sf.run("Tux", || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Hold the flight open until every caller has joined.
                    let _ = release.wait_for(|go| *go).await;
                    42
                })
                .await
            }));
        }
        // Wait (bounded) until the flight exists, then let the callers pile up on it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while sf.in_flight() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no flight started");
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        release_tx.send_replace(true);
        let mut shared = 0;
        for task in tasks {
            let (value, was_shared) = task.await.unwrap();
            assert_eq!(value, 42);
            shared += usize::from(was_shared);
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "one backend request for eight misses"
        );
        assert_eq!(shared, 7);
        assert_eq!(sf.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_waiter_takes_over_when_the_runner_is_cancelled() {
        let sf: Arc<Singleflight<&'static str, u64>> = Arc::new(Singleflight::default());
        let runner = {
            let sf = sf.clone();
            tokio::spawn(async move { sf.run("Tux", std::future::pending::<u64>).await })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while sf.in_flight() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no flight started");
            tokio::task::yield_now().await;
        }
        let waiter = {
            let sf = sf.clone();
            tokio::spawn(async move { sf.run("Tux", || async { 7 }).await })
        };
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        runner.abort();
        let (value, shared) = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("waiter hung after its runner was cancelled")
            .unwrap();
        assert_eq!((value, shared), (7, false));
    }

    #[tokio::test]
    async fn different_keys_do_not_share() {
        let sf: Singleflight<&'static str, u64> = Singleflight::default();
        let (a, b) = tokio::join!(sf.run("a", || async { 1 }), sf.run("b", || async { 2 }));
        assert_eq!((a, b), ((1, false), (2, false)));
    }
}
