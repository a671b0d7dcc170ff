//! Linearizable reads, batched: one leadership confirmation serves every read that was
//! waiting when it was issued (never one that arrived later). Followers get their read index
//! from the leader over the `raft` listener, batched the same way. The queue is bounded:
//! past it a read is refused at once rather than waiting behind thousands of others.

use std::future::Future;
use std::time::Duration;

use bazaar_api::peer::{ReadIndexError, ReadIndexReply};
use bazaar_api::LeaderHint;
use bazaar_service::batch::next_batch;
use openraft::error::{CheckIsLeaderError, RaftError};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::leadership::hint_of;
use crate::net::ReadIndexClient;
use crate::types::{LogId, NodeAddr, NodeId, Raft};

/// Reads waiting for a read index on one node, at most.
pub const MAX_WAITING_READS: usize = 16 * 1024;

struct Waiter {
    /// Set for requests from followers: answer from this node's leadership or not at all,
    /// so two nodes that each think the other leads cannot bounce a request forever.
    local_only: bool,
    reply: oneshot::Sender<ReadIndexReply>,
}

/// Where read indexes come from: this node's leadership, confirmed by a quorum, or the
/// leader's answer to the peer RPC. [`RaftReads`] is the one used; the unit tests give the
/// batching task a scripted one, so they pin which reads a confirmation serves.
pub trait ReadSource: Send + Sync + 'static {
    /// The leader this node knows of, and its addresses when it is a member.
    fn leader(&self) -> (Option<NodeId>, Option<NodeAddr>);
    /// A read index from this node's own leadership, confirmed by a quorum within `deadline`.
    fn confirm(&self, deadline: Duration) -> impl Future<Output = ReadIndexReply> + Send;
    /// The leader's read index, asked over the peer RPC within `deadline`.
    fn ask_leader(
        &self,
        leader: NodeId,
        node: NodeAddr,
        deadline: Duration,
    ) -> impl Future<Output = ReadIndexReply> + Send;
}

/// openraft and the peer client: the read indexes of a running node.
pub struct RaftReads {
    pub raft: Raft,
    pub peers: ReadIndexClient,
}

impl ReadSource for RaftReads {
    fn leader(&self) -> (Option<NodeId>, Option<NodeAddr>) {
        let m = self.raft.metrics();
        let m = m.borrow();
        let leader = m.current_leader;
        let node = leader.and_then(|l| m.membership_config.membership().get_node(&l).cloned());
        (leader, node)
    }

    async fn confirm(&self, deadline: Duration) -> ReadIndexReply {
        confirmed(
            tokio::time::timeout(deadline, self.raft.get_read_log_id())
                .await
                .ok(),
        )
    }

    async fn ask_leader(
        &self,
        leader: NodeId,
        node: NodeAddr,
        deadline: Duration,
    ) -> ReadIndexReply {
        self.peers.read_index(leader, &node, deadline).await
    }
}

#[derive(Clone)]
pub struct ReadIndexer {
    tx: mpsc::Sender<Waiter>,
    /// The queue's length: past it a read is refused as overloaded.
    limit: usize,
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
        let source = RaftReads { raft, peers };
        Self::spawn_with(source, my_id, deadline, MAX_WAITING_READS, tasks, stop)
    }

    /// The batching task over any `source`, with at most `limit` reads waiting.
    pub fn spawn_with(
        source: impl ReadSource,
        my_id: NodeId,
        deadline: Duration,
        limit: usize,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(limit);
        tasks.spawn(async move {
            tokio::select! {
                _ = batch_loop(rx, source, my_id, deadline, limit) => {}
                _ = stop.cancelled() => {}
            }
        });
        Self { tx, limit }
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
                mpsc::error::TrySendError::Full(_) => ReadIndexError::Overloaded(self.limit),
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
    source: impl ReadSource,
    my_id: NodeId,
    deadline: Duration,
    limit: usize,
) {
    // Every read waiting now goes in this batch: the answer is obtained after each of
    // them arrived. Reads arriving meanwhile wait for the next one.
    while let Some((waiters, ())) = next_batch(&mut rx, limit, || async { Some(()) }).await {
        let (leader, leader_node) = source.leader();
        if leader == Some(my_id) {
            let result = source.confirm(deadline).await;
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
            (Some(id), Some(node)) => source.ask_leader(id, node, deadline).await,
            _ => Err(ReadIndexError::Unavailable("no leader is known".into())),
        };
        for w in forward {
            let _ = w.reply.send(result.clone());
        }
    }
}

