//! The `frontend` binary: parses flags, sets up logging, binds the listener and calls
//! `frontend::run`.

use std::path::PathBuf;

use anyhow::Context;
use bazaar_api::config::ClusterConfig;
use bazaar_service::logging::LogArgs;
use bazaar_service::shutdown;
use clap::Parser;

/// malloc and memcpy are a large share of a request's CPU; mimalloc is faster at both.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Bazaar's stateless HTTP frontend: the shop's public API, with a versioned LRU cache in
/// front of the Raft-replicated store and writes routed to the leader.
///
/// Reads the node addresses and the `[frontend]` section (listen address, cache capacity,
/// TTL, staleness bound, request deadline) from the cluster file. SIGTERM or Ctrl-C stop
/// it cleanly.
#[derive(Debug, Parser)]
#[command(name = "frontend", version = bazaar_service::version::LONG, about, long_about)]
struct Args {
    /// Cluster configuration file (nodes and `[frontend]` settings).
    #[arg(long, default_value = "cluster.toml")]
    config: PathBuf,
    /// Address to listen on, overriding frontend.listen (use 127.0.0.1:0 for any port).
    #[arg(long)]
    listen: Option<String>,
    /// Turn the cache off (every read goes to a node), overriding frontend.cache_enabled.
    #[arg(long)]
    no_cache: bool,
    /// Forward catalog admin routes to the nodes, overriding frontend.admin (off by
    /// default; membership changes are never forwarded).
    #[arg(long)]
    admin: bool,
    #[command(flatten)]
    log: LogArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.log.init("info");
    // Test builds only: arm the failpoints FAILPOINTS names (e.g. `reader.fill=return(1500)`).
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    let mut config = ClusterConfig::load(&args.config)
        .with_context(|| format!("loading {}", args.config.display()))?;
    if args.no_cache {
        config.frontend.cache_enabled = false;
    }
    if args.admin {
        config.frontend.admin = true;
    }
    let listen = args
        .listen
        .unwrap_or_else(|| config.frontend.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    // Scripts and tests read the bound address from this line (the port may be 0).
    println!("frontend listening on {}", listener.local_addr()?);
    frontend::run(config, listener, shutdown::on_signal()).await?;
    Ok(())
}
