//! Product lookups to the nodes in batches: the lookups that arrive while earlier ones are
//! in flight go together in one `POST /lookup` to any node, answered at one linearizable
//! read, so the frontend and the node pay one HTTP exchange and one read index for many.
//! Each lookup gets exactly the answer `GET /products/{name}` gives at that read.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderValue;
use bazaar_api::{ProductLookup, MAX_LOOKUPS_PER_BATCH};
use bytes::Bytes;
use futures::future::join_all;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, BackendError, NodeReply};
use crate::batching::{self, settle, BatchLimits, BatchQueue, Settled};
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
    let (names, slots) = each_name_once(batch.iter().map(|p| p.name.as_str()));
    let unique = names.len();
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
    match settle(reply, unique) {
        Settled::Each(answers) => {
            for (p, slot) in batch.into_iter().zip(slots) {
                let _ = p.reply.send(Ok(answers[slot].clone()));
            }
        }
        Settled::OneByOne => {
            // A node from before batched lookups: each on its own.
            join_all(batch.into_iter().map(|p| async move {
                let answer = alone(backend, &p).await;
                let _ = p.reply.send(answer);
            }))
            .await;
        }
        Settled::Whole(reply) => {
            for p in batch {
                let _ = p.reply.send(Ok(reply.clone()));
            }
        }
    }
}

/// Each name once, in first-seen order, and each lookup's place among them: lookups of
/// one name in one batch share its answer.
fn each_name_once<'a>(lookups: impl Iterator<Item = &'a str>) -> (Vec<String>, Vec<usize>) {
    let mut names: Vec<String> = Vec::new();
    let mut position: HashMap<&'a str, usize> = HashMap::new();
    let slots = lookups
        .map(|name| {
            *position.entry(name).or_insert_with(|| {
                names.push(name.to_owned());
                names.len() - 1
            })
        })
        .collect();
    (names, slots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_asked_once_and_every_lookup_finds_its_answer() {
        let (names, slots) = each_name_once(["Tux", "Gnu", "Tux", "Ferris", "Gnu"].into_iter());
        assert_eq!(names, vec!["Tux", "Gnu", "Ferris"]);
        assert_eq!(slots, vec![0, 1, 0, 2, 1]);
    }
}
