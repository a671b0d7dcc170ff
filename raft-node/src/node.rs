//! Assembling one replica: storage, Raft, batchers, leader duties and both listeners.
//! `run` takes already-bound listeners and a cancellation token, so tests can bind port 0
//! and run several nodes in one process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bazaar_api::config::{ClusterConfig, ConfigError, Secret};
use bazaar_service::shutdown::drain;
use bazaar_service::tls::{cluster_client, server_config, ClientAuth, TlsError};
use bazaar_service::{Admission, CancellationToken, MetricsBuilder, TaskTracker};
use openraft::error::{InitializeError, RaftError};
use openraft::{ServerState, SnapshotPolicy};
use tokio::net::TcpListener;

use crate::archive::{spawn_archive_due_duty, spawn_archive_task, Archiver};
use crate::catalog::{load_catalog, CatalogError};
use crate::disk_space::DiskSpace;
use crate::fail_stop::{StorageFailure, StorageHealth, StoragePart};
use crate::feed::ChangeFeed;
use crate::fresh_snapshot::NewMemberSnapshot;
use crate::http::{api_router, clear_backup_leftovers, AppState, WatchSlots};
use crate::leader_duties::LeaderDuties;
use crate::leadership::Leadership;
use crate::members::Members;
use crate::metrics::NodeStatus;
use crate::net::{PeerNetwork, ReadIndexClient};
use crate::peer_routes::{raft_router, RaftRpc};
use crate::promotion::Promotions;
use crate::proposer::Proposer;
use crate::read_index::ReadIndexer;
use crate::reserve::prepare_reserve;
use crate::snapshot_schedule::SnapshotSchedule;
use crate::space_alarm::SpaceAlarm;
use crate::state_check::StateCheckDuty;
use crate::store::{
    check_backup, open_raft_db, prepare_restore, restore_interrupted, seed_from_backup,
    BackupSummary, LogStore, StateMachine, StoreError,
};
use crate::timings::NodeTimings;
use crate::transfer::LeaderTransfer;
use crate::types::{NodeAddr, NodeId, Raft};
use crate::versions::MemberVersions;

/// How long in-flight requests get to finish after shutdown is requested.
const GRACE: Duration = Duration::from_secs(3);
/// How long a stopping leader tries to hand leadership over.
const HAND_OVER: Duration = Duration::from_secs(3);
/// How long a node whose storage failed keeps answering (503 `storage_failed` on `/readyz`,
/// writes and linearizable reads) before it closes its listeners and exits: long enough for
/// a probe or an operator to see why, short enough that openraft's own error lines and the
/// peers' retries stop soon.
const FAIL_STOP_DRAIN: Duration = Duration::from_millis(1500);
/// How long a failed node waits for its requests, tasks and Raft to stop before it exits
/// anyway: nothing it still does can be trusted, and its supervisor restarts it.
const FAIL_STOP_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node {0} is not in the cluster config")]
    UnknownNode(NodeId),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The node's storage failed while it ran: it stopped (fail-stop).
    #[error("{0}")]
    StorageFailed(StorageFailure),
    #[error("raft: {0}")]
    Raft(String),
    #[error(transparent)]
    PeerNetwork(#[from] crate::net::PeerNetworkError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl NodeError {
    /// Whether the node stopped because its storage failed or could not be opened or
    /// written (exit with `fail_stop::STORAGE_FAILED_EXIT_CODE`), rather than for a mistake
    /// in its configuration or data that a restart would not mend.
    pub fn is_storage_failure(&self) -> bool {
        !self.is_damaged_data()
            && matches!(
                self,
                NodeError::StorageFailed(_)
                    | NodeError::Store(
                        StoreError::Rocks(_) | StoreError::Io(_) | StoreError::Join(_)
                    )
            )
    }

    /// Whether the node refused its own data at start: a checksum that does not match, or
    /// records that do not sum to what was applied (exit with
    /// `fail_stop::DAMAGED_DATA_EXIT_CODE`; a restart would find the same damage).
    pub fn is_damaged_data(&self) -> bool {
        match self {
            NodeError::Store(StoreError::Corrupt(_)) => true,
            NodeError::Store(StoreError::Rocks(e)) => e.kind() == rocksdb::ErrorKind::Corruption,
            _ => false,
        }
    }
}

