//! What both batchers share: the gathering loop (wait for a free forward slot, then take
//! everything that queued meanwhile, up to a limit, as one batch, by the one gathering rule
//! in `bazaar_service::batch`, and forward it while the next one gathers), and what a
//! node's answer to a batch settles for its items.

use std::future::Future;
use std::sync::Arc;

use axum::http::StatusCode;
use bazaar_service::batch::next_batch;
use futures::future::{BoxFuture, FutureExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{batch_answers, Backend, NodeReply};

/// Items waiting for a batch before callers wait for room.
const QUEUE: usize = 8 * 1024;

/// How a batcher forwards: the most batches in flight, the most items in one.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub in_flight: usize,
    pub max_items: usize,
}

/// How a batcher forwards one batch; shared by its gathering task and its queue.
type Forward<T> = Arc<dyn Fn(Vec<T>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Where a batcher's items go; cheap to clone.
pub struct BatchQueue<T> {
    tx: mpsc::Sender<T>,
    slots: Arc<Semaphore>,
    forward: Forward<T>,
}

impl<T> Clone for BatchQueue<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            slots: self.slots.clone(),
            forward: self.forward.clone(),
        }
    }
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Hands `item` to be forwarded (its batcher's `forward` answers it). When a slot is
    /// free and nothing is queued it would be a batch of one, so it is forwarded at once
    /// from the caller's task, holding the slot: that spares the hand-offs to the gathering
    /// task, to a forwarding task and back, which with one client sit on every request's
    /// path. Otherwise it waits for the next batch. Gives it back if the gathering task
    /// has stopped.
    pub async fn submit(&self, item: T) -> Result<(), mpsc::error::SendError<T>> {
        if let Some(_slot) = self.slot_if_idle() {
            (self.forward)(vec![item]).await;
            return Ok(());
        }
        self.tx.send(item).await
    }

    /// A forward slot for an item that would leave alone anyway: one is free and nothing
    /// is queued, so no batch could form.
    fn slot_if_idle(&self) -> Option<OwnedSemaphorePermit> {
        if self.tx.capacity() < self.tx.max_capacity() {
            return None;
        }
        self.slots.clone().try_acquire_owned().ok()
    }
}

/// Starts a batcher's gathering task on `tasks` and returns where its items go. Each batch
/// is handed to `forward` with the backend; the task ends with `stop`.
pub fn spawn<T, F, Fut>(
    backend: &Arc<Backend>,
    limits: BatchLimits,
    tasks: &TaskTracker,
    stop: CancellationToken,
    forward: F,
) -> BatchQueue<T>
where
    T: Send + 'static,
    F: Fn(Arc<Backend>, Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(QUEUE);
    let slots = Arc::new(Semaphore::new(limits.in_flight));
    let backend = backend.clone();
    let forward: Forward<T> = Arc::new(move |batch| forward(backend.clone(), batch).boxed());
    let queue = BatchQueue {
        tx,
        slots: slots.clone(),
        forward: forward.clone(),
    };
    let forwards = tasks.clone();
    tasks.spawn(async move {
        tokio::select! {
            _ = gather(rx, slots, limits.max_items, forwards, move |batch| forward(batch)) => {}
            _ = stop.cancelled() => {}
        }
    });
    queue
}

/// Runs until `rx` closes. A batch is forwarded only while holding one of `slots` (shared
/// with `BatchQueue::submit`), each of at most `max` items; `forward` answers every item of
/// its batch.
pub async fn gather<T, F, Fut>(
    mut rx: mpsc::Receiver<T>,
    slots: Arc<Semaphore>,
    max: usize,
    tasks: TaskTracker,
    forward: F,
) where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // A slot is waited for before gathering, so the batch takes everything that queued
    // while the slots were busy.
    let free_slot = || async { slots.clone().acquire_owned().await.ok() };
    while let Some((batch, slot)) = next_batch(&mut rx, max, free_slot).await {
        let forwarding = forward(batch);
        tasks.spawn(async move {
            forwarding.await;
            drop(slot);
        });
    }
}

/// What a node's answer to a batch of `items` settles for them.
#[derive(Debug)]
pub enum Settled {
    /// One answer per item, in the batch's order.
    Each(Vec<NodeReply>),
    /// The node has no batch route (one from before batches): each item goes alone.
    OneByOne,
    /// The batch was refused as a whole: every item gets this answer.
    Whole(NodeReply),
}

