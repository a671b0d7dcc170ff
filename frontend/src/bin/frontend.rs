//! The `frontend` binary: parses flags, sets up logging, binds the listener and calls
//! `frontend::run`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use raft_node::config::ClusterConfig;

/// malloc and memcpy are a large share of a request's CPU; mimalloc is faster at both.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bazaar's stateless HTTP frontend: the shop's public API, with a versioned LRU cache in
/// front of the Raft-replicated store and writes routed to the leader.
///
/// Reads the node addresses and the [frontend] section (listen address, cache capacity,
/// TTL, staleness bound, request deadline) from the cluster file. Logging follows
/// RUST_LOG (default: info).
#[derive(Debug, Parser)]
#[command(name = "frontend", version)]
struct Args {
    /// Cluster configuration file (nodes and [frontend] settings).
    #[arg(long, default_value = "cluster.toml")]
    config: PathBuf,
    /// Address to listen on, overriding frontend.listen (use 127.0.0.1:0 for any port).
    #[arg(long)]
    listen: Option<String>,
    /// Turn the cache off (every read goes to a node), overriding frontend.cache_enabled.
    #[arg(long)]
    no_cache: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr: stdout carries only the bound address line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = ClusterConfig::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    if args.no_cache {
        config.frontend.cache_enabled = false;
    }
    let listen = args
        .listen
        .unwrap_or_else(|| config.frontend.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // Scripts and tests read the bound address from this line (the port may be 0).
    println!("frontend listening on {}", listener.local_addr()?);
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::terminate(),
            ) {
                Ok(term) => term,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM; stopping on Ctrl-C only");
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
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down");
    };
    frontend::run(config, listener, shutdown).await?;
    Ok(())
}
