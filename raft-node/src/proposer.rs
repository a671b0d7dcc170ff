//! Group commit in front of openraft 0.9's `client_write`: commands that arrive while one
//! proposal is in flight are packed into the next log entry (`Command::Batch`), so the
//! leader pays one fsync and one replication round per batch, not per order.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::LeaderHint;
use bazaar_service::batch::next_batch;
use bazaar_service::Step;
use openraft::error::{ClientWriteError, Fatal};
use openraft::raft::ClientWriteResponse;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::fail_stop::{StorageHealth, StoragePart};
use crate::leadership::{hint_of, Leadership};
use crate::shop::{Command, CommandResult};
use crate::timings::NodeTimings;
use crate::types::{NodeAddr, NodeId, Raft, TypeConfig};

/// What openraft reports for one proposal.
pub type ClientWriteResult =
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

/// What the batching task needs of openraft: who leads, and a way to hand it an entry.
/// `Raft` is the one implementation; the unit tests give the task a scripted one, so the
/// interleavings of pauses, slots and outcomes run without a log or a network.
pub trait Consensus: Send + Sync + 'static {
    /// Leadership as openraft reports it now.
    fn leadership(&self) -> Leadership;
    /// Hands `command` to openraft's core in arrival order; the receiver answers once the
    /// entry is applied (or openraft gives up on it).
    fn write(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<oneshot::Receiver<ClientWriteResult>, Fatal<NodeId>>> + Send;
}

impl Consensus for Raft {
    fn leadership(&self) -> Leadership {
        Leadership::of(self)
    }

    fn write(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<oneshot::Receiver<ClientWriteResult>, Fatal<NodeId>>> + Send
    {
        self.client_write_ff(command)
    }
}

#[derive(Clone)]
pub struct Proposer {
    tx: mpsc::Sender<Proposal>,
    deadline: Duration,
    gate: Gate,
    health: StorageHealth,
}

/// When the batching task may propose: not while paused (a leadership transfer), and only
/// holding one of the `IN_FLIGHT` slots of proposals whose outcome is awaited.
#[derive(Clone)]
struct Gate {
    paused: Arc<watch::Sender<bool>>,
    slots: Arc<Semaphore>,
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

impl Gate {
    fn new() -> Self {
        Self {
            paused: Arc::new(watch::Sender::new(false)),
            slots: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// Pauses, and returns once no slot is held: every proposal made has its outcome.
    async fn pause(&self) -> PauseGuard {
        self.paused.send_replace(true);
        let guard = PauseGuard {
            paused: self.paused.clone(),
        };
        if let Ok(all) = self.slots.acquire_many(IN_FLIGHT as u32).await {
            drop(all);
        }
        guard
    }

    /// A slot to propose with, once not paused. A pause may begin while this waits for the
    /// slot (the pause takes every slot, then gives them back): it is checked again once the
    /// slot is held, or a proposal would go out after `pause` returned.
    async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        let mut paused = self.paused.subscribe();
        loop {
            paused.wait_for(|paused| !paused).await.ok()?;
            let slot = self.slots.clone().acquire_owned().await.ok()?;
            if !*paused.borrow() {
                return Some(slot);
            }
        }
    }
}

impl Proposer {
    /// `deadline`: how long a write may wait for commit; `quorum_lost_after`: a leader that
    /// has not heard from a quorum for this long refuses writes at once instead of queueing.
    /// `timings`: where the `queue` and `raft_write` steps are recorded; `health`: once the
    /// node's storage failed, writes are refused, and a fatal error of openraft's is
    /// recorded there.
    pub fn spawn(
        raft: impl Consensus,
        deadline: Duration,
        quorum_lost_after: Duration,
        timings: &NodeTimings,
        health: StorageHealth,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let gate = Gate::new();
        let loop_state = BatchLoop {
            raft,
            deadline,
            quorum_lost_after,
            tasks: tasks.clone(),
            gate: gate.clone(),
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
            gate,
            health,
        }
    }