/// What openraft's leadership check answers: the read log id and the applied one.
type LeaderCheck =
    Result<(Option<LogId>, Option<LogId>), RaftError<NodeId, CheckIsLeaderError<NodeId, NodeAddr>>>;

/// The read index a leadership check gave; `None`: it took past the deadline.
fn confirmed(answer: Option<LeaderCheck>) -> ReadIndexReply {
    match answer {
        None => Err(ReadIndexError::Unavailable(
            "leadership not confirmed by a quorum within the read deadline".into(),
        )),
        Some(Ok((read_log_id, _applied))) => Ok(read_log_id.map(|l| l.index).unwrap_or(0)),
        Some(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
            Err(ReadIndexError::NotLeader(hint_of(&f)))
        }
        Some(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
            Err(ReadIndexError::Unavailable(e.to_string()))
        }
        Some(Err(RaftError::Fatal(e))) => Err(ReadIndexError::Unavailable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    //! The batching task against a scripted source: the test decides who leads and when
    //! each confirmation or peer answer comes.

    use super::*;
    use std::sync::{Arc, Mutex};

    use openraft::error::ForwardToLeader;
    use tokio::task::JoinHandle;

    const ME: NodeId = 1;

    /// A confirmation or peer request the task made, for the test to answer.
    #[derive(Debug)]
    enum Asked {
        Confirm(oneshot::Sender<ReadIndexReply>),
        Leader(NodeId, oneshot::Sender<ReadIndexReply>),
    }

    struct Script {
        leader: Mutex<Option<NodeId>>,
        asked: mpsc::UnboundedSender<Asked>,
    }

    fn addr(id: NodeId) -> NodeAddr {
        NodeAddr {
            api: format!("127.0.0.1:700{id}"),
            raft: format!("127.0.0.1:800{id}"),
        }
    }

    async fn answer(rx: oneshot::Receiver<ReadIndexReply>) -> ReadIndexReply {
        rx.await
            .unwrap_or_else(|_| Err(ReadIndexError::Unavailable("script dropped".into())))
    }

    impl ReadSource for Arc<Script> {
        fn leader(&self) -> (Option<NodeId>, Option<NodeAddr>) {
            let leader = *self.leader.lock().unwrap();
            (leader, leader.map(addr))
        }

        fn confirm(&self, _deadline: Duration) -> impl Future<Output = ReadIndexReply> + Send {
            let (tx, rx) = oneshot::channel();
            let _ = self.asked.send(Asked::Confirm(tx));
            answer(rx)
        }

        fn ask_leader(
            &self,
            leader: NodeId,
            _node: NodeAddr,
            _deadline: Duration,
        ) -> impl Future<Output = ReadIndexReply> + Send {
            let (tx, rx) = oneshot::channel();
            let _ = self.asked.send(Asked::Leader(leader, tx));
            answer(rx)
        }
    }

    struct Harness {
        reads: ReadIndexer,
        script: Arc<Script>,
        asked: mpsc::UnboundedReceiver<Asked>,
        stop: CancellationToken,
    }

    fn start(limit: usize) -> Harness {
        let (tx, asked) = mpsc::unbounded_channel();
        let script = Arc::new(Script {
            leader: Mutex::new(Some(ME)),
            asked: tx,
        });
        let stop = CancellationToken::new();
        let reads = ReadIndexer::spawn_with(
            script.clone(),
            ME,
            Duration::from_secs(1),
            limit,
            &TaskTracker::new(),
            stop.clone(),
        );
        Harness {
            reads,
            script,
            asked,
            stop,
        }
    }

    fn read(h: &Harness, local_only: bool) -> JoinHandle<ReadIndexReply> {
        let reads = h.reads.clone();
        tokio::spawn(async move { reads.ask(local_only).await })
    }

    async fn next_ask(h: &mut Harness) -> Asked {
        tokio::time::timeout(Duration::from_secs(5), h.asked.recv())
            .await
            .expect("asked within 5 s")
            .expect("the script is alive")
    }

    /// True if, once every task waits, the batching task asked nothing: the runtime has
    /// one thread and the script waits on no I/O, so yielding a while lets every task that
    /// can run do so.
    async fn nothing_asked(h: &mut Harness) -> bool {
        for _ in 0..64 {
            tokio::task::yield_now().await;
        }
        h.asked.try_recv().is_err()
    }

    /// The rule that makes the reads linearizable: a confirmation serves the reads that
    /// were waiting when it was issued, never one that arrived while it was under way.
    #[tokio::test]
    async fn a_confirmation_serves_only_the_reads_that_were_waiting_when_it_was_issued() {
        let mut h = start(16);
        let early = read(&h, false);
        let Asked::Confirm(first) = next_ask(&mut h).await else {
            panic!("the leader asked a peer")
        };
        let late = [read(&h, false), read(&h, true)];
        assert!(
            nothing_asked(&mut h).await,
            "a second confirmation overlapped the first"
        );
        first.send(Ok(10)).unwrap();
        assert_eq!(early.await.unwrap(), Ok(10));
        let Asked::Confirm(second) = next_ask(&mut h).await else {
            panic!("the leader asked a peer")
        };
        second.send(Ok(12)).unwrap();
        for read in late {
            assert_eq!(read.await.unwrap(), Ok(12), "served by one confirmation");
        }
        assert!(nothing_asked(&mut h).await, "one confirmation per batch");
    }

    /// Leadership moves while reads wait: the confirmation under way fails, and the next
    /// batch goes to the new leader, except the followers' own requests, which may only be
    /// answered from this node's leadership.
    #[tokio::test]
    async fn a_step_down_while_reads_wait_sends_them_to_the_new_leader() {
        let mut h = start(16);
        let early = read(&h, false);
        let Asked::Confirm(first) = next_ask(&mut h).await else {
            panic!("the leader asked a peer")
        };
        let from_client = read(&h, false);
        let from_follower = read(&h, true);
        assert!(nothing_asked(&mut h).await);
        *h.script.leader.lock().unwrap() = Some(2);
        let moved = Err(ReadIndexError::NotLeader(Some(LeaderHint::new(
            2,
            "127.0.0.1:7002",
        ))));
        first.send(moved.clone()).unwrap();
        assert_eq!(early.await.unwrap(), moved);
        let Asked::Leader(asked, peer) = next_ask(&mut h).await else {
            panic!("a follower confirmed leadership itself")
        };
        assert_eq!(asked, 2);
        assert_eq!(
            from_follower.await.unwrap(),
            moved,
            "a peer request bounced on"
        );
        peer.send(Ok(20)).unwrap();
        assert_eq!(from_client.await.unwrap(), Ok(20));
    }

    #[tokio::test]
    async fn without_a_known_leader_reads_are_refused_at_once() {
        let mut h = start(16);
        *h.script.leader.lock().unwrap() = None;
        assert_eq!(
            read(&h, false).await.unwrap(),
            Err(ReadIndexError::Unavailable("no leader is known".into()))
        );
        assert_eq!(
            read(&h, true).await.unwrap(),
            Err(ReadIndexError::NotLeader(None))
        );
        assert!(nothing_asked(&mut h).await);
    }

    #[tokio::test]
    async fn past_the_queue_limit_a_read_is_refused_at_once_and_shutdown_ends_the_rest() {
        let mut h = start(2);
        let first = read(&h, false);
        let Asked::Confirm(_held) = next_ask(&mut h).await else {
            panic!("the leader asked a peer")
        };
        let queued = [read(&h, false), read(&h, false)];
        assert!(nothing_asked(&mut h).await);
        assert_eq!(
            h.reads.read_index().await,
            Err(ReadIndexError::Overloaded(2))
        );
        h.stop.cancel();
        let down = Err(ReadIndexError::Unavailable("node is shutting down".into()));
        assert_eq!(first.await.unwrap(), down);
        for read in queued {
            assert_eq!(read.await.unwrap(), down);
        }
    }

    #[test]
    fn openraft_leadership_answers_become_read_index_answers() {
        assert_eq!(confirmed(Some(Ok((None, None)))), Ok(0));
        assert!(matches!(
            confirmed(None),
            Err(ReadIndexError::Unavailable(why)) if why.contains("within the read deadline")
        ));
        let forward = ForwardToLeader::new(3, addr(3));
        assert_eq!(
            confirmed(Some(Err(RaftError::APIError(
                CheckIsLeaderError::ForwardToLeader(forward)
            )))),
            Err(ReadIndexError::NotLeader(Some(LeaderHint::new(
                3,
                "127.0.0.1:7003"
            ))))
        );
    }
}
