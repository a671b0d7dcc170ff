//! Orders to the leader in batches: the orders that arrive while earlier forwards are in
//! flight go together in one `POST /orders/batch`, so the frontend and the leader pay one
//! HTTP exchange for many orders. Each order keeps its own idempotency key and gets its own
//! answer. A batch that fails as a whole is retried by the backend with the same keys; an
//! order whose own answer says the leader moved, or that the leader could not confirm in
//! time, is sent again alone with its key until its client's deadline, so nothing is ever
//! doubled and every order is retried exactly as a single one is.

use std::sync::Arc;
use std::time::Instant;

use axum::http::Method;
use bazaar_api::{
    KeyedOrder, OrderBatch, OrderRequest, IDEMPOTENCY_HEADER, MAX_ORDERS_PER_BATCH,
    ORDER_BATCH_PATH,
};
use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{json_headers, retryable, Backend, BackendError, NodeReply, WriteRequest};
use crate::batching::{self, settle, BatchLimits, BatchQueue, Settled};

/// Batches forwarded at once. More than one lets a batch form while others are answered;
/// each in-flight batch is one log entry's worth of orders at most.
const IN_FLIGHT: usize = 4;

type Answer = Result<NodeReply, BackendError>;

struct PendingOrder {
    item: KeyedOrder,
    /// The same order as a `POST /orders` of its own, for when it must go alone.
    alone: WriteRequest,
    /// When its client must have an answer: every send on its behalf keeps to it.
    deadline: Instant,
    reply: oneshot::Sender<Answer>,
}

/// Hands orders to the batching task; cheap to clone.
#[derive(Clone)]
pub struct OrderBatcher {
    queue: BatchQueue<PendingOrder>,
    backend: Arc<Backend>,
}

impl OrderBatcher {
    pub fn spawn(backend: Arc<Backend>, tasks: &TaskTracker, stop: CancellationToken) -> Self {
        let limits = BatchLimits {
            in_flight: IN_FLIGHT,
            max_items: MAX_ORDERS_PER_BATCH,
        };
        let queue = batching::spawn(&backend, limits, tasks, stop, |backend, batch| async move {
            forward(&backend, batch).await
        });
        Self { queue, backend }
    }

    /// Places one validated order and returns the leader's answer to it. `alone` is the
    /// same order as the `POST /orders` the caller would send without batches (its body,
    /// key and request id): what goes to the leader when the order cannot share a batch.
    pub async fn place(&self, order: OrderRequest, alone: WriteRequest) -> Answer {
        let Some(key) = alone
            .headers
            .get(IDEMPOTENCY_HEADER)
            .and_then(|k| k.to_str().ok())
        else {
            return self.backend.write(&alone).await;
        };
        let (reply, answer) = oneshot::channel();
        let pending = PendingOrder {
            item: KeyedOrder {
                key: key.to_owned(),
                order,
            },
            alone,
            deadline: self.backend.deadline_from(Instant::now()),
            reply,
        };
        if let Err(mpsc::error::SendError(pending)) = self.queue.submit(pending).await {
            // The batching task has stopped (shutting down): send this one alone.
            return self
                .backend
                .write_until(&pending.alone, pending.deadline)
                .await;
        }
        match answer.await {
            Ok(answer) => answer,
            Err(_) => Err(self
                .backend
                .unavailable("the frontend is shutting down".into())),
        }
    }
}

