//! Linearizable reads, batched: one leadership confirmation serves every read that was
//! waiting when it was issued (never one that arrived later). Followers get their read index
//! from the leader over the `raft` listener, batched the same way.

use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::api::LeaderHint;
use crate::net::ReadIndexClient;
use crate::types::{NodeId, Raft};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ReadIndexError {
    #[error("this node is not the leader")]
    NotLeader(Option<LeaderHint>),
    #[error("no read index: {0}")]
    Unavailable(String),
}

struct Waiter {
    /// Set for requests from followers: answer from this node's leadership or not at all,
    /// so two nodes that each think the other leads cannot bounce a request forever.
    local_only: bool,
    reply: oneshot::Sender<Result<u64, ReadIndexError>>,
}

#[derive(Clone)]
pub struct ReadIndexer {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl ReadIndexer {
    pub fn spawn(raft: Raft, my_id: NodeId, peers: ReadIndexClient, deadline: Duration) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(rx, raft, my_id, peers, deadline));
        Self { tx }
    }

    /// A read index for a read that arrived before this call: wait until applied, then read.
    pub async fn read_index(&self) -> Result<u64, ReadIndexError> {
        self.ask(false).await
    }

    /// The same, served only if this node is the leader (the peer RPC).
    pub async fn leader_read_index(&self) -> Result<u64, ReadIndexError> {
        self.ask(true).await
    }

    async fn ask(&self, local_only: bool) -> Result<u64, ReadIndexError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Waiter { local_only, reply })
            .map_err(|_| ReadIndexError::Unavailable("node is shutting down".into()))?;
        rx.await
            .map_err(|_| ReadIndexError::Unavailable("node is shutting down".into()))?
    }
}

async fn batch_loop(
    mut rx: mpsc::UnboundedReceiver<Waiter>,
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
            .zip(leader_node.clone())
            .map(|(id, n)| LeaderHint { id, api: n.api });
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

async fn confirm_leadership(raft: &Raft, deadline: Duration) -> Result<u64, ReadIndexError> {
    match tokio::time::timeout(deadline, raft.get_read_log_id()).await {
        Err(_) => Err(ReadIndexError::Unavailable(
            "leadership not confirmed by a quorum within the read deadline".into(),
        )),
        Ok(Ok((read_log_id, _applied))) => Ok(read_log_id.map(|l| l.index).unwrap_or(0)),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
            let hint = f
                .leader_id
                .zip(f.leader_node)
                .map(|(id, n)| LeaderHint { id, api: n.api });
            Err(ReadIndexError::NotLeader(hint))
        }
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
            Err(ReadIndexError::Unavailable(e.to_string()))
        }
        Ok(Err(RaftError::Fatal(e))) => Err(ReadIndexError::Unavailable(e.to_string())),
    }
}
