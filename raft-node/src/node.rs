//! Assembling one replica: storage, Raft, batchers, leader duties and both listeners.
//! `run` takes already-bound listeners and a shutdown future, so tests can bind port 0.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::SnapshotPolicy;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::catalog::{load_catalog, CatalogError};
use crate::config::ClusterConfig;
use crate::feed::ChangeFeed;
use crate::http::{api_router, AppState, API_ROUTES};
use crate::leader_duties::LeaderDuties;
use crate::metrics::HttpMetrics;
use crate::net::{raft_router, PeerNetwork, ReadIndexClient};
use crate::proposer::Proposer;
use crate::read_index::ReadIndexer;
use crate::store::{open_db, LogStore, StateMachine, StoreError};
use crate::types::{NodeAddr, NodeId, Raft};

/// How long in-flight requests get to finish after shutdown is requested.
const GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node {0} is not in the cluster config")]
    UnknownNode(NodeId),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("raft: {0}")]
    Raft(String),
    #[error("http client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// The two listeners of a node, already bound.
pub struct NodeListeners {
    pub api: TcpListener,
    pub raft: TcpListener,
}

/// Runs node `id` until `shutdown` resolves. Its data lives in `data_dir`.
pub async fn run(
    config: ClusterConfig,
    id: NodeId,
    data_dir: PathBuf,
    listeners: NodeListeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    if config.node(id).is_none() {
        return Err(NodeError::UnknownNode(id));
    }
    tracing::info!(node = id, data_dir = %data_dir.display(), "starting");
    let catalog = load_catalog(&config.catalog)?;
    let db = open_db(&data_dir.join("db"))?;
    let log = LogStore::new(db.clone());
    let committed = log.committed_index();
    let sm = StateMachine::open(
        db,
        &data_dir.join("snapshots"),
        config.raft.dedupe_retention_entries,
    )
    .await?;
    let reader = sm.reader();
    let feed: ChangeFeed = sm.feed();
    tracing::info!(node = id, applied = reader.applied_index(), "storage open");

    let r = &config.raft;
    let raft_config = openraft::Config {
        cluster_name: "bazaar".into(),
        heartbeat_interval: r.heartbeat_interval_ms,
        election_timeout_min: r.election_timeout_min_ms,
        election_timeout_max: r.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(r.snapshot_every_entries),
        max_in_snapshot_log_to_keep: r.keep_entries_after_snapshot,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| NodeError::Raft(e.to_string()))?;
    let net = PeerNetwork::new(id, &config.security.token)?;
    let raft = Raft::new(id, Arc::new(raft_config), net.clone(), log, sm)
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    tracing::info!(node = id, "raft started");
    bootstrap_once(&raft, id, &config).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let write_deadline = Duration::from_millis(r.write_deadline_ms);
    // Twice the longest election timeout without a quorum ack: this leader is cut off.
    let quorum_lost_after = Duration::from_millis(2 * r.election_timeout_max_ms);
    let proposer = Proposer::spawn(raft.clone(), id, write_deadline, quorum_lost_after);
    let read_deadline = Duration::from_millis(r.read_deadline_ms);
    let reads = ReadIndexer::spawn(raft.clone(), id, ReadIndexClient::new(net), read_deadline);
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
        stop_rx.clone(),
    );

    let token: Arc<str> = Arc::from(config.security.token.as_str());
    let state = AppState {
        id,
        raft: raft.clone(),
        reader,
        proposer,
        reads: reads.clone(),
        feed,
        metrics: HttpMetrics::new("bazaar_node", API_ROUTES),
        token: token.clone(),
        committed,
        read_deadline,
        shutdown: stop_rx.clone(),
    };
    let api = serve(listeners.api, api_router(state), stop_rx.clone());
    let peer = serve(
        listeners.raft,
        raft_router(raft.clone(), reads, token),
        stop_rx.clone(),
    );
    tracing::info!(node = id, "serving");
    let api_task = tokio::spawn(api);
    let peer_task = tokio::spawn(peer);
    shutdown.await;
    tracing::info!(node = id, "shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(GRACE, async {
        let _ = api_task.await;
        let _ = peer_task.await;
    })
    .await;
    raft.shutdown()
        .await
        .map_err(|e| NodeError::Raft(e.to_string()))?;
    Ok(())
}

async fn serve(listener: TcpListener, router: axum::Router, mut stop: watch::Receiver<bool>) {
    let result = axum::serve(listener, router)
        .tcp_nodelay(true)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(cause = %e, "listener failed");
    }
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
    let members: BTreeMap<NodeId, NodeAddr> = config
        .nodes
        .iter()
        .map(|n| {
            (
                n.id,
                NodeAddr {
                    api: n.api.clone(),
                    raft: n.raft.clone(),
                },
            )
        })
        .collect();
    match raft.initialize(members).await {
        Ok(()) => {
            tracing::info!(node = id, "bootstrapped a new cluster");
            Ok(())
        }
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(NodeError::Raft(e.to_string())),
    }
}