pub fn settle(reply: NodeReply, items: usize) -> Settled {
    match batch_answers(&reply, items) {
        Some(answers) => Settled::Each(answers),
        None if matches!(
            reply.status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) =>
        {
            Settled::OneByOne
        }
        None => Settled::Whole(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;
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
        let loop_task = tokio::spawn(gather(
            rx,
            Arc::new(Semaphore::new(1)),
            3,
            tasks.clone(),
            move |batch: Vec<u32>| {
                seen.lock().unwrap().push(batch.len());
                let gate = gate.clone();
                async move {
                    // The first batch holds the only slot until released.
                    if let Some(wait) = gate.lock().await.take() {
                        let _ = wait.await;
                    }
                }
            },
        ));
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

    /// A queue over `rx`'s channel with `slots`, whose forwards are recorded in `log`.
    fn recording_queue(
        tx: mpsc::Sender<u32>,
        slots: Arc<Semaphore>,
        log: Arc<Mutex<Vec<Vec<u32>>>>,
    ) -> BatchQueue<u32> {
        BatchQueue {
            tx,
            slots,
            forward: Arc::new(move |batch| {
                log.lock().unwrap().push(batch);
                async {}.boxed()
            }),
        }
    }

    #[tokio::test]
    async fn an_item_goes_alone_only_while_a_slot_is_free_and_nothing_is_queued() {
        let (tx, mut rx) = mpsc::channel(4);
        let log = Arc::new(Mutex::new(Vec::new()));
        let queue = recording_queue(tx, Arc::new(Semaphore::new(1)), log.clone());
        let held = queue
            .slot_if_idle()
            .expect("a free slot and an empty queue");
        assert!(queue.slot_if_idle().is_none(), "the only slot is held");
        drop(held);
        queue.tx.send(1u32).await.unwrap();
        assert!(
            queue.slot_if_idle().is_none(),
            "an item is queued, so the next one joins its batch"
        );
        // Submitted while idle: forwarded alone before `submit` returns, never queued.
        assert_eq!(rx.recv().await, Some(1));
        queue.submit(2).await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec![vec![2]]);
        assert!(rx.try_recv().is_err(), "the idle item was queued as well");
    }

    #[tokio::test]
    async fn a_slot_taken_to_go_alone_holds_back_the_next_batch() {
        let (tx, rx) = mpsc::channel(8);
        let slots = Arc::new(Semaphore::new(1));
        let queue = recording_queue(tx, slots.clone(), Arc::new(Mutex::new(Vec::new())));
        let tasks = TaskTracker::new();
        let (forwarded, mut batches) = mpsc::unbounded_channel();
        let loop_task = tokio::spawn(gather(rx, slots, 8, tasks.clone(), move |b: Vec<u32>| {
            let _ = forwarded.send(b);
            async {}
        }));
        let alone = queue.slot_if_idle().expect("idle");
        queue.submit(1).await.unwrap();
        queue.submit(2).await.unwrap();
        // Wait until the gathering task has taken the first item: it then needs a slot to
        // forward it, and (on this single-threaded runtime) would already have forwarded it
        // had it not waited for one.
        let first_taken = async {
            while queue.tx.capacity() == queue.tx.max_capacity() - 2 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), first_taken)
            .await
            .expect("the gathering task takes the first item");
        let early = batches.try_recv();
        assert!(
            early.is_err(),
            "a batch left while the only slot was held: {early:?}"
        );
        drop(alone);
        let batch = tokio::time::timeout(Duration::from_secs(10), batches.recv())
            .await
            .expect("the batch leaves once the slot is back");
        assert_eq!(batch, Some(vec![1, 2]));
        drop(queue);
        loop_task.await.unwrap();
    }

    fn reply(status: StatusCode, body: &str) -> NodeReply {
        NodeReply {
            status,
            body: bytes::Bytes::from(body.to_owned()),
            index: Some(5),
            leader_header: None,
        }
    }

    #[test]
    fn a_batch_answer_settles_each_item_in_order_or_all_of_them_alike() {
        let two = r#"{"results":[{"status":201,"index":7,"body":{"data":1}},{"status":421,"body":{"error":{}}}]}"#;
        let Settled::Each(answers) = settle(reply(StatusCode::OK, two), 2) else {
            panic!("a batch answer for two items")
        };
        let statuses: Vec<_> = answers.iter().map(|a| (a.status, a.index)).collect();
        assert_eq!(
            statuses,
            vec![
                (StatusCode::CREATED, Some(7)),
                (StatusCode::MISDIRECTED_REQUEST, None)
            ]
        );
        assert_eq!(&answers[0].body[..], br#"{"data":1}"#);
        for old_node in [StatusCode::NOT_FOUND, StatusCode::METHOD_NOT_ALLOWED] {
            assert!(matches!(settle(reply(old_node, ""), 2), Settled::OneByOne));
        }
        let refused = settle(reply(StatusCode::BAD_REQUEST, r#"{"error":{}}"#), 2);
        assert!(matches!(refused, Settled::Whole(r) if r.status == StatusCode::BAD_REQUEST));
        // An answer for another number of items is not taken apart.
        assert!(matches!(
            settle(reply(StatusCode::OK, two), 3),
            Settled::Whole(_)
        ));
    }
}