async fn forward(backend: &Backend, mut batch: Vec<PendingOrder>) {
    if batch.len() == 1 {
        if let Some(p) = batch.pop() {
            let _ = p
                .reply
                .send(backend.write_until(&p.alone, p.deadline).await);
        }
        return;
    }
    let mut items = Vec::with_capacity(batch.len());
    let mut waiting = Vec::with_capacity(batch.len());
    let deadline = batch_deadline(&batch);
    for p in batch {
        items.push(p.item);
        waiting.push((p.alone, p.deadline, p.reply));
    }
    let body = match serde_json::to_vec(&OrderBatch { orders: items }) {
        Ok(body) => Bytes::from(body),
        Err(e) => {
            let err = backend.unavailable(format!("cannot encode a batch: {e}"));
            for (_, _, reply) in waiting {
                let _ = reply.send(Err(err.clone()));
            }
            return;
        }
    };
    let request = WriteRequest {
        method: Method::POST,
        path_and_query: ORDER_BATCH_PATH.into(),
        body,
        headers: json_headers(),
    };
    let reply = match backend.write_until(&request, deadline).await {
        Ok(reply) => reply,
        Err(err) => {
            for (_, _, reply) in waiting {
                let _ = reply.send(Err(err.clone()));
            }
            return;
        }
    };
    let answers = match settle(reply, waiting.len()) {
        Settled::Each(answers) => answers,
        Settled::OneByOne => {
            // A node from before batches: each order on its own.
            join_all(
                waiting
                    .into_iter()
                    .map(|(alone, deadline, reply)| async move {
                        let _ = reply.send(backend.write_until(&alone, deadline).await);
                    }),
            )
            .await;
            return;
        }
        Settled::Whole(reply) => {
            // The batch as a whole was refused: shed by a leader at its bound of writes
            // (503 `overloaded`, with when to retry), or refused as malformed (it should
            // not be: the frontend validated every order); every order gets that answer.
            for (_, _, answer) in waiting {
                let _ = answer.send(Ok(reply.clone()));
            }
            return;
        }
    };
    let mut resends = Vec::new();
    for ((alone, deadline, reply), answer) in waiting.into_iter().zip(answers) {
        if resend_alone(&answer) {
            // The leader moved while the batch was being proposed, or could not confirm
            // this order within its write deadline (it may still commit): the order goes
            // again alone, with its key, until its own deadline, exactly as a single
            // order is retried. Its client gets its first outcome, and a cached read of
            // the product is invalidated before the answer, not left for the feed.
            resends.push(async move {
                let _ = reply.send(backend.rewrite_until(&alone, deadline).await);
            });
        } else {
            let _ = reply.send(Ok(answer));
        }
    }
    // Answered orders are not held behind the resends, nor the resends behind each other.
    join_all(resends).await;
}

/// A batch answers within the earliest of its orders' deadlines.
fn batch_deadline(batch: &[PendingOrder]) -> Instant {
    batch
        .iter()
        .map(|p| p.deadline)
        .min()
        .unwrap_or_else(Instant::now)
}

/// Whether an order's own answer in a batch sends it again alone: the leader moved while
/// the batch was proposed (421), or could not confirm the order in time (5xx; it may still
/// commit, and its key makes the resend safe). 507 is an answer: the `nospace` alarm.
fn resend_alone(answer: &NodeReply) -> bool {
    retryable(answer.status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use std::time::Duration;

    fn pending(deadline: Instant) -> PendingOrder {
        PendingOrder {
            item: KeyedOrder {
                key: "k".into(),
                order: OrderRequest {
                    name: "Tux".into(),
                    quantity: 1,
                },
            },
            alone: WriteRequest {
                method: Method::POST,
                path_and_query: "/orders".into(),
                body: Bytes::new(),
                headers: HeaderMap::new(),
            },
            deadline,
            reply: oneshot::channel().0,
        }
    }

    #[test]
    fn a_batch_keeps_to_its_earliest_deadline() {
        let now = Instant::now();
        let batch: Vec<_> = [3, 1, 2]
            .into_iter()
            .map(|s| pending(now + Duration::from_secs(s)))
            .collect();
        assert_eq!(batch_deadline(&batch), now + Duration::from_secs(1));
    }

    #[test]
    fn only_orders_the_leader_did_not_settle_go_again_alone() {
        let answer = |status| NodeReply {
            status,
            body: Bytes::new(),
            index: None,
            leader_header: None,
        };
        for status in [
            StatusCode::MISDIRECTED_REQUEST,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert!(resend_alone(&answer(status)), "{status}");
        }
        for status in [
            StatusCode::CREATED,
            StatusCode::CONFLICT,
            StatusCode::NOT_FOUND,
            StatusCode::INSUFFICIENT_STORAGE,
        ] {
            assert!(!resend_alone(&answer(status)), "{status}");
        }
    }
}
