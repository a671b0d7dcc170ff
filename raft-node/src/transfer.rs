//! Leadership transfer on openraft 0.9, which has no transfer of its own: the leader stops
//! proposing, waits until the target holds its whole log, stops its heartbeats and asks the
//! target to campaign. The target wins at once: its log is as long as any, and the old
//! leader grants its vote. Writes that arrive meanwhile queue, and are then answered with
//! where the leader went.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::peer::{paths, CampaignReply, CampaignRequest};
use bazaar_api::{LeaderHint, TransferOutcome};
use openraft::ServerState;

use crate::leadership::Leadership;
use crate::members::Members;
use crate::net::PeerNetwork;
use crate::proposer::Proposer;
use crate::types::{NodeId, Raft};

/// How long the target gets to receive the last entries once writes are paused.
const CATCH_UP: Duration = Duration::from_secs(1);
/// How long the campaign RPC may take.
const CAMPAIGN_RPC: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("this node does not lead; ask the leader")]
    NotLeader(Option<LeaderHint>),
    #[error("a leadership transfer is already under way")]
    Busy,
    #[error("node {0} already leads")]
    AlreadyLeads(NodeId),
    #[error("no member {0}")]
    Unknown(NodeId),
    #[error("member {0} is a learner; only a voter can lead (promote it first)")]
    NotAVoter(NodeId),
    #[error("member {0} has not answered recently; pick a member that is up")]
    Unreachable(NodeId),
    #[error("member {id} is {lag} entries behind (at most {limit}); wait until it catches up")]
    Lagging { id: NodeId, lag: u64, limit: u64 },
    #[error("no other voter is up to take over")]
    NoCandidate,
    #[error("member {id} did not catch up within {CATCH_UP:?}; leadership stays here")]
    CatchUpTimedOut { id: NodeId },
    #[error("member {id} did not campaign: {why}")]
    Campaign { id: NodeId, why: String },
    #[error("no new leader within {0:?}")]
    NoNewLeader(Duration),
}

/// Moves this node's leadership to another voter. Cheap to clone.
#[derive(Clone)]
pub struct LeaderTransfer {
    members: Members,
    proposer: Proposer,
    net: PeerNetwork,
    /// Held for the duration of a transfer.
    busy: Arc<tokio::sync::Mutex<()>>,
    /// How long the new leader may take to be known here after the campaign starts.
    settle: Duration,
}

/// Turns the leader's heartbeats back on however the transfer ends (a node that is a
/// follower again ignores the setting).
struct HeartbeatsOff<'a>(&'a Raft);

impl<'a> HeartbeatsOff<'a> {
    fn new(raft: &'a Raft) -> Self {
        raft.runtime_config().heartbeat(false);
        Self(raft)
    }
}

impl Drop for HeartbeatsOff<'_> {
    fn drop(&mut self) {
        self.0.runtime_config().heartbeat(true);
    }
}

impl LeaderTransfer {
    /// `election_timeout_max` bounds how long a campaign that has to wait out a follower's
    /// leader lease can take.
    pub fn new(
        members: Members,
        proposer: Proposer,
        net: PeerNetwork,
        election_timeout_max: Duration,
    ) -> Self {
        Self {
            members,
            proposer,
            net,
            busy: Arc::new(tokio::sync::Mutex::new(())),
            settle: election_timeout_max * 4,
        }
    }

