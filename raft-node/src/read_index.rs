//! Linearizable reads, batched: one leadership confirmation serves every read that was
//! waiting when it was issued (never one that arrived later). Followers get their read index
//! from the leader over the `raft` listener, batched the same way. The queue is bounded:
//! past it a read is refused at once rather than waiting behind thousands of others.

use std::time::Duration;

use bazaar_api::peer::{ReadIndexError, ReadIndexReply};
use bazaar_api::LeaderHint;
use openraft::error::{CheckIsLeaderError, RaftError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::leadership::hint_of;
use crate::net::ReadIndexClient;
use crate::types::{NodeId, Raft};

/// Reads waiting for a read index on one node, at most.
pub const MAX_WAITING_READS: usize = 16 * 1024;

struct Waiter {
    /// Set for requests from followers: answer from this node's leadership or not at all,
    /// so two nodes that each think the other leads cannot bounce a request forever.
    local_only: bool,
    reply: oneshot::Sender<ReadIndexReply>,
}

#[derive(Clone)]
pub struct ReadIndexer {
    tx: mpsc::Sender<Waiter>,
}

impl ReadIndexer {
    pub fn spawn(
        raft: Raft,
        my_id: NodeId,
        peers: ReadIndexClient,
        deadline: Duration,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(MAX_WAITING_READS);
        tasks.spawn(async move {
            tokio::select! {
                _ = batch_loop(rx, raft, my_id, peers, deadline) => {}
                _ = stop.cancelled() => {}
            }
        });
        Self { tx }
    }

    /// A read index for a read that arrived before this call: wait until applied, then read.
    pub async fn read_index(&self) -> ReadIndexReply {
        self.ask(false).await
    }

    /// The same, served only if this node is the leader (the peer RPC).
    pub async fn leader_read_index(&self) -> ReadIndexReply {
        self.ask(true).await
    }

    async fn ask(&self, local_only: bool) -> ReadIndexReply {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Waiter { local_only, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ReadIndexError::Overloaded(MAX_WAITING_READS),
                mpsc::error::TrySendError::Closed(_) => {
                    ReadIndexError::Unavailable("node is shutting down".into())
                }
            })?;
        rx.await
            .map_err(|_| ReadIndexError::Unavailable("node is shutting down".into()))?
    }
}

async fn batch_loop(
    mut rx: mpsc::Receiver<Waiter>,
    raft: Raft,
    my_id: NodeId,
    peers: ReadIndexClient,
    deadline: Duration,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(w) = rx.try_recv() {
            waiters.push(w);
        }
        let (leader, leader_node) = {
            let m = raft.metrics();
            let m = m.borrow();
            let leader = m.current_leader;
            let node = leader.and_then(|l| m.membership_config.membership().get_node(&l).cloned());
            (leader, node)
        };
        if leader == Some(my_id) {
            let result = confirm_leadership(&raft, deadline).await;
            for w in waiters {
                let _ = w.reply.send(result.clone());
            }
            continue;
        }
        let hint = leader
            .zip(leader_node.as_ref())
            .map(|(id, n)| LeaderHint::new(id, n.api.clone()));
        let (local, forward): (Vec<_>, Vec<_>) = waiters.into_iter().partition(|w| w.local_only);
        for w in local {
            let _ = w.reply.send(Err(ReadIndexError::NotLeader(hint.clone())));
        }
        if forward.is_empty() {
            continue;
        }
        let result = match (leader, leader_node) {
            (Some(id), Some(node)) => peers.read_index(id, &node, deadline).await,
            _ => Err(ReadIndexError::Unavailable("no leader is known".into())),
        };
        for w in forward {
            let _ = w.reply.send(result.clone());
        }
    }
}

async fn confirm_leadership(raft: &Raft, deadline: Duration) -> ReadIndexReply {
    match tokio::time::timeout(deadline, raft.get_read_log_id()).await {
        Err(_) => Err(ReadIndexError::Unavailable(
            "leadership not confirmed by a quorum within the read deadline".into(),
        )),
        Ok(Ok((read_log_id, _applied))) => Ok(read_log_id.map(|l| l.index).unwrap_or(0)),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
            Err(ReadIndexError::NotLeader(hint_of(&f)))
        }
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
            Err(ReadIndexError::Unavailable(e.to_string()))
        }
        Ok(Err(RaftError::Fatal(e))) => Err(ReadIndexError::Unavailable(e.to_string())),
    }
}
