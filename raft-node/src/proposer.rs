//! Group commit in front of openraft 0.9's `client_write`: commands that arrive while one
//! proposal is in flight are packed into the next log entry (`Command::Batch`), so the
//! leader pays one fsync and one replication round per batch, not per order.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::LeaderHint;
use bazaar_service::Step;
use openraft::error::ClientWriteError;
use openraft::raft::ClientWriteResponse;
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::fail_stop::{StorageHealth, StoragePart};
use crate::leadership::{hint_of, Leadership};
use crate::shop::{Command, CommandResult};
use crate::timings::NodeTimings;
use crate::types::{NodeAddr, NodeId, Raft, TypeConfig};

/// What openraft reports for one proposal.
type ClientWriteResult =
    Result<ClientWriteResponse<TypeConfig>, ClientWriteError<NodeId, NodeAddr>>;

/// Most commands packed into one log entry.
const MAX_BATCH: usize = 2048;
/// Proposals whose outcome is awaited at once. Entries are still proposed one after
/// another in arrival order; more than one only overlaps their round trips. Measured with
/// scripts/bench.sh: 2 gave no gain over 1 (openraft 0.9 flushes each append on its own),
/// and one batch in flight packs the most orders per entry. Measured again with the
/// frontend's batches (BENCHMARKS.md): 2 lost 5-30 % of the order throughput and cost
/// 15-25 % more CPU per order.
const IN_FLIGHT: usize = 1;
/// Queue length before callers wait for room.
const QUEUE: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("this node is not the leader")]
    NotLeader(Option<LeaderHint>),
    /// The write may or may not have happened; retrying with the same request id is safe.
    #[error("write not confirmed: {0}")]
    Unavailable(String),
    /// This node's storage failed: it takes no writes and is about to exit. Nothing of this
    /// write was proposed here; another node may take it.
    #[error("{0}")]
    StorageFailed(String),
}

/// A command's result, with the index of the log entry that carried it: the state an
/// answer reflects, which callers pass on so caches can order it against other answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub result: CommandResult,
    pub index: u64,
}

type Reply = oneshot::Sender<Result<Applied, WriteError>>;

struct Proposal {
    command: Command,
    reply: Reply,
    queued_at: Instant,
}

#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Proposal>,
    deadline: Duration,
    /// While true, proposals queue instead of being proposed (a leadership transfer).
    paused: Arc<watch::Sender<bool>>,
    /// The slots of proposals whose outcome is awaited.
    in_flight: Arc<Semaphore>,
    health: StorageHealth,
}

/// Holds the proposer paused; dropping it lets the queued proposals go.
pub struct PauseGuard {
    paused: Arc<watch::Sender<bool>>,
}

impl Drop for PauseGuard {
    fn drop(&mut self) {
        self.paused.send_replace(false);
    }
}

impl Proposer {
    /// `deadline`: how long a write may wait for commit; `quorum_lost_after`: a leader that
    /// has not heard from a quorum for this long refuses writes at once instead of queueing.
    /// `timings`: where the `queue` and `raft_write` steps are recorded; `health`: once the
    /// node's storage failed, writes are refused, and a fatal error of openraft's is
    /// recorded there.
    pub fn spawn(
        raft: Raft,
        deadline: Duration,
        quorum_lost_after: Duration,
        timings: &NodeTimings,
        health: StorageHealth,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let paused = Arc::new(watch::Sender::new(false));
        let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
        let loop_state = BatchLoop {
            raft,
            deadline,
            quorum_lost_after,
            tasks: tasks.clone(),
            paused: paused.subscribe(),
            in_flight: in_flight.clone(),
            queue_timing: timings.queue.clone(),
            write_timing: timings.raft_write.clone(),
            health: health.clone(),
        };
        tasks.spawn(async move {
            tokio::select! {
                _ = batch_loop(rx, loop_state) => {}
                _ = stop.cancelled() => {}
            }
        });
        Self {
            tx,
            deadline,
            paused,
            in_flight,
            health,
        }
    }

    /// Stops proposing (proposals queue, unanswered) until the guard is dropped, and
    /// returns once every proposal already made has its outcome.
    pub async fn pause(&self) -> PauseGuard {
        self.paused.send_replace(true);
        let guard = PauseGuard {
            paused: self.paused.clone(),
        };
        // All slots free: nothing proposed is still waiting for its commit.
        if let Ok(all) = self.in_flight.acquire_many(IN_FLIGHT as u32).await {
            drop(all);
        }
        guard
    }

    /// Proposes `command` and waits for its applied result, at most the write deadline.
    pub async fn propose(&self, command: Command) -> Result<Applied, WriteError> {
        self.health
            .check()
            .map_err(|f| WriteError::StorageFailed(f.to_string()))?;
        let (reply, rx) = oneshot::channel();
        let shutting_down = || WriteError::Unavailable("node is shutting down".into());
        let wait = async {
            self.tx
                .send(Proposal {
                    command,
                    reply,
                    queued_at: Instant::now(),
                })
                .await
                .map_err(|_| shutting_down())?;
            rx.await.map_err(|_| shutting_down())?
        };
        match tokio::time::timeout(self.deadline, wait).await {
            Ok(result) => result,
            Err(_) => Err(WriteError::Unavailable(format!(
                "not committed within {} ms",
                self.deadline.as_millis()
            ))),
        }
    }
}