    /// Hands leadership to `to`, or to the most up-to-date voter that answers.
    pub async fn transfer(&self, to: Option<NodeId>) -> Result<TransferOutcome, TransferError> {
        let _busy = self.busy.try_lock().map_err(|_| TransferError::Busy)?;
        let raft = &self.members.raft;
        let me = self.members.my_id;
        let leadership = Leadership::of(raft);
        if !leadership.is_leader {
            return Err(TransferError::NotLeader(leadership.hint));
        }
        let view = self.members.list();
        let target = self.pick(&view, to)?;
        let started = Instant::now();
        // Nothing new is proposed from here; what was proposed before has its outcome.
        let paused = self.proposer.pause().await;
        let paused_at = started.elapsed();
        self.wait_caught_up(target).await?;
        let caught_up_at = started.elapsed();
        let term = Leadership::of(raft).term;
        let quiet = HeartbeatsOff::new(raft);
        let addr = {
            let m = raft.metrics();
            let m = m.borrow();
            m.membership_config
                .membership()
                .get_node(&target)
                .cloned()
                .ok_or(TransferError::Unknown(target))?
        };
        let request = CampaignRequest { from: me, term };
        let reply: CampaignReply = self
            .net
            .peer_call::<_, (), String>(target, &addr, paths::CAMPAIGN, &request, CAMPAIGN_RPC)
            .await
            .map_err(|why| TransferError::Campaign { id: target, why })?;
        reply.map_err(|why| TransferError::Campaign { id: target, why })?;
        let campaigning_at = started.elapsed();
        let changed = raft
            .wait(Some(self.settle))
            .metrics(
                |m| m.state != ServerState::Leader && m.current_leader.is_some_and(|l| l != me),
                "a new leader",
            )
            .await
            .map_err(|_| TransferError::NoNewLeader(self.settle))?;
        drop(quiet);
        drop(paused);
        let outcome = TransferOutcome {
            from: me,
            to: changed.current_leader.unwrap_or(target),
            term: changed.current_term,
            took_ms: started.elapsed().as_millis() as u64,
        };
        // Each phase's end, from the start: where a slow hand-over spent its time.
        tracing::info!(
            target: "audit",
            from = me,
            to = outcome.to,
            term = outcome.term,
            took_ms = outcome.took_ms,
            paused_ms = paused_at.as_millis() as u64,
            caught_up_ms = caught_up_at.as_millis() as u64,
            campaigning_ms = campaigning_at.as_millis() as u64,
            "leadership transferred"
        );
        Ok(outcome)
    }

    /// The target: `to` if it may lead, else the voter that answers with the most log.
    fn pick(
        &self,
        view: &bazaar_api::MembersView,
        to: Option<NodeId>,
    ) -> Result<NodeId, TransferError> {
        let members = &self.members;
        pick(view, to, members.my_id, members.max_promote_lag, |id| {
            members.answers(id)
        })
    }

    /// Waits until `target` holds every entry this leader has.
    async fn wait_caught_up(&self, target: NodeId) -> Result<(), TransferError> {
        self.members
            .raft
            .wait(Some(CATCH_UP))
            .metrics(
                |m| {
                    let matched = m
                        .replication
                        .as_ref()
                        .and_then(|r| r.get(&target))
                        .map(|at| at.map(|l| l.index));
                    holds_whole_log(matched, m.last_log_index)
                },
                "the transfer target caught up",
            )
            .await
            .map(|_| ())
            .map_err(|_| TransferError::CatchUpTimedOut { id: target })
    }
}

/// On the target: campaign if this node still follows `req.from` in `req.term`, so a late
/// or repeated request cannot start a needless election.
pub async fn campaign(raft: &Raft, req: &CampaignRequest) -> CampaignReply {
    may_campaign(&Leadership::of(raft), req)?;
    raft.trigger().elect().await.map_err(|e| e.to_string())?;
    tracing::info!(from = req.from, term = req.term, "campaigning on request");
    Ok(())
}

/// Whether a campaign request still holds: this node follows its sender in its term.
fn may_campaign(leadership: &Leadership, req: &CampaignRequest) -> Result<(), String> {
    if leadership.leader != Some(req.from) || leadership.term != req.term {
        return Err(format!(
            "it follows {:?} in term {}, not node {} in term {}",
            leadership.leader, leadership.term, req.from, req.term
        ));
    }
    Ok(())
}

/// Whether the target holds the leader's whole log: `matched` is what the leader's
/// replication reports for it (`None`: no replication to it at all; `Some(None)`: it holds
/// nothing yet), `last` the leader's last log index.
fn holds_whole_log(matched: Option<Option<u64>>, last: Option<u64>) -> bool {
    matched.is_some_and(|at| at >= last)
}

