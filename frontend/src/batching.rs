//! The gathering loop both batchers share: wait for a free forward slot, then take
//! everything that queued meanwhile (up to a limit) as one batch and forward it while
//! the next one gathers.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backend;

/// Items waiting for a batch before callers wait for room.
const QUEUE: usize = 8 * 1024;

/// How a batcher forwards: the most batches in flight, the most items in one.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub in_flight: usize,
    pub max_items: usize,
}

/// Starts a batcher's gathering task on `tasks` and returns where its items go. Each batch
/// is handed to `forward` with the backend; the task ends with `stop`.
pub fn spawn<T, F, Fut>(
    backend: &Arc<Backend>,
    limits: BatchLimits,
    tasks: &TaskTracker,
    stop: CancellationToken,
    forward: F,
) -> mpsc::Sender<T>
where
    T: Send + 'static,
    F: Fn(Arc<Backend>, Vec<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(QUEUE);
    let backend = backend.clone();
    let forwards = tasks.clone();
    tasks.spawn(async move {
        let forward = move |batch| forward(backend.clone(), batch);
        tokio::select! {
            _ = gather(rx, limits.in_flight, limits.max_items, forwards, forward) => {}
            _ = stop.cancelled() => {}
        }
    });
    tx
}

/// Runs until `rx` closes. At most `in_flight` batches are forwarded at once, each of at
/// most `max` items; `forward` answers every item of its batch.
pub async fn gather<T, F, Fut>(
    mut rx: mpsc::Receiver<T>,
    in_flight: usize,
    max: usize,
    tasks: TaskTracker,
    forward: F,
) where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = rx.recv().await {
        // Wait for a free slot before gathering, so the batch takes everything that queued
        // while the slots were busy.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < max {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let forwarding = forward(batch);
        tasks.spawn(async move {
            forwarding.await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn items_queued_behind_busy_slots_leave_together() {
        let (tx, rx) = mpsc::channel(64);
        let tasks = TaskTracker::new();
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = oneshot::channel::<()>();
        let released = Arc::new(tokio::sync::Mutex::new(Some(released)));
        let seen = sizes.clone();
        let gate = released.clone();
        let loop_task = tokio::spawn(gather(rx, 1, 3, tasks.clone(), move |batch: Vec<u32>| {
            seen.lock().unwrap().push(batch.len());
            let gate = gate.clone();
            async move {
                // The first batch holds the only slot until released.
                if let Some(wait) = gate.lock().await.take() {
                    let _ = wait.await;
                }
            }
        }));
        tx.send(1).await.unwrap();
        // Wait until the first batch holds the slot, then queue five more.
        let first_held = async {
            while sizes.lock().unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), first_held)
            .await
            .expect("the first batch was forwarded");
        for i in 2..=6 {
            tx.send(i).await.unwrap();
        }
        release.send(()).unwrap();
        drop(tx);
        loop_task.await.unwrap();
        tasks.close();
        tasks.wait().await;
        assert_eq!(*sizes.lock().unwrap(), vec![1, 3, 2]);
    }
}
