//! The one gathering rule of every batcher (the node's proposer and read index, the
//! frontend's order and lookup batchers): wait for a first item, then for the batcher to
//! be ready to send (a free slot, say), then take everything that queued meanwhile, so a
//! batch holds what arrived while the previous ones were busy.

use std::future::Future;

use tokio::sync::mpsc;

/// The next batch from `rx`, at most `max` items (at least one), with what `ready` gave.
///
/// `ready` is called only once an item is there: a slot taken before that would sit idle
/// and hold up anyone waiting for every slot (a paused proposer). `None` once `rx` is
/// closed and empty, or when `ready` gives up (its own source closed); the item then
/// taken is dropped, which is what a stopping batcher does with it anyway.
pub async fn next_batch<T, R, F>(
    rx: &mut mpsc::Receiver<T>,
    max: usize,
    ready: impl FnOnce() -> F,
) -> Option<(Vec<T>, R)>
where
    F: Future<Output = Option<R>>,
{
    let first = rx.recv().await?;
    let ready = ready().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some((batch, ready))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn a_batch_takes_what_queued_while_it_waited_to_be_ready() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(1).await.unwrap();
        let (go, gate) = oneshot::channel::<()>();
        let tx2 = tx.clone();
        let batch = tokio::spawn(async move {
            next_batch(&mut rx, 3, || async move { gate.await.ok() })
                .await
                .map(|(b, ())| (b, rx))
        });
        // Queued after the first item was taken, before the batcher was ready.
        for i in 2..=5 {
            tx2.send(i).await.unwrap();
        }
        go.send(()).unwrap();
        let (batch, mut rx) = batch.await.unwrap().expect("a batch");
        assert_eq!(
            batch,
            vec![1, 2, 3],
            "at most `max` items, in arrival order"
        );
        assert_eq!(rx.try_recv(), Ok(4), "the rest waits for the next batch");
    }

    #[tokio::test]
    async fn ready_is_asked_only_once_an_item_is_there() {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        let asked = std::sync::atomic::AtomicBool::new(false);
        drop(tx);
        let batch = next_batch(&mut rx, 8, || async {
            asked.store(true, std::sync::atomic::Ordering::SeqCst);
            Some(())
        })
        .await;
        assert!(batch.is_none(), "a closed, empty channel ends the batcher");
        assert!(!asked.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_batcher_that_cannot_get_ready_stops() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(1).await.unwrap();
        let batch = next_batch(&mut rx, 8, || async { None::<()> }).await;
        assert!(batch.is_none());
    }
}