/// The transfer target: `to` if it may lead (a voter other than `me` that answers and is
/// at most `limit` entries behind), else the voter that may lead with the most log.
fn pick(
    view: &bazaar_api::MembersView,
    to: Option<NodeId>,
    me: NodeId,
    limit: u64,
    answers: impl Fn(NodeId) -> bool,
) -> Result<NodeId, TransferError> {
    if let Some(id) = to {
        if id == me {
            return Err(TransferError::AlreadyLeads(me));
        }
        let member = view
            .members
            .iter()
            .find(|m| m.id == id)
            .ok_or(TransferError::Unknown(id))?;
        if !member.voter {
            return Err(TransferError::NotAVoter(id));
        }
        if !answers(id) {
            return Err(TransferError::Unreachable(id));
        }
        let lag = member.lag.unwrap_or(u64::MAX);
        if lag > limit {
            return Err(TransferError::Lagging { id, lag, limit });
        }
        return Ok(id);
    }
    let voters: BTreeSet<NodeId> = view
        .members
        .iter()
        .filter(|m| m.voter && m.id != me && answers(m.id))
        .filter(|m| m.lag.is_some_and(|lag| lag <= limit))
        .map(|m| m.id)
        .collect();
    voters
        .into_iter()
        .max_by_key(|id| {
            view.members
                .iter()
                .find(|m| m.id == *id)
                .and_then(|m| m.matched_index)
        })
        .ok_or(TransferError::NoCandidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bazaar_api::{MemberStatus, MembersView};

    fn member(id: NodeId, voter: bool, matched: u64, last: u64) -> MemberStatus {
        MemberStatus {
            id,
            api: format!("127.0.0.1:700{id}"),
            raft: format!("127.0.0.1:800{id}"),
            voter,
            matched_index: Some(matched),
            lag: Some(last - matched),
            version: None,
        }
    }

    /// Node 1 leads at index 100; 2 is 1 behind, 3 is 30 behind, 4 is a learner at 100.
    fn view() -> MembersView {
        MembersView {
            answered_by: 1,
            leader: Some(1),
            leader_api: Some("127.0.0.1:7001".into()),
            last_log_index: 100,
            members: vec![
                member(1, true, 100, 100),
                member(2, true, 99, 100),
                member(3, true, 70, 100),
                member(4, false, 100, 100),
            ],
        }
    }

    const LIMIT: u64 = 50;

    #[test]
    fn without_a_target_the_voter_with_the_most_log_that_answers_is_picked() {
        let all_answer = |_| true;
        assert_eq!(pick(&view(), None, 1, LIMIT, all_answer).unwrap(), 2);
        let two_is_down = |id| id != 2;
        assert_eq!(pick(&view(), None, 1, LIMIT, two_is_down).unwrap(), 3);
        // 3 is now too far behind, and the learner may not lead.
        assert!(matches!(
            pick(&view(), None, 1, 10, two_is_down),
            Err(TransferError::NoCandidate)
        ));
    }

    #[test]
    fn a_named_target_must_be_another_voter_that_answers_and_is_caught_up() {
        let all_answer = |_| true;
        assert_eq!(pick(&view(), Some(3), 1, LIMIT, all_answer).unwrap(), 3);
        assert!(matches!(
            pick(&view(), Some(1), 1, LIMIT, all_answer),
            Err(TransferError::AlreadyLeads(1))
        ));
        assert!(matches!(
            pick(&view(), Some(9), 1, LIMIT, all_answer),
            Err(TransferError::Unknown(9))
        ));
        assert!(matches!(
            pick(&view(), Some(4), 1, LIMIT, all_answer),
            Err(TransferError::NotAVoter(4))
        ));
        assert!(matches!(
            pick(&view(), Some(3), 1, LIMIT, |id| id != 3),
            Err(TransferError::Unreachable(3))
        ));
        assert!(matches!(
            pick(&view(), Some(3), 1, 10, all_answer),
            Err(TransferError::Lagging {
                id: 3,
                lag: 30,
                limit: 10
            })
        ));
    }

    #[test]
    fn a_target_has_caught_up_only_when_it_holds_the_last_entry() {
        assert!(holds_whole_log(Some(Some(100)), Some(100)));
        assert!(!holds_whole_log(Some(Some(99)), Some(100)));
        assert!(!holds_whole_log(Some(None), Some(1)));
        assert!(
            !holds_whole_log(None, Some(1)),
            "no replication to it at all"
        );
        assert!(holds_whole_log(Some(None), None), "nothing to hold");
    }

    #[test]
    fn a_late_or_repeated_campaign_request_is_refused() {
        let follows = |leader, term| Leadership {
            leader: Some(leader),
            hint: None,
            is_leader: false,
            term,
            millis_since_quorum_ack: None,
        };
        let req = CampaignRequest { from: 1, term: 5 };
        assert_eq!(may_campaign(&follows(1, 5), &req), Ok(()));
        // Already a later term (the campaign happened), or another leader won meanwhile.
        assert!(may_campaign(&follows(2, 6), &req).is_err());
        assert!(may_campaign(&follows(1, 6), &req).is_err());
    }
}