/// What the batching task works with.
struct BatchLoop {
    raft: Raft,
    deadline: Duration,
    quorum_lost_after: Duration,
    tasks: TaskTracker,
    paused: watch::Receiver<bool>,
    in_flight: Arc<Semaphore>,
    queue_timing: Step,
    write_timing: Step,
    health: StorageHealth,
}

async fn batch_loop(mut rx: mpsc::Receiver<Proposal>, mut l: BatchLoop) {
    let BatchLoop {
        ref raft,
        deadline,
        quorum_lost_after,
        ref tasks,
        ref in_flight,
        ref queue_timing,
        ref write_timing,
        ref health,
        ..
    } = l;
    while let Some(first) = rx.recv().await {
        // During a leadership transfer nothing is proposed; afterwards this node no longer
        // leads, and the batch is answered with where the leader went.
        // Wait for a free slot before gathering, so a batch takes everything that queued
        // while the slots were busy. A pause may begin while this waits (the pause takes
        // every slot, then gives them back): check it again once the slot is held, or a
        // proposal would go out after `pause` returned.
        let slot = loop {
            if l.paused.wait_for(|paused| !paused).await.is_err() {
                return;
            }
            let Ok(slot) = in_flight.clone().acquire_owned().await else {
                return;
            };
            if !*l.paused.borrow() {
                break slot;
            }
        };
        let mut proposals = vec![first];
        while proposals.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => proposals.push(p),
                Err(_) => break,
            }
        }
        if let Err(failed) = health.check() {
            reply_all(
                proposals,
                Err(WriteError::StorageFailed(failed.to_string())),
            );
            continue;
        }
        let leadership = Leadership::of(raft);
        if !leadership.is_leader {
            reply_all(proposals, Err(WriteError::NotLeader(leadership.hint)));
            continue;
        }
        if leadership.quorum_lost(quorum_lost_after) {
            reply_all(
                proposals,
                Err(WriteError::Unavailable(
                    "the leader has lost contact with a quorum".into(),
                )),
            );
            continue;
        }
        let proposing = Instant::now();
        for p in &proposals {
            queue_timing.record(proposing.saturating_duration_since(p.queued_at));
        }
        let (mut commands, replies): (Vec<_>, Vec<_>) =
            proposals.into_iter().map(|p| (p.command, p.reply)).unzip();
        let command = if commands.len() == 1 {
            commands.remove(0)
        } else {
            Command::Batch(commands)
        };
        // Proposed here, in arrival order; only the wait for the outcome runs alongside the
        // next batches.
        let receiver = match raft.client_write_ff(command).await {
            Ok(rx) => rx,
            Err(fatal) => {
                // openraft stopped its core (it does on any storage error): the node is done.
                health.record(StoragePart::Raft, &fatal);
                reply_each(replies, Err(WriteError::StorageFailed(fatal.to_string())));
                continue;
            }
        };
        let write_timing = write_timing.clone();
        tasks.spawn(async move {
            let outcome = outcome(receiver, deadline).await;
            write_timing.record_since(proposing);
            drop(slot);
            distribute(replies, outcome);
        });
    }
}

fn distribute(replies: Vec<Reply>, outcome: Result<Applied, WriteError>) {
    match outcome {
        Ok(Applied {
            result: CommandResult::Batch(results),
            index,
        }) if replies.len() > 1 && results.len() == replies.len() => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(Applied { result, index }));
            }
        }
        Ok(result) if replies.len() == 1 => reply_each(replies, Ok(result)),
        Ok(other) => {
            tracing::error!(result = ?other, "batch result does not match the batch");
            reply_each(
                replies,
                Err(WriteError::Unavailable("internal batch mismatch".into())),
            );
        }
        Err(e) => reply_each(replies, Err(e)),
    }
}

fn reply_each(replies: Vec<Reply>, result: Result<Applied, WriteError>) {
    for reply in replies {
        let _ = reply.send(result.clone());
    }
}

fn reply_all(proposals: Vec<Proposal>, result: Result<Applied, WriteError>) {
    for p in proposals {
        let _ = p.reply.send(result.clone());
    }
}

/// The outcome of one proposal: replicated, committed and applied; or given up after
/// `deadline` (then it may still commit later: callers retry with the same request id).
async fn outcome<R, E>(receiver: R, deadline: Duration) -> Result<Applied, WriteError>
where
    R: Future<Output = Result<ClientWriteResult, E>>,
{
    match tokio::time::timeout(deadline, receiver).await {
        Err(_) => Err(WriteError::Unavailable(format!(
            "not committed within {} ms",
            deadline.as_millis()
        ))),
        Ok(Err(_)) => Err(WriteError::Unavailable("raft dropped the proposal".into())),
        Ok(Ok(Ok(response))) => Ok(Applied {
            result: response.data,
            index: response.log_id.index,
        }),
        Ok(Ok(Err(ClientWriteError::ForwardToLeader(f)))) => {
            Err(WriteError::NotLeader(hint_of(&f)))
        }
        Ok(Ok(Err(e))) => Err(WriteError::Unavailable(e.to_string())),
    }
}
