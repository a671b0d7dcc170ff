//! `raft-node`: one replica of Bazaar's store. Parses flags, sets up logging, binds the two
//! listeners and hands over to `raft_node::run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use raft_node::config::ClusterConfig;
use raft_node::NodeListeners;
use tokio::net::TcpListener;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One replica of the Bazaar store (openraft over RocksDB).
///
/// The node serves the public JSON API on its `api` address and peer RPC on its `raft`
/// address, both from the cluster file. The lowest-numbered node bootstraps a fresh
/// cluster once; restarts reuse the data directory.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// Cluster file (nodes, timings, restock policy, token).
    #[arg(long, default_value = "cluster.toml")]
    config: PathBuf,
    /// This node's id in the cluster file.
    #[arg(long, required_unless_present = "print_cluster")]
    id: Option<u64>,
    /// Print the validated cluster file as `node <id> <api> <raft>` and
    /// `frontend <listen>` lines, then exit (the scripts use this).
    #[arg(long)]
    print_cluster: bool,
    /// Where this node keeps its RocksDB and snapshots
    /// [default: <BAZAAR_DATA_DIR or data_dir from the file>/node<id>].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Bootstrap catalog file [default: `catalog` from the cluster file].
    #[arg(long)]
    catalog: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,openraft=warn".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = ClusterConfig::load(&args.config)?;
    if let Ok(dir) = std::env::var("BAZAAR_DATA_DIR") {
        config.data_dir = dir.into();
    }
    if let Some(catalog) = args.catalog {
        config.catalog = catalog;
    }
    if args.print_cluster {
        for n in &config.nodes {
            println!("node {} {} {}", n.id, n.api, n.raft);
        }
        println!("frontend {}", config.frontend.listen);
        return Ok(());
    }
    let id = args.id.context("--id is required")?;
    let node = config
        .node(id)
        .with_context(|| format!("node {id} is not in {}", args.config.display()))?
        .clone();
    let data_dir = args.data_dir.unwrap_or_else(|| config.node_data_dir(id));
    let api = bind(&node.api)
        .await
        .with_context(|| format!("cannot listen on api address {}", node.api))?;
    let raft = bind(&node.raft)
        .await
        .with_context(|| format!("cannot listen on raft address {}", node.raft))?;
    raft_node::run(
        config,
        id,
        data_dir,
        NodeListeners { api, raft },
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// Binds, retrying for a few seconds while the address is still held: a node restarted
/// right after `kill -9` can start before the kernel has released the old process's sockets.
async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr).await {
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
