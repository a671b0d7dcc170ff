//! Product lookups to the nodes in batches: the lookups that arrive while earlier ones are
//! in flight go together in one `POST /lookup` to any node, answered at one linearizable
//! read, so the frontend and the node pay one HTTP exchange and one read index for many.
//! Each lookup gets exactly the answer `GET /products/{name}` gives at that read.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode};
use bazaar_api::{ProductLookup, MAX_LOOKUPS_PER_BATCH};
use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{batch_answers, Backend, BackendError, NodeReply};
use crate::batching::{self, BatchLimits, BatchQueue};
use crate::cache::CacheKey;

/// Batches sent at once. Fewer in flight make larger batches: measured with 4, 8 and 16
/// (BENCHMARKS.md), 4 gave the most lookups per second and the least CPU per lookup.
const IN_FLIGHT: usize = 4;

type Answer = Result<NodeReply, BackendError>;

struct PendingLookup {
    name: String,
    /// The request id of the client's request, sent when the lookup goes alone.
    request_id: Option<HeaderValue>,
    reply: oneshot::Sender<Answer>,
}

/// Hands lookups to the batching task; cheap to clone.
#[derive(Clone)]
pub struct LookupBatcher {
    queue: BatchQueue<PendingLookup>,
    backend: Arc<Backend>,
}

impl LookupBatcher {
    pub fn spawn(backend: Arc<Backend>, tasks: &TaskTracker, stop: CancellationToken) -> Self {
        let limits = BatchLimits {
            in_flight: IN_FLIGHT,
            max_items: MAX_LOOKUPS_PER_BATCH,
        };
        let queue = batching::spawn(&backend, limits, tasks, stop, |backend, batch| async move {
            forward(&backend, batch).await
        });
        Self { queue, backend }
    }

    /// A linearizable lookup of product `name` (already validated), as a node answers
    /// `GET /products/{name}`.
    pub async fn lookup(&self, name: &str, request_id: Option<&HeaderValue>) -> Answer {
        let (reply, answer) = oneshot::channel();
        let pending = PendingLookup {
            name: name.to_owned(),
            request_id: request_id.cloned(),
            reply,
        };
        if let Err(mpsc::error::SendError(pending)) = self.queue.submit(pending).await {
            // The batching task has stopped (shutting down): look it up alone.
            return alone(&self.backend, &pending).await;
        }
        match answer.await {
            Ok(answer) => answer,
            Err(_) => Err(self
                .backend
                .unavailable("the frontend is shutting down".into())),
        }
    }
}

async fn alone(backend: &Backend, p: &PendingLookup) -> Answer {
    backend
        .read(
            &CacheKey::Product(p.name.clone()).node_path(),
            p.request_id.as_ref(),
        )
        .await
}

async fn forward(backend: &Backend, mut batch: Vec<PendingLookup>) {
    if batch.len() == 1 {
        if let Some(p) = batch.pop() {
            let answer = alone(backend, &p).await;
            let _ = p.reply.send(answer);
        }
        return;
    }
    // Each name once: lookups of one name in one batch share its answer.
    let mut names: Vec<String> = Vec::new();
    let mut position: HashMap<String, usize> = HashMap::new();
    let slots: Vec<usize> = batch
        .iter()
        .map(|p| {
            *position.entry(p.name.clone()).or_insert_with(|| {
                names.push(p.name.clone());
                names.len() - 1
            })
        })
        .collect();
    let body = match serde_json::to_vec(&ProductLookup { names }) {
        Ok(body) => Bytes::from(body),
        Err(e) => {
            let err = backend.unavailable(format!("cannot encode a lookup batch: {e}"));
            for p in batch {
                let _ = p.reply.send(Err(err.clone()));
            }
            return;
        }
    };
    let reply = match backend.read_batch(bazaar_api::LOOKUP_PATH, body).await {
        Ok(reply) => reply,
        Err(err) => {
            for p in batch {
                let _ = p.reply.send(Err(err.clone()));
            }
            return;
        }
    };
    match batch_answers(&reply, position.len()) {
        Some(answers) => {
            for (p, slot) in batch.into_iter().zip(slots) {
                let _ = p.reply.send(Ok(answers[slot].clone()));
            }
        }
        None if matches!(
            reply.status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) =>
        {
            // A node from before batched lookups: each on its own.
            join_all(batch.into_iter().map(|p| async move {
                let answer = alone(backend, &p).await;
                let _ = p.reply.send(answer);
            }))
            .await;
        }
        None => {
            for p in batch {
                let _ = p.reply.send(Ok(reply.clone()));
            }
        }
    }
}
