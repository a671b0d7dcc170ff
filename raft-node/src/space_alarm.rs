//! The `nospace` alarm's node side: every node compares its disk figures with
//! `[storage]` each second and, when short, has the leader raise the alarm through the log;
//! the leader answers those requests and, on an operator's disarm, first asks every voter
//! for its figures and refuses while one is still short.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bazaar_api::config::StorageSettings;
use bazaar_api::peer::paths;
use bazaar_api::{AlarmKind, DisarmRequest, LeaderHint, RaiseAlarmRequest, SpaceReport};
use bazaar_service::{CancellationToken, TaskTracker};

use crate::disk_space::{DiskSpace, REFRESH_EVERY};
use crate::leadership::Leadership;
use crate::log_gate::LogGate;
use crate::net::PeerNetwork;
use crate::proposer::{Proposer, WriteError};
use crate::shop::{AlarmRecord, Command, CommandResult};
use crate::store::StateReader;
use crate::types::{NodeId, Raft};

/// How long a peer has to answer a raise or a space question.
const PEER_TTL: Duration = Duration::from_secs(2);
/// How long a node waits before asking again after a raise that did not land (no leader,
/// the leader unreachable): the alarm is then raised within a few seconds of a retry.
const ASK_AGAIN_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum AlarmError {
    #[error("this node is not the leader")]
    NotLeader(Option<LeaderHint>),
    /// A voter answered and is still short of space: the disarm would be raised again.
    #[error("refused: a voter is still short of space ({0}); free space or raise storage.quota_bytes first")]
    StillShort(String),
    /// A voter could not be asked (`force` disarms anyway).
    #[error(
        "refused: cannot confirm that every voter has space ({0}); retry, or disarm with force"
    )]
    Unconfirmed(String),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("unexpected result {0}")]
    Unexpected(String),
}

/// What a node needs to watch its own space and to act on alarms as a leader.
#[derive(Clone)]
pub struct SpaceAlarm {
    pub my_id: NodeId,
    pub raft: Raft,
    pub proposer: Proposer,
    pub net: PeerNetwork,
    pub reader: StateReader,
    pub space: DiskSpace,
    pub settings: StorageSettings,
}

impl SpaceAlarm {
    /// This node's figures against its settings; `None` before the first measurement.
    pub fn report(&self) -> Option<SpaceReport> {
        let figures = self.space.latest()?;
        Some(SpaceReport {
            member: self.my_id,
            data_bytes: figures.data_bytes(),
            free_bytes: figures.free_bytes,
            quota_bytes: self.settings.quota_bytes,
            min_free_bytes: self.settings.min_free_bytes,
        })
    }

    /// On the leader: raises `req`'s alarm through the log. Returns the alarms added
    /// (none when it was already active).
    pub async fn raise(&self, req: RaiseAlarmRequest) -> Result<Vec<AlarmRecord>, AlarmError> {
        let command = Command::RaiseAlarm(AlarmRecord {
            kind: req.kind,
            member: req.member,
            raised_at: 0,
            detail: req.detail,
        });
        alarms_of(self.proposer.propose(command).await?.result)
    }

    /// On the leader: ends the alarms `req` names, once every voter has space (for
    /// `nospace`; other kinds are ended as asked).
    pub async fn disarm(&self, req: &DisarmRequest) -> Result<Vec<AlarmRecord>, AlarmError> {
        let leadership = Leadership::of(&self.raft);
        if !leadership.is_leader {
            return Err(AlarmError::NotLeader(leadership.hint));
        }
        if req.kind.is_none_or(|k| k == AlarmKind::NoSpace) {
            self.check_voters_have_space(req.force).await?;
        }
        let command = Command::DisarmAlarms { kind: req.kind };
        alarms_of(self.proposer.propose(command).await?.result)
    }

    async fn check_voters_have_space(&self, force: bool) -> Result<(), AlarmError> {
        let voters: BTreeMap<NodeId, crate::types::NodeAddr> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let membership = m.membership_config.membership();
            membership
                .voter_ids()
                .filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone())))
                .collect()
        };
        let mut short = Vec::new();
        let mut unconfirmed = Vec::new();
        for (id, node) in &voters {
            let report = if *id == self.my_id {
                self.report()
                    .ok_or_else(|| "this node's disk is not measured yet".to_owned())
            } else {
                self.net
                    .peer_call::<(), Option<SpaceReport>, String>(
                        *id,
                        node,
                        paths::SPACE,
                        &(),
                        PEER_TTL,
                    )
                    .await
                    .and_then(|answer| answer)
                    .and_then(|report| {
                        report.ok_or_else(|| format!("node {id} has not measured its disk yet"))
                    })
            };
            match report {
                Ok(report) => short.extend(report.shortage()),
                Err(e) => unconfirmed.push(e),
            }
        }
        if !short.is_empty() {
            return Err(AlarmError::StillShort(short.join("; ")));
        }
        if !unconfirmed.is_empty() && !force {
            return Err(AlarmError::Unconfirmed(unconfirmed.join("; ")));
        }
        Ok(())
    }

    /// Checks this node's figures every second until `stop`, and asks for the alarm when
    /// they are short and it is not active for this node yet.
    pub fn spawn_watch(&self, tasks: &TaskTracker, stop: CancellationToken) {
        let alarm = self.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_ask: Option<Instant> = None;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                let Some(shortage) = alarm.report().and_then(|r| r.shortage()) else {
                    continue;
                };
                let view = alarm.reader.current();
                if view.shop.alarms.contains(AlarmKind::NoSpace, alarm.my_id) {
                    continue;
                }
                if last_ask.is_some_and(|at| at.elapsed() < ASK_AGAIN_AFTER) {
                    continue;
                }
                last_ask = Some(Instant::now());
                alarm.ask_leader(AlarmKind::NoSpace, shortage).await;
            }
        });
    }

    /// Has the leader raise the `kind` alarm for this node (proposes it when this node
    /// leads); a failure is logged, for the caller to ask again.
    pub async fn ask_leader(&self, kind: AlarmKind, detail: String) {
        static ASK_FAILED: LogGate = LogGate::new(Duration::from_secs(10));
        let req = RaiseAlarmRequest {
            kind,
            member: self.my_id,
            detail: detail.clone(),
        };
        let leadership = Leadership::of(&self.raft);
        let outcome = if leadership.is_leader {
            self.raise(req).await.map(|_| ()).map_err(|e| e.to_string())
        } else {
            match leadership.leader.and_then(|id| self.leader_node(id)) {
                None => Err("no leader is known".to_owned()),
                Some((id, node)) => self
                    .net
                    .peer_call::<_, (), String>(id, &node, paths::ALARM, &req, PEER_TTL)
                    .await
                    .and_then(|answer| answer),
            }
        };
        match outcome {
            Ok(()) => {
                tracing::warn!(node = self.my_id, alarm = %kind, %detail, "raised an alarm for this node")
            }
            Err(cause) => {
                if let Some(held_back) = ASK_FAILED.pass() {
                    tracing::warn!(node = self.my_id, alarm = %kind, %detail, %cause, held_back, "the alarm for this node is not raised yet");
                }
            }
        }
    }

    fn leader_node(&self, id: NodeId) -> Option<(NodeId, crate::types::NodeAddr)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config
            .membership()
            .get_node(&id)
            .map(|n| (id, n.clone()))
    }
}

fn alarms_of(result: CommandResult) -> Result<Vec<AlarmRecord>, AlarmError> {
    match result {
        CommandResult::Alarms(alarms) => Ok(alarms),
        other => Err(AlarmError::Unexpected(format!("{other:?}"))),
    }
}
