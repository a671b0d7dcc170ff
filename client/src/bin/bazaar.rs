//! `bazaar`: the Bazaar shop's command-line client. Parses arguments, sets up logging,
//! hands the command to its function in `client::cli`, prints the outcome and maps it
//! to the exit code (0 passed, 1 failed or error, 2 bad arguments from clap).

use std::process::ExitCode;

use bazaar_service::logging::LogArgs;
use clap::{CommandFactory, Parser, Subcommand};
use client::cli::admin::AdminArgs;
use client::cli::alarm::AlarmArgs;
use client::cli::archive::ArchiveArgs;
use client::cli::backup::BackupArgs;
use client::cli::catalog::{LookupArgs, OrderArgs, OrderStatusArgs, SearchArgs};
use client::cli::certs::CertsArgs;
use client::cli::check::CheckArgs;
use client::cli::completion::CompletionArgs;
use client::cli::leader::LeaderArgs;
use client::cli::load::LoadArgs;
use client::cli::members::MemberArgs;
use client::cli::status::StatusArgs;
use client::cli::{self, block_on, CliError, Globals, Outcome};

/// malloc and memcpy are a large share of a request's CPU; mimalloc is faster at both.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bazaar",
    version = bazaar_service::version::LONG,
    about = "Client for the Bazaar shop: look up, order, administer, load-test and consistency-check"
)]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show one product: title, topic, price, stock.
    Lookup(LookupArgs),
    /// List the products of a topic.
    Search(SearchArgs),
    /// Order QTY units of NAME; prints the order number.
    Order(OrderArgs),
    /// Show order number N.
    OrderStatus(OrderStatusArgs),
    /// Cluster members, leader, term, log indexes, cache figures.
    Status(StatusArgs),
    /// Cluster membership, etcdctl style (talks to nodes: --url of a node, or the nodes of
    /// --config; changes need the admin token).
    Member(MemberArgs),
    /// Leadership (talks to nodes; needs the admin token).
    Leader(LeaderArgs),
    /// Cluster alarms, etcdctl style: `list` shows them (any node); `disarm` ends them
    /// through the leader (admin token), refused with the figures while a voter is still
    /// short of space. See README, "When the disk fills".
    Alarm(AlarmArgs),
    /// Backups of the whole shop state (`save` talks to a node and needs the admin token;
    /// `inspect` reads a file offline). Restore with `raft-node --restore FILE` or
    /// `scripts/start-cluster.sh --restore FILE`.
    Backup(BackupArgs),
    /// Archive old orders out of the hot state: `save`, keep the file safe, then `commit`.
    ///
    /// Two steps. First `archive save --upto N FILE` (a node; admin token) streams the
    /// orders after the last archive up to N into a new FILE, read at one linearizable
    /// index and checked whole; it never overwrites a file and removes nothing. Keep FILE
    /// somewhere safe (off this machine): once committed, it is the only copy of those
    /// orders. Then `archive commit FILE` (through the leader; admin token) removes them
    /// from every replica, each only if its own copy matches FILE's digest; otherwise the
    /// leader refuses (409, with the reason). A retried commit says "already committed".
    ///
    /// An archived order answers 410 naming its archive's range and digest; `archive get
    /// FILE N` reads it from the file and `archive inspect FILE` checks a file, both
    /// offline. See README, "Archiving old orders".
    Archive(ArchiveArgs),
    /// Print a shell completion script, e.g. `bazaar completions bash > /etc/bash_completion.d/bazaar`.
    Completions(CompletionArgs),
    /// Catalog changes (need the admin token: --token, BAZAAR_TOKEN or security.token).
    Admin(AdminArgs),
    /// Load generator: N sessions look up random products and order with probability p,
    /// then every acknowledged order is re-read and compared.
    ///
    /// --compare-cache needs a second frontend started with `frontend --no-cache` on
    /// another port, given as --no-cache-url; each p then runs against both.
    Load(LoadArgs),
    /// Make a cluster's TLS files: a CA plus a certificate and key for every node and the
    /// frontend, named for the hosts in --config and for loopback. Point the cluster file's
    /// `[tls]` section at them.
    Certs(CertsArgs),
    /// Print a fresh random secret for BAZAAR_ADMIN_TOKEN or BAZAAR_PEER_TOKEN.
    Token,
    /// Exit 0 if the process at --url is ready (GET /readyz answers 200), else 1 with the
    /// reason: for health checks.
    Ready,
    /// Jepsen-style consistency check: concurrent orders, reads and restocks on fresh
    /// products, recorded to a history, then checked for linearizability (per product),
    /// lost or duplicated orders, units conservation and replica convergence.
    Check(CheckArgs),
}

/// The one dispatch: each command to its library function. Those that need no cluster
/// (`token`, `certs`, `completions`, `backup inspect`, `archive inspect|get`) run without
/// an async runtime.
fn dispatch(command: Command, g: &Globals) -> Result<Outcome, CliError> {
    match command {
        Command::Lookup(a) => block_on(cli::catalog::lookup(g, a)),
        Command::Search(a) => block_on(cli::catalog::search(g, a)),
        Command::Order(a) => block_on(cli::catalog::order(g, a)),
        Command::OrderStatus(a) => block_on(cli::catalog::order_status(g, a)),
        Command::Status(a) => block_on(cli::status::run(g, a)),
        Command::Member(a) => block_on(cli::members::run(g, a)),
        Command::Leader(a) => block_on(cli::leader::run(g, a)),
        Command::Alarm(a) => block_on(cli::alarm::run(g, a)),
        Command::Backup(a) => cli::backup::run(g, a),
        Command::Archive(a) => cli::archive::run(g, a),
        Command::Completions(a) => Ok(cli::completion::run(&a, &mut Cli::command())),
        Command::Admin(a) => block_on(cli::admin::run(g, a)),
        Command::Load(a) => block_on(cli::load::run(g, a)),
        Command::Certs(a) => cli::certs::run(g, &a),
        Command::Token => Ok(cli::certs::token()),
        Command::Ready => block_on(cli::ready::run(g)),
        Command::Check(a) => block_on(cli::check::run(g, a)),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init("warn");
    match dispatch(cli.command, &cli.globals) {
        Ok(outcome) => {
            print!("{}", outcome.stdout);
            eprint!("{}", outcome.stderr);
            if outcome.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            // The whole chain, as the commands' errors always printed (`{:#}`).
            eprintln!("error: {:#}", anyhow::Error::from(e));
            ExitCode::FAILURE
        }
    }
}