/// The two listeners of a node, already bound.
pub struct NodeListeners {
    pub api: TcpListener,
    pub raft: TcpListener,
}

/// Runs node `id` until `shutdown` is cancelled. Its data lives in `data_dir`.
pub async fn run(
    config: ClusterConfig,
    id: NodeId,
    data_dir: PathBuf,
    listeners: NodeListeners,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    if config.node(id).is_none() {
        return Err(NodeError::UnknownNode(id));
    }
    config.check_node_secrets(id)?;
    let admin_token: Arc<str> = Arc::from(config.security.require(Secret::Admin)?);
    let peer_token: Arc<str> = Arc::from(config.security.require(Secret::Peer)?);
    let name = format!("node{id}");
    let (api_tls, raft_tls) = match &config.tls {
        None => (None, None),
        Some(tls) => {
            let files = tls.files_for(&name);
            (
                Some(server_config(&files, ClientAuth::Anyone)?),
                Some(server_config(&files, ClientAuth::ClusterMembers)?),
            )
        }
    };
    let peer_http = cluster_client(&config, Some(&name))?;
    tracing::info!(node = id, data_dir = %data_dir.display(), "starting");
    let catalog = load_catalog(&config.catalog)?;
    check_layout(&data_dir)?;
    // Never fatal: a node short of space runs without it (one line), and its stores then
    // find out whether the disk is really full.
    let storage = &config.storage;
    prepare_reserve(
        id,
        data_dir.clone(),
        storage.reserve_bytes,
        storage.min_free_bytes,
    )
    .await;
    let backup_dir = data_dir.join("backups");
    clear_backup_leftovers(&backup_dir);
    let mut metrics = MetricsBuilder::new("bazaar_node");
    let timings = NodeTimings::register(metrics.registry());
    let health = StorageHealth::default();
    let db = open_raft_db(data_dir.join("raft")).await?;
    let db_open = db.rocks.open_mark();
    let log = LogStore::new(db)
        .with_sync_timing(timings.log_sync.clone())
        .with_health(health.clone());
    let committed = log.commit_mark();
    let log_volume = log.volume();
    let sm = StateMachine::open(&data_dir, config.raft.dedupe_retention_entries)
        .await?
        .with_apply_timing(timings.apply.clone())
        .with_health(health.clone());
    let reader = sm.reader();
    let state_checks = sm.state_checks();
    let archive_events = sm.archive_events();
    // Held only to find, at exit, the state generation then current (an install may have
    // replaced the first), and let go of before the wait for it to close.
    let exit_reader = reader.clone();
    let feed: ChangeFeed = sm.feed();
    let snapshot_files = sm.snapshot_files();
    tracing::info!(node = id, applied = reader.applied_index(), "storage open");

    let r = &config.raft;
    let raft_config = openraft::Config {
        cluster_name: "bazaar".into(),
        heartbeat_interval: r.heartbeat_interval_ms,
        election_timeout_min: r.election_timeout_min_ms,
        election_timeout_max: r.election_timeout_max_ms,
        // Builds are triggered by `SnapshotSchedule`, which weighs the state's size too.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: r.keep_entries_after_snapshot,
        max_payload_entries: r.max_entries_per_append,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| NodeError::Raft(e.to_string()))?;
    let net = PeerNetwork::new(id, &peer_token, peer_http, config.scheme())?
        .with_replicate_timing(timings.replicate.clone());
    // A storage error while openraft reads its state back, or while the first node
    // bootstraps, is the storage's failure, not Raft's.
    let storage_or = |e: NodeError| match health.failure() {
        Some(failure) => NodeError::StorageFailed(failure),
        None => e,
    };
    let raft = Raft::new(id, Arc::new(raft_config), net.clone(), log, sm)
        .await
        .map_err(|e| storage_or(NodeError::Raft(e.to_string())))?;
    tracing::info!(node = id, "raft started");
    bootstrap_once(&raft, id, &config)
        .await
        .map_err(storage_or)?;

    // Background tasks stop on `stop`, which follows `shutdown` once the listeners are
    // closed, so a request in flight still has its batcher to answer it.
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    watch_raft_core(raft.clone(), health.clone(), &tasks, stop.clone());
    let write_deadline = Duration::from_millis(r.write_deadline_ms);
    // Twice the longest election timeout without a quorum ack: this leader is cut off.
    let quorum_lost_after = Duration::from_millis(2 * r.election_timeout_max_ms);
    let proposer = Proposer::spawn(
        raft.clone(),
        write_deadline,
        quorum_lost_after,
        &timings,
        health.clone(),
        &tasks,
        stop.clone(),
    );
    SnapshotSchedule::new(r).spawn(
        raft.clone(),
        log_volume.clone(),
        snapshot_files.clone(),
        &tasks,
        stop.clone(),
    );
    let read_deadline = Duration::from_millis(r.read_deadline_ms);
    let reads = ReadIndexer::spawn(
        raft.clone(),
        id,
        ReadIndexClient::new(net.clone()),
        read_deadline,
        &tasks,
        stop.clone(),
    );
    crate::leader_duties::spawn(
        LeaderDuties {
            raft: raft.clone(),
            my_id: id,
            proposer: proposer.clone(),
            reader: reader.clone(),
            catalog,
            policy: config.restock.clone(),
            quorum_lost_after,
        },
        &tasks,
        stop.clone(),
    );

    let space = DiskSpace::new(data_dir.clone());
    // Measured once before serving, so the first scrape already shows the figures.
    if let Err(e) = space.refresh().await {
        tracing::warn!(node = id, cause = %e, "cannot measure the data dir");
    }
    space.spawn_refresh(&tasks, stop.clone());
    let alarm = SpaceAlarm {
        my_id: id,
        raft: raft.clone(),
        proposer: proposer.clone(),
        net: net.clone(),
        reader: reader.clone(),
        space: space.clone(),
        settings: config.storage.clone(),
    };
    alarm.spawn_watch(&tasks, stop.clone());
    spawn_archive_task(
        &archive_events,
        reader.clone(),
        raft.clone(),
        alarm.clone(),
        &tasks,
        stop.clone(),
    );
    let versions = MemberVersions::new(id);
    versions.spawn_refresh(
        raft.clone(),
        id,
        net.http().clone(),
        config.scheme(),
        &tasks,
        stop.clone(),
    );
    let archiver = Archiver {
        raft: raft.clone(),
        proposer: proposer.clone(),
        reader: reader.clone(),
        versions: versions.clone(),
        net: net.clone(),
    };
    spawn_archive_due_duty(
        archiver.clone(),
        config.archive.keep_recent_orders,
        &tasks,
        stop.clone(),
    );

    let members = Members {
        raft: raft.clone(),
        my_id: id,
        contacts: net.contacts().clone(),
        alive_window: quorum_lost_after,
        max_promote_lag: r.ready_max_lag_entries,
        new_member_snapshot: NewMemberSnapshot::new(
            r.keep_entries_after_snapshot,
            log_volume,
            snapshot_files,
        ),
        versions: versions.clone(),
        fresh_snapshot_budget: crate::http::API_ROUTE_TIMEOUT / 2,
    };
    let promotions = Promotions::new(tasks.clone(), stop.clone());
    let transfer = LeaderTransfer::new(
        members.clone(),
        proposer.clone(),
        net.clone(),
        Duration::from_millis(r.election_timeout_max_ms),
    );
    StateCheckDuty {
        my_id: id,
        raft: raft.clone(),
        checks: state_checks.clone(),
        reader: reader.clone(),
        proposer: proposer.clone(),
        net: net.clone(),
        transfer: transfer.clone(),
        interval: Duration::from_secs(config.storage.hash_check_interval_secs),
    }
    .spawn(&tasks, stop.clone());
    let status = NodeStatus {
        id,
        cluster_name: Arc::from(config.cluster_name.as_str()),
        raft: raft.clone(),
        reader: reader.clone(),
        committed,
        versions,
        quorum_lost_after,
        ready_max_lag: r.ready_max_lag_entries,
        health: health.clone(),
        space,
    };
    metrics
        .registry()
        .register_collector(Box::new(status.clone()));
    let admission = Admission::new(&config.limits.node, config.limits.retry_after_secs);
    admission.register(metrics.registry());
    tasks.spawn(admission.clone().probe_queue_delay(stop.clone()));
    let metrics = metrics.build();
    let rpc = RaftRpc {
        raft: raft.clone(),
        reads: reads.clone(),
        health: health.clone(),
        alarm: alarm.clone(),
        checks: state_checks.clone(),
        reader: reader.clone(),
    };
    let peer_router = raft_router(rpc, peer_token, metrics.http());
    let state = AppState {
        status,
        raft: raft.clone(),
        reader,
        proposer,
        reads,
        feed,
        watch_slots: WatchSlots::new(config.raft.watch_max_streams),
        metrics,
        admin_token,
        read_deadline,
        shutdown: shutdown.clone(),
        members,
        admission,
        promotions,
        transfer: transfer.clone(),
        backup_dir,
        alarm,
        archiver,
    };
    let listeners_done = TaskTracker::new();
    // The listeners close after a leader has handed over: the new leader's vote request
    // arrives on the raft listener, and writes that arrive meanwhile are told where it is.
    let closing = CancellationToken::new();
    let api_router = api_router(state);
    for (name, listener, router, tls) in [
        ("api", listeners.api, api_router, api_tls),
        ("raft", listeners.raft, peer_router, raft_tls),
    ] {
        let closing = closing.clone();
        listeners_done.spawn(async move {
            if let Err(e) = bazaar_service::serve::serve(listener, router, closing, tls).await {
                tracing::error!(node = id, listener = name, cause = %e, "listener failed");
            }
        });
    }
    tracing::info!(node = id, "serving");
    let failed = tokio::select! {
        _ = shutdown.cancelled() => None,
        failure = health.tripped() => Some(failure),
    };
    if let Some(failure) = failed {
        // Fail-stop: keep answering 503 `storage_failed` for a moment so probes and
        // operators see why, then stop without handing over (this Raft is already stopped)
        // and without waiting long for anything.
        tokio::time::sleep(FAIL_STOP_DRAIN).await;
        tracing::info!(
            node = id,
            exit_code = crate::fail_stop::STORAGE_FAILED_EXIT_CODE,
            "exiting after a storage failure"
        );
        closing.cancel();
        stop.cancel();
        drain(&listeners_done, FAIL_STOP_GRACE).await;
        drain(&tasks, FAIL_STOP_GRACE).await;
        let _ = tokio::time::timeout(FAIL_STOP_GRACE, raft.shutdown()).await;
        drop(raft);
        // Close RocksDB if it lets go soon (a restart in this process needs its lock);
        // exit anyway if not: its files are as a crash would leave them, which is safe.
        let sm_open = exit_reader.current().db.rocks.open_mark();
        drop(exit_reader);
        let _ = tokio::time::timeout(FAIL_STOP_GRACE, databases_closed(&db_open, &sm_open)).await;
        return Err(NodeError::StorageFailed(failure));
    }
    tracing::info!(node = id, "shutting down");
    hand_over(&raft, &transfer, id).await;
    closing.cancel();
    if !drain(&listeners_done, GRACE).await {
        tracing::warn!(node = id, "requests still open after the grace period");
    }
    stop.cancel();
    drain(&tasks, GRACE).await;
    raft.shutdown()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    drop(raft);
    // openraft's state machine worker and the last readers let go of the database a little
    // after shutdown returns; wait for RocksDB to close, so a node restarted in the same
    // process (or right after this one exits) finds its lock free.
    let sm_open = exit_reader.current().db.rocks.open_mark();
    drop(exit_reader);
    let closed = tokio::time::timeout(GRACE, databases_closed(&db_open, &sm_open)).await;
    if closed.is_err() {
        tracing::warn!(node = id, "the database was still in use at exit");
    }
    Ok(())
}

