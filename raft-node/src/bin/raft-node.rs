//! `raft-node`: one replica of Bazaar's store. Parses flags, sets up logging, binds the two
//! listeners and hands over to `raft_node::run`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bazaar_api::config::ClusterConfig;
use bazaar_service::logging::LogArgs;
use bazaar_service::serve::bind_retrying;
use bazaar_service::shutdown;
use clap::Parser;
use raft_node::fail_stop::{DAMAGED_DATA_EXIT_CODE, STORAGE_FAILED_EXIT_CODE};
use raft_node::{NodeError, NodeListeners};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long a restarted node keeps trying to bind an address its predecessor still holds.
const BIND_PATIENCE: Duration = Duration::from_secs(5);

/// How long an exiting node waits for its work on the blocking pool (its databases
/// closing) before it exits anyway.
const EXIT_PATIENCE: Duration = Duration::from_secs(10);

/// One replica of the Bazaar store (openraft over RocksDB).
///
/// The node serves the public JSON API on its `api` address and peer RPC on its `raft`
/// address, both from the cluster file. The lowest-numbered node bootstraps a fresh
/// cluster once; restarts reuse the data directory. SIGTERM or Ctrl-C stop it cleanly.
///
/// Exit codes: 0 after a clean stop; 74 when its storage failed (a write, sync or read of
/// its log, vote, state or snapshots failed while it ran, or its data dir could not be
/// opened or written at start, e.g. a full disk): the node stops serving at once (fail-stop,
/// `/readyz` answers 503 `storage_failed` until it exits) and its supervisor should restart
/// it once the cause is dealt with; 65 when it refused its own data at start (a checksum
/// that does not match, or state records that do not sum to what was applied: damage on
/// disk, or a record changed by hand), which a restart would find again; 1 for any other
/// error.
#[derive(Parser, Debug)]
#[command(version = bazaar_service::version::LONG, about, long_about)]
struct Args {
    /// Cluster file (nodes, timings, restock policy, token).
    #[arg(long, default_value = "cluster.toml")]
    config: PathBuf,
    /// This node's id in the cluster file.
    #[arg(long, required_unless_present = "print_cluster")]
    id: Option<u64>,
    /// Print the validated cluster file as lines the scripts read, then exit:
    /// `cluster <name> <http|https> <ca_cert or ->`, `data_dir <path>`,
    /// `node <id> <api> <raft>` and `frontend <listen>`.
    #[arg(long)]
    print_cluster: bool,
    /// Where this node keeps its RocksDB and snapshots
    /// [default: <BAZAAR_DATA_DIR or data_dir from the file>/node<id>].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Bootstrap catalog file [default: `catalog` from the cluster file].
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Seed this node's new, empty data dir from a backup (`bazaar backup save`) before it
    /// starts: its state becomes the backup's, with the cluster file's nodes as voters. Run
    /// it on every node of the new cluster with the same file. Refuses a damaged backup and
    /// a data dir that holds anything.
    #[arg(long, value_name = "BACKUP")]
    restore: Option<PathBuf>,
    /// With --restore: seed the data dir, print what was restored, and exit.
    #[arg(long, requires = "restore")]
    seed_only: bool,
    /// Async worker threads [default: `runtime.node_worker_threads` from the cluster file;
    /// 0 there means one per core]. One suits nodes that share a machine's cores with
    /// other nodes; RocksDB's writes and snapshots run on the blocking pool either way.
    #[arg(long, env = "BAZAAR_NODE_WORKER_THREADS", value_name = "N")]
    worker_threads: Option<usize>,
    #[command(flatten)]
    log: LogArgs,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    // openraft logs every failed replication attempt (ten a second to a peer that is down
    // or whose storage failed): its repeats are rate-limited per call site.
    args.log.init_limited("info,openraft=warn", &["openraft"]);
    // Test builds only: arm the failpoints FAILPOINTS names (e.g. `log.append.sync=return`).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let mut config = ClusterConfig::load(&args.config)?;
    if let Ok(dir) = std::env::var("BAZAAR_DATA_DIR") {
        config.data_dir = dir.into();
    }
    if let Some(catalog) = args.catalog.take() {
        config.catalog = catalog;
    }
    if let Some(threads) = args.worker_threads {
        config.runtime.node_worker_threads = threads;
        config
            .runtime
            .validate()
            .context("--worker-threads is out of range")?;
    }
    let runtime = runtime(config.runtime.node_worker_threads)?;
    let served = runtime.block_on(serve(args, config));
    // The databases `run` let go close on the blocking pool; exiting while one is closing
    // aborts the process in RocksDB's static destructors ("pthread lock: Invalid argument")
    // instead of exiting with the code a supervisor acts on. The wait is bounded: a RocksDB
    // call stuck on a failed disk must not keep a failed node alive.
    runtime.shutdown_timeout(EXIT_PATIENCE);
    match served? {
        Served::Stopped => Ok(()),
        Served::Failed(code) => std::process::exit(code),
    }
}