    /// Stops proposing (proposals queue, unanswered) until the guard is dropped, and
    /// returns once every proposal already made has its outcome.
    pub async fn pause(&self) -> PauseGuard {
        self.gate.pause().await
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
            Err(_) => Err(not_committed(self.deadline)),
        }
    }
}

fn not_committed(deadline: Duration) -> WriteError {
    WriteError::Unavailable(format!("not committed within {} ms", deadline.as_millis()))
}

/// What the batching task works with.
struct BatchLoop<C> {
    raft: C,
    deadline: Duration,
    quorum_lost_after: Duration,
    tasks: TaskTracker,
    gate: Gate,
    queue_timing: Step,
    write_timing: Step,
    health: StorageHealth,
}

/// Why a gathered batch is answered without being proposed, if it is: the node's storage
/// failed, it does not lead (the answer says where the leader went, e.g. after a
/// transfer), or it leads without a quorum.
fn refusal(
    health: &StorageHealth,
    leadership: &Leadership,
    quorum_lost_after: Duration,
) -> Option<WriteError> {
    if let Err(failed) = health.check() {
        return Some(WriteError::StorageFailed(failed.to_string()));
    }
    if !leadership.is_leader {
        return Some(WriteError::NotLeader(leadership.hint.clone()));
    }
    if leadership.quorum_lost(quorum_lost_after) {
        return Some(WriteError::Unavailable(
            "the leader has lost contact with a quorum".into(),
        ));
    }
    None
}

/// One log entry for the commands of a batch: the command itself when it is alone.
fn pack(mut commands: Vec<Command>) -> Command {
    if commands.len() == 1 {
        commands.remove(0)
    } else {
        Command::Batch(commands)
    }
}

async fn batch_loop<C: Consensus>(mut rx: mpsc::Receiver<Proposal>, l: BatchLoop<C>) {
    let BatchLoop {
        ref raft,
        deadline,
        quorum_lost_after,
        ref tasks,
        ref gate,
        ref queue_timing,
        ref write_timing,
        ref health,
    } = l;
    // A slot is waited for before gathering, so a batch takes everything that queued while
    // the slots were busy or the proposer was paused.
    while let Some((proposals, slot)) = next_batch(&mut rx, MAX_BATCH, || gate.slot()).await {
        if let Some(refused) = refusal(health, &raft.leadership(), quorum_lost_after) {
            reply_all(proposals, Err(refused));
            continue;
        }
        let proposing = Instant::now();
        for p in &proposals {
            queue_timing.record(proposing.saturating_duration_since(p.queued_at));
        }
        let (commands, replies): (Vec<_>, Vec<_>) =
            proposals.into_iter().map(|p| (p.command, p.reply)).unzip();
        // Proposed here, in arrival order; only the wait for the outcome runs alongside the
        // next batches.
        let receiver = match raft.write(pack(commands)).await {
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
            let results = unpack(outcome, replies.len());
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        });
    }
}

/// Each command's result from its entry's outcome: a batch's results in order, all at the
/// entry's index; a failure, or a result that does not match the batch, for every one.
fn unpack(
    outcome: Result<Applied, WriteError>,
    commands: usize,
) -> Vec<Result<Applied, WriteError>> {
    match outcome {
        Ok(Applied {
            result: CommandResult::Batch(results),
            index,
        }) if commands > 1 && results.len() == commands => results
            .into_iter()
            .map(|result| Ok(Applied { result, index }))
            .collect(),
        Ok(result) if commands == 1 => vec![Ok(result)],
        Ok(other) => {
            tracing::error!(result = ?other, "batch result does not match the batch");
            vec![Err(WriteError::Unavailable("internal batch mismatch".into())); commands]
        }
        Err(e) => vec![Err(e); commands],
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
        Err(_) => Err(not_committed(deadline)),
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

#[cfg(test)]
mod tests {
    //! The batching task against a scripted openraft: the test decides who leads and when
    //! each entry's outcome comes. The runtime has one thread and the script waits on no
    //! I/O, so `settle` (yielding until every other task waits) makes "nothing was
    //! proposed" a real check rather than a guess about timing.

    use super::*;
    use std::sync::Mutex;

    use bazaar_service::metrics::prometheus_client::registry::Registry;
    use openraft::error::ForwardToLeader;
    use openraft::{CommittedLeaderId, LogId};
    use tokio::task::JoinHandle;

    type Written = (Command, oneshot::Sender<ClientWriteResult>);

    /// openraft as the proposer sees it: leadership set by the test, every write handed to
    /// the test to answer when it chooses, or refused as fatal.
    struct Script {
        leadership: Mutex<Leadership>,
        writes: mpsc::UnboundedSender<Written>,
        fatal: Mutex<bool>,
    }

    impl Consensus for Arc<Script> {
        fn leadership(&self) -> Leadership {
            self.leadership.lock().unwrap().clone()
        }

        fn write(
            &self,
            command: Command,
        ) -> impl Future<Output = Result<oneshot::Receiver<ClientWriteResult>, Fatal<NodeId>>> + Send
        {
            let (tx, rx) = oneshot::channel();
            let result = if *self.fatal.lock().unwrap() {
                Err(Fatal::Stopped)
            } else {
                let _ = self.writes.send((command, tx));
                Ok(rx)
            };
            async move { result }
        }
    }

    fn leading() -> Leadership {
        Leadership {
            leader: Some(1),
            hint: Some(LeaderHint::new(1, "127.0.0.1:7001")),
            is_leader: true,
            term: 3,
            millis_since_quorum_ack: Some(0),
        }
    }

    fn following(leader: NodeId) -> Leadership {
        Leadership {
            leader: Some(leader),
            hint: Some(LeaderHint::new(leader, format!("127.0.0.1:700{leader}"))),
            is_leader: false,
            term: 4,
            millis_since_quorum_ack: None,
        }
    }

    struct Harness {
        proposer: Proposer,
        script: Arc<Script>,
        writes: mpsc::UnboundedReceiver<Written>,
        health: StorageHealth,
    }

    const QUORUM_LOST_AFTER: Duration = Duration::from_secs(2);

    fn start(deadline: Duration) -> Harness {
        let (tx, writes) = mpsc::unbounded_channel();
        let script = Arc::new(Script {
            leadership: Mutex::new(leading()),
            writes: tx,
            fatal: Mutex::new(false),
        });
        let health = StorageHealth::default();
        let timings = NodeTimings::register(&mut Registry::default());
        let proposer = Proposer::spawn(
            script.clone(),
            deadline,
            QUORUM_LOST_AFTER,
            &timings,
            health.clone(),
            &TaskTracker::new(),
            CancellationToken::new(),
        );
        Harness {
            proposer,
            script,
            writes,
            health,
        }
    }

    /// A command told apart by `n`, and the result the test gives it.
    fn command(n: u64) -> Command {
        Command::RestockLow {
            threshold: n,
            amount: n,
        }
    }

    fn result(n: u64) -> CommandResult {
        CommandResult::Restocked(vec![n.to_string()])
    }

    fn applied(index: u64, data: CommandResult) -> ClientWriteResult {
        Ok(ClientWriteResponse {
            log_id: LogId::new(CommittedLeaderId::new(3, 1), index),
            data,
            membership: None,
        })
    }

    fn propose(h: &Harness, n: u64) -> JoinHandle<Result<Applied, WriteError>> {
        let proposer = h.proposer.clone();
        tokio::spawn(async move { proposer.propose(command(n)).await })
    }

    /// Lets every other task run until all wait: each yield lets every task that is ready
    /// run once, and no chain of hand-offs here is nearly this long.
    async fn settle() {
        for _ in 0..64 {
            tokio::task::yield_now().await;
        }
    }

    /// True if, once every task waits, nothing was handed to openraft.
    async fn quiet(writes: &mut mpsc::UnboundedReceiver<Written>) -> bool {
        settle().await;
        writes.try_recv().is_err()
    }

    async fn next_write(writes: &mut mpsc::UnboundedReceiver<Written>) -> Written {
        tokio::time::timeout(Duration::from_secs(5), writes.recv())
            .await
            .expect("a write within 5 s")
            .expect("the script is alive")
    }

    #[tokio::test]
    async fn commands_that_queue_behind_the_slot_in_use_share_the_next_entry() {
        let mut h = start(Duration::from_secs(60));
        let first = propose(&h, 1);
        let (entry, outcome) = next_write(&mut h.writes).await;
        assert_eq!(entry, command(1), "a command alone is its own entry");
        let second = propose(&h, 2);
        let third = propose(&h, 3);
        assert!(
            quiet(&mut h.writes).await,
            "proposed while the only slot was in use"
        );
        outcome.send(applied(7, result(1))).unwrap();
        let (entry, outcome) = next_write(&mut h.writes).await;
        assert_eq!(entry, Command::Batch(vec![command(2), command(3)]));
        outcome
            .send(applied(8, CommandResult::Batch(vec![result(2), result(3)])))
            .unwrap();
        let answer = |n, index| {
            Ok(Applied {
                result: result(n),
                index,
            })
        };
        assert_eq!(first.await.unwrap(), answer(1, 7));
        assert_eq!(second.await.unwrap(), answer(2, 8));
        assert_eq!(third.await.unwrap(), answer(3, 8));
    }

    #[tokio::test]
    async fn a_pause_waits_for_the_outcome_in_flight_and_holds_new_commands_until_released() {
        let mut h = start(Duration::from_secs(60));
        let first = propose(&h, 1);
        let (_, outcome) = next_write(&mut h.writes).await;
        let proposer = h.proposer.clone();
        let pausing = tokio::spawn(async move { proposer.pause().await });
        settle().await;
        assert!(
            !pausing.is_finished(),
            "pause returned with a proposal in flight"
        );
        outcome.send(applied(5, result(1))).unwrap();
        let guard = pausing.await.unwrap();
        assert!(first.await.unwrap().is_ok());
        let during = propose(&h, 2);
        assert!(quiet(&mut h.writes).await, "proposed while paused");
        // The transfer went through: node 2 leads now.
        *h.script.leadership.lock().unwrap() = following(2);
        drop(guard);
        assert_eq!(
            during.await.unwrap(),
            Err(WriteError::NotLeader(Some(LeaderHint::new(
                2,
                "127.0.0.1:7002"
            ))))
        );
        assert!(h.writes.try_recv().is_err(), "a follower proposed");
    }

    /// The batching task holds a command and waits for the slot when a pause begins: the
    /// slot goes to the task first (the semaphore is fair), and it must hand it back.
    #[tokio::test]
    async fn a_pause_that_begins_while_the_task_waits_for_the_slot_still_holds_its_command() {
        let mut h = start(Duration::from_secs(60));
        let _first = propose(&h, 1);
        let (_, outcome) = next_write(&mut h.writes).await;
        let second = propose(&h, 2);
        assert!(quiet(&mut h.writes).await);
        let proposer = h.proposer.clone();
        let pausing = tokio::spawn(async move { proposer.pause().await });
        assert!(quiet(&mut h.writes).await);
        outcome.send(applied(5, result(1))).unwrap();
        let guard = tokio::time::timeout(Duration::from_secs(5), pausing)
            .await
            .expect("the pause returns once the first outcome is in")
            .unwrap();
        assert!(
            quiet(&mut h.writes).await,
            "proposed after the pause returned"
        );
        drop(guard);
        let (entry, outcome) = next_write(&mut h.writes).await;
        assert_eq!(entry, command(2));
        outcome.send(applied(6, result(2))).unwrap();
        assert_eq!(
            second.await.unwrap(),
            Ok(Applied {
                result: result(2),
                index: 6
            })
        );
    }

    /// A caller's deadline can pass while its command waits in the queue. It is told the
    /// write may or may not happen, and the command is still proposed once the pause ends:
    /// a retry with the same key then finds its result instead of placing it twice.
    #[tokio::test]
    async fn a_deadline_that_passes_while_queued_answers_unavailable() {
        let mut h = start(Duration::from_millis(100));
        let guard = h.proposer.pause().await;
        let answer = h.proposer.propose(command(1)).await;
        assert_eq!(
            answer,
            Err(WriteError::Unavailable(
                "not committed within 100 ms".into()
            ))
        );
        assert!(quiet(&mut h.writes).await, "proposed while paused");
        drop(guard);
        let (entry, _) = next_write(&mut h.writes).await;
        assert_eq!(entry, command(1));
    }

    /// An outcome that never comes must not hold the only slot: it is given up after the
    /// deadline and the next command goes out.
    #[tokio::test]
    async fn an_outcome_that_never_comes_frees_its_slot_at_the_deadline() {
        let mut h = start(Duration::from_millis(100));
        let first = propose(&h, 1);
        let (_, _never_answered) = next_write(&mut h.writes).await;
        assert_eq!(
            first.await.unwrap(),
            Err(WriteError::Unavailable(
                "not committed within 100 ms".into()
            ))
        );
        let _second = propose(&h, 2);
        let (entry, _) = next_write(&mut h.writes).await;
        assert_eq!(entry, command(2));
    }

    #[tokio::test]
    async fn queued_commands_are_refused_when_storage_fails_or_the_quorum_is_lost() {
        let mut h = start(Duration::from_secs(60));
        let guard = h.proposer.pause().await;
        let queued = propose(&h, 1);
        assert!(quiet(&mut h.writes).await);
        h.script.leadership.lock().unwrap().millis_since_quorum_ack = Some(2_001);
        drop(guard);
        assert_eq!(
            queued.await.unwrap(),
            Err(WriteError::Unavailable(
                "the leader has lost contact with a quorum".into()
            ))
        );
        *h.script.leadership.lock().unwrap() = leading();
        let guard = h.proposer.pause().await;
        let queued = propose(&h, 2);
        assert!(quiet(&mut h.writes).await);
        h.health
            .record(StoragePart::Log, &"No space left on device");
        drop(guard);
        let refused = queued.await.unwrap();
        assert!(
            matches!(&refused, Err(WriteError::StorageFailed(why)) if why.contains("No space")),
            "{refused:?}"
        );
        assert!(h.writes.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_fatal_error_from_openraft_is_recorded_and_answered() {
        let h = start(Duration::from_secs(60));
        *h.script.fatal.lock().unwrap() = true;
        let answer = h.proposer.propose(command(1)).await;
        assert!(
            matches!(answer, Err(WriteError::StorageFailed(_))),
            "{answer:?}"
        );
        let failed = h.health.check().expect_err("the failure is recorded");
        assert_eq!(failed.part, StoragePart::Raft);
        assert!(
            matches!(
                h.proposer.propose(command(2)).await,
                Err(WriteError::StorageFailed(_))
            ),
            "a failed node still takes writes"
        );
    }

    #[test]
    fn a_refusal_names_storage_first_then_leadership_then_quorum() {
        let health = StorageHealth::default();
        let mut lost = leading();
        lost.millis_since_quorum_ack = Some(5_000);
        assert_eq!(refusal(&health, &leading(), QUORUM_LOST_AFTER), None);
        assert!(matches!(
            refusal(&health, &lost, QUORUM_LOST_AFTER),
            Some(WriteError::Unavailable(_))
        ));
        assert_eq!(
            refusal(&health, &following(2), QUORUM_LOST_AFTER),
            Some(WriteError::NotLeader(following(2).hint))
        );
        health.record(StoragePart::StateMachine, &"read-only");
        assert!(matches!(
            refusal(&health, &following(2), QUORUM_LOST_AFTER),
            Some(WriteError::StorageFailed(_))
        ));
    }

    #[test]
    fn an_entry_outcome_is_split_into_one_result_per_command() {
        let batch = Ok(Applied {
            result: CommandResult::Batch(vec![result(1), result(2)]),
            index: 9,
        });
        assert_eq!(
            unpack(batch.clone(), 2),
            vec![
                Ok(Applied {
                    result: result(1),
                    index: 9
                }),
                Ok(Applied {
                    result: result(2),
                    index: 9
                })
            ]
        );
        let mismatch = Err(WriteError::Unavailable("internal batch mismatch".into()));
        assert_eq!(unpack(batch, 3), vec![mismatch.clone(); 3]);
        let single = Ok(Applied {
            result: result(1),
            index: 4,
        });
        assert_eq!(unpack(single.clone(), 1), vec![single]);
        let failed = Err(WriteError::NotLeader(None));
        assert_eq!(unpack(failed.clone(), 2), vec![failed.clone(), failed]);
        assert_eq!(pack(vec![command(1)]), command(1));
        assert_eq!(
            pack(vec![command(1), command(2)]),
            Command::Batch(vec![command(1), command(2)])
        );
    }

    #[tokio::test]
    async fn an_outcome_maps_openraft_answers_to_write_errors() {
        let (tx, rx) = oneshot::channel::<ClientWriteResult>();
        let leader = NodeAddr {
            api: "127.0.0.1:7002".into(),
            raft: "127.0.0.1:8002".into(),
        };
        tx.send(Err(ClientWriteError::ForwardToLeader(
            ForwardToLeader::new(2, leader),
        )))
        .unwrap();
        assert_eq!(
            outcome(rx, Duration::from_secs(1)).await,
            Err(WriteError::NotLeader(Some(LeaderHint::new(
                2,
                "127.0.0.1:7002"
            ))))
        );
        let (tx, rx) = oneshot::channel::<ClientWriteResult>();
        drop(tx);
        assert_eq!(
            outcome(rx, Duration::from_secs(1)).await,
            Err(WriteError::Unavailable("raft dropped the proposal".into()))
        );
    }
}