/// Returns once both databases are closed: no one holds them any more, and the close each
/// last holder handed to the blocking pool has finished (RocksDB's lock is free).
async fn databases_closed(raft_db: &std::sync::Weak<()>, sm_db: &std::sync::Weak<()>) {
    while raft_db.strong_count() > 0 || sm_db.strong_count() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Watches openraft's core: it stops on any storage error it sees (and then answers every
/// call with `Fatal`). Whatever stopped it while the node was not shutting down, the node
/// counts it as a storage failure, so it never lingers as a zombie that looks ready.
fn watch_raft_core(
    raft: Raft,
    health: StorageHealth,
    tasks: &TaskTracker,
    stop: CancellationToken,
) {
    let mut metrics = raft.metrics();
    tasks.spawn(async move {
        loop {
            let stopped = {
                let m = metrics.borrow_and_update();
                match &m.running_state {
                    Err(fatal) => Some(format!("openraft stopped: {fatal}")),
                    Ok(()) if m.state == ServerState::Shutdown => {
                        Some("openraft's core is shut down".to_string())
                    }
                    Ok(()) => None,
                }
            };
            if let Some(cause) = stopped {
                // The store that failed has usually recorded the first cause already.
                if health.failure().is_none() {
                    health.record(StoragePart::Raft, &cause);
                }
                return;
            }
            tokio::select! {
                changed = metrics.changed() => {
                    if changed.is_err() {
                        health.record(StoragePart::Raft, &"openraft's core has ended");
                        return;
                    }
                }
                _ = stop.cancelled() => return,
            }
        }
    });
}

/// A leader that is stopping hands leadership to the most up-to-date voter first, so the
/// cluster does not wait out an election timeout.
async fn hand_over(raft: &Raft, transfer: &LeaderTransfer, id: NodeId) {
    if !Leadership::of(raft).is_leader {
        return;
    }
    let voters = raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .count();
    if voters < 2 {
        return;
    }
    match tokio::time::timeout(HAND_OVER, transfer.transfer(None)).await {
        Ok(Ok(done)) => {
            tracing::info!(
                node = id,
                to = done.to,
                took_ms = done.took_ms,
                "handed leadership over"
            )
        }
        Ok(Err(e)) => tracing::warn!(node = id, cause = %e, "could not hand leadership over"),
        Err(_) => tracing::warn!(node = id, "handing leadership over took too long"),
    }
}

/// Refuses data this build cannot serve: an interrupted restore, or the single-database
/// layout of earlier builds.
fn check_layout(data_dir: &std::path::Path) -> Result<(), NodeError> {
    if restore_interrupted(data_dir) {
        return Err(NodeError::Store(StoreError::Refused(format!(
            "a restore into {} was interrupted; run it again (--restore FILE)",
            data_dir.display()
        ))));
    }
    if data_dir.join("db").join("CURRENT").exists() {
        return Err(NodeError::Store(StoreError::Refused(format!(
            "{} holds the single-database layout of an earlier build; start this node \
             from a fresh data dir and let it catch up from the cluster",
            data_dir.display()
        ))));
    }
    Ok(())
}

/// Every node of the cluster file, as openraft members.
fn configured_members(config: &ClusterConfig) -> BTreeMap<NodeId, NodeAddr> {
    config
        .nodes
        .iter()
        .map(|n| {
            let addr = NodeAddr {
                api: n.api.clone(),
                raft: n.raft.clone(),
            };
            (n.id, addr)
        })
        .collect()
}

/// Seeds the pristine data dir of node `id` from a backup, for the cluster of `config`
/// (every configured node a voter). Run before [`run`], on each node of the new cluster.
pub async fn seed(
    config: &ClusterConfig,
    data_dir: PathBuf,
    backup: &std::path::Path,
) -> Result<BackupSummary, NodeError> {
    let members = configured_members(config);
    // Refuse a damaged or empty backup before the data dir is touched.
    let summary = check_backup(backup).await?;
    prepare_restore(&data_dir).await?;
    let db = open_raft_db(data_dir.join("raft")).await?;
    let open = db.rocks.open_mark();
    let log = LogStore::new(db);
    let summary = seed_from_backup(&data_dir, backup, summary, members, &log).await;
    drop(log);
    // The node that runs next in this process opens the same database.
    crate::store::closed(open).await;
    Ok(summary?)
}

/// The lowest-numbered node initialises a pristine cluster with every configured member.
/// Any other start (a restart, another node) finds the store initialised or waits to be
/// contacted, so the cluster is bootstrapped exactly once.
async fn bootstrap_once(raft: &Raft, id: NodeId, config: &ClusterConfig) -> Result<(), NodeError> {
    let first = config.nodes.iter().map(|n| n.id).min();
    if first != Some(id) {
        return Ok(());
    }
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    if initialized {
        return Ok(());
    }
    let members = configured_members(config);
    match raft.initialize(members).await {
        Ok(()) => {
            tracing::info!(node = id, "bootstrapped a new cluster");
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(NodeError::Raft(e.to_string())),
    }
}