/// How `serve` ended, when it did not end with an error to print.
enum Served {
    /// A clean stop (or a command that only prints).
    Stopped,
    /// A fail-stop with this exit code, already logged.
    Failed(i32),
}

/// A multi-threaded runtime with `workers` async threads (0: tokio's choice, one per core
/// unless `TOKIO_WORKER_THREADS` says otherwise).
fn runtime(workers: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if workers > 0 {
        builder.worker_threads(workers);
    }
    builder.build().context("cannot start the async runtime")
}

async fn serve(args: Args, config: ClusterConfig) -> anyhow::Result<Served> {
    if args.print_cluster {
        let ca = config
            .tls
            .as_ref()
            .map_or("-".to_string(), |t| t.ca_cert.display().to_string());
        println!("cluster {} {} {ca}", config.cluster_name, config.scheme());
        println!("data_dir {}", config.data_dir.display());
        for n in &config.nodes {
            println!("node {} {} {}", n.id, n.api, n.raft);
        }
        println!("frontend {}", config.frontend.listen);
        return Ok(Served::Stopped);
    }
    let id = args.id.context("--id is required")?;
    let node = config
        .node(id)
        .with_context(|| format!("node {id} is not in {}", args.config.display()))?
        .clone();
    let data_dir = args.data_dir.unwrap_or_else(|| config.node_data_dir(id));
    if let Some(backup) = &args.restore {
        let summary = raft_node::seed(&config, data_dir.clone(), backup)
            .await
            .with_context(|| {
                format!(
                    "cannot restore {} into {}",
                    backup.display(),
                    data_dir.display()
                )
            })?;
        tracing::info!(
            node = id,
            index = summary.index,
            products = summary.products,
            orders = summary.orders,
            digest = %summary.digest,
            "restored from {}",
            backup.display()
        );
        if args.seed_only {
            println!(
                "node {id}: restored index {} ({} products, {} orders, digest {}) into {}",
                summary.index,
                summary.products,
                summary.orders,
                summary.digest,
                data_dir.display()
            );
            return Ok(Served::Stopped);
        }
    }
    let api = bind_retrying(&node.api, BIND_PATIENCE)
        .await
        .with_context(|| format!("cannot listen on api address {}", node.api))?;
    let raft = bind_retrying(&node.raft, BIND_PATIENCE)
        .await
        .with_context(|| format!("cannot listen on raft address {}", node.raft))?;
    let ran = raft_node::run(
        config,
        id,
        data_dir.clone(),
        NodeListeners { api, raft },
        shutdown::on_signal(),
    )
    .await;
    match ran {
        Ok(()) => Ok(Served::Stopped),
        Err(e) if e.is_damaged_data() => {
            tracing::error!(
                node = id,
                data_dir = %data_dir.display(),
                cause = %e,
                exit_code = DAMAGED_DATA_EXIT_CODE,
                "refusing to serve this node's damaged data: move the data dir aside and \
                 let the node rejoin empty (bazaar member remove, then add), or restore a backup"
            );
            Ok(Served::Failed(DAMAGED_DATA_EXIT_CODE))
        }
        Err(e) if e.is_storage_failure() => {
            if !matches!(e, NodeError::StorageFailed(_)) {
                // Failed before it served (the cause of a failure while serving is logged
                // once where it was recorded).
                tracing::error!(
                    node = id,
                    data_dir = %data_dir.display(),
                    cause = %e,
                    exit_code = STORAGE_FAILED_EXIT_CODE,
                    "cannot open or write this node's data (is its disk full?)"
                );
            }
            Ok(Served::Failed(STORAGE_FAILED_EXIT_CODE))
        }
        Err(e) => Err(e.into()),
    }
}
