//! `bazaar`: the Bazaar shop's command-line client. Parses arguments, sets up logging and
//! calls into the `client` library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bazaar_api::config::ClusterConfig;
use bazaar_api::{
    parse_price, AlarmKind, MembershipChange, ProductPatch, ProductSpec, RestockRequest,
};
use bazaar_service::logging::LogArgs;
use clap::{Args, Parser, Subcommand};
use client::check::model::AutoRestock;
use client::check::{run_check, CheckOptions};
use client::commands::{self, Output};
use client::load::{self, LoadOptions};
use client::operations;
use client::target::{resolve, Target};
use client::ApiClient;

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
    /// Frontend (or node) to talk to; default: frontend.listen from --config (https with
    /// a `[tls]` section).
    #[arg(long, global = true, env = "BAZAAR_URL")]
    url: Option<String>,
    /// The cluster's CA certificate, for https URLs; default: tls.ca_cert from --config.
    #[arg(long, global = true, env = "BAZAAR_CA_CERT")]
    ca_cert: Option<PathBuf>,
    /// Cluster file for the default URL, node URLs and admin token.
    #[arg(long, global = true, default_value = "cluster.toml")]
    config: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Per-request timeout.
    #[arg(long, global = true, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show one product: title, topic, price, stock.
    Lookup {
        /// Product name, e.g. Tux.
        name: String,
    },
    /// List the products of a topic.
    Search {
        /// Topic, e.g. toys.
        topic: String,
    },
    /// Order QTY units of NAME; prints the order number.
    Order {
        name: String,
        quantity: u64,
        /// Makes a retry safe: the same key returns the first order instead of a new one.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show order number N.
    OrderStatus { number: u64 },
    /// Cluster members, leader, term, log indexes, cache figures.
    Status {
        /// Ask every member instead: one row per node with its role, term, commit and
        /// applied index, lag, readiness and version.
        #[arg(long)]
        cluster: bool,
    },
    /// Cluster membership, etcdctl style (talks to nodes: --url of a node, or the nodes of
    /// --config; changes need the admin token).
    Member {
        /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        action: MemberAction,
    },
    /// Leadership (talks to nodes; needs the admin token).
    Leader {
        /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        action: LeaderAction,
    },
    /// Cluster alarms, etcdctl style: `list` shows them (any node); `disarm` ends them
    /// through the leader (admin token), refused with the figures while a voter is still
    /// short of space. See README, "When the disk fills".
    Alarm {
        /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        action: AlarmAction,
    },
    /// Backups of the whole shop state (`save` talks to a node and needs the admin token;
    /// `inspect` reads a file offline). Restore with `raft-node --restore FILE` or
    /// `scripts/start-cluster.sh --restore FILE`.
    Backup {
        /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Print a shell completion script, e.g. `bazaar completions bash > /etc/bash_completion.d/bazaar`.
    Completions { shell: clap_complete::Shell },
    /// Catalog changes (need the admin token: --token, BAZAAR_TOKEN or security.token).
    Admin {
        /// Overrides BAZAAR_TOKEN and the config's security.token.
        #[arg(long)]
        token: Option<String>,
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Load generator: N sessions look up random products and order with probability p,
    /// then every acknowledged order is re-read and compared.
    ///
    /// --compare-cache needs a second frontend started with `frontend --no-cache` on
    /// another port, given as --no-cache-url; each p then runs against both.
    Load(LoadArgs),
    /// Make a cluster's TLS files: a CA plus a certificate and key for every node and the
    /// frontend, named for the hosts in --config and for loopback. Point the cluster file's
    /// `[tls]` section at them.
    Certs {
        /// Folder to write ca.crt, ca.key, `node<id>.crt`/`.key`, frontend.crt/.key into.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing set (every process then needs the new files).
        #[arg(long)]
        force: bool,
    },
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

#[derive(Subcommand)]
enum AdminAction {
    /// Create or replace a product.
    Upsert {
        name: String,
        #[arg(long)]
        topic: String,
        /// Price with at most two decimals, e.g. 25.99.
        #[arg(long)]
        price: f64,
        /// Units in stock.
        #[arg(long)]
        quantity: u64,
        #[arg(long, default_value = "")]
        title: String,
    },
    /// Change a product's price and/or stock.
    Update {
        name: String,
        #[arg(long)]
        price: Option<f64>,
        /// New stock level (units).
        #[arg(long)]
        quantity: Option<u64>,
    },
    /// Add AMOUNT units to a product's stock.
    Restock { name: String, amount: u64 },
}

#[derive(Subcommand)]
enum MemberAction {
    /// Every member: id, addresses, voter or learner, match index, lag and version.
    List,
    /// Add node ID as a learner (start it first, with an empty data dir). It starts from a
    /// snapshot, which the leader first brings up to date when the log since it is long
    /// (this waits up to 5 s).
    Add {
        id: u64,
        /// Its public API address, host:port.
        #[arg(long)]
        api: String,
        /// Its peer (Raft) address, host:port.
        #[arg(long)]
        raft: String,
        /// Wait until it has caught up with the leader, at most this long (default 2m
        /// when given without a value).
        #[arg(long, num_args = 0..=1, default_missing_value = "2m", value_parser = humantime::parse_duration)]
        wait: Option<Duration>,
    },
    /// Make a caught-up learner a voter.
    Promote { id: u64 },
    /// Remove a member, voter or learner. Refused if it would leave no quorum.
    Remove { id: u64 },
}

#[derive(Subcommand)]
enum LeaderAction {
    /// Move leadership to voter ID, or to the most up-to-date voter. Writes pause until
    /// it leads (typically well under a second).
    Transfer { id: Option<u64> },
}

#[derive(Subcommand)]
enum AlarmAction {
    /// The active alarms: kind, member, the index they were raised at, and why.
    List,
    /// End the active alarms (all kinds, or --kind). New orders flow again.
    Disarm {
        /// Only alarms of this kind: nospace or corrupt.
        #[arg(long)]
        kind: Option<AlarmKind>,
        /// Disarm nospace even if a voter cannot be asked for its space (one that answers
        /// and is still short refuses the disarm regardless).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum BackupAction {
    /// Stream a consistent, checksummed copy of the state from a node into FILE.
    Save { file: PathBuf },
    /// Check FILE whole and print its index, counts and digest.
    Inspect { file: PathBuf },
}

#[derive(Args)]
struct LoadArgs {
    /// Concurrent sessions, each on its own kept-alive connection.
    #[arg(long, default_value_t = 5)]
    sessions: usize,
    /// Probability of ordering one unit after each lookup.
    #[arg(long, default_value_t = 0.5)]
    prob: f64,
    /// How long each run lasts (e.g. 30s, 2m).
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many lookups instead (over all sessions).
    #[arg(long, conflicts_with = "duration")]
    requests: Option<u64>,
    /// Run each of these probabilities in turn, e.g. 0,0.2,0.4,0.6,0.8; writes a table,
    /// latency.csv and latency.svg.
    #[arg(long)]
    sweep_prob: Option<String>,
    /// Run each p with the cache on (--url) and off (--no-cache-url).
    #[arg(long, requires = "no_cache_url")]
    compare_cache: bool,
    /// A frontend started with --no-cache (same cluster, another listen port).
    #[arg(long)]
    no_cache_url: Option<String>,
    /// Where latency.csv and latency.svg go.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
    /// How long an order is retried with its idempotency key on no answer or 503.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    order_retry_for: Duration,
}

#[derive(Args)]
struct CheckArgs {
    /// Concurrent workers (spread over the --url values).
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// How long the workload runs.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// More URLs to spread workers over (frontends or nodes), besides --url.
    #[arg(long = "also-url")]
    also_url: Vec<String>,
    /// A node API URL whose GET /cluster digest is compared at the end (repeatable).
    #[arg(long = "node-url")]
    node_url: Vec<String>,
    /// Compare the digests of every node in --config.
    #[arg(long)]
    config_nodes: bool,
    /// JSON-lines history file.
    #[arg(long, default_value = "bazaar-history.jsonl")]
    history: PathBuf,
    /// Fresh products the run creates and exercises.
    #[arg(long, default_value_t = 4)]
    products: usize,
    /// Their initial stock (low, so orders are refused sometimes).
    #[arg(long, default_value_t = 20)]
    initial_stock: u64,
    /// Wall-clock budget for the linearizability search; past it a product is "unknown".
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    check_budget: Duration,
    /// Per-operation timeout; an operation without an answer by then is indeterminate.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    op_timeout: Duration,
    /// How long an order is retried with the same idempotency key.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    retry_for: Duration,
    /// How long the end-of-run reads wait for the cluster to heal.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// Model the leader's low-stock timer as THRESHOLD:AMOUNT; default: from --config's
    /// `[restock]` when its interval_secs > 0. "off" disables.
    #[arg(long)]
    auto_restock: Option<String>,
    /// Admin token for restocks and product setup.
    #[arg(long)]
    token: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.log.init("warn");
    // Commands that need no cluster answer at once, without a runtime.
    match &cli.command {
        Command::Token => {
            println!("{}", client::certs::random_token());
            return ExitCode::SUCCESS;
        }
        Command::Certs { out, force } => return certs_cmd(&cli.config, out, *force),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "bazaar", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Backup {
            action: BackupAction::Inspect { file },
            ..
        } => {
            return match operations::backup_inspect(file) {
                Ok(out) => {
                    print(&out, cli.json);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let admin_token = match &cli.command {
        Command::Admin { token, .. }
        | Command::Member { token, .. }
        | Command::Leader { token, .. }
        | Command::Alarm { token, .. }
        | Command::Backup { token, .. } => token.clone(),
        Command::Check(c) => c.token.clone(),
        _ => None,
    };
    let target = resolve(
        &cli.config,
        cli.url.as_deref(),
        admin_token.as_deref(),
        cli.ca_cert.as_deref(),
    )?;
    let client = ApiClient::new(&target.url, cli.timeout, &target.transport)?
        .with_token(target.token.clone());
    let out = match cli.command {
        Command::Lookup { name } => commands::lookup(&client, &name).await?,
        Command::Search { topic } => commands::search(&client, &topic).await?,
        Command::Order {
            name,
            quantity,
            idempotency_key,
        } => commands::order(&client, &name, quantity, idempotency_key.as_deref()).await?,
        Command::OrderStatus { number } => commands::order_status(&client, number).await?,
        Command::Status { cluster: false } => commands::status(&client).await?,
        Command::Status { cluster: true } => {
            let node = node_client(&cli.url, &target, cli.timeout).await?;
            operations::cluster_status(&node).await?
        }
        Command::Member { action, .. } => {
            let node = node_client(&cli.url, &target, cli.timeout).await?;
            member(&node, action).await?
        }
        Command::Leader {
            action: LeaderAction::Transfer { id },
            ..
        } => {
            let node = node_client(&cli.url, &target, cli.timeout).await?;
            operations::leader_transfer(&node, id).await?
        }
        Command::Alarm { action, .. } => {
            let node = node_client(&cli.url, &target, cli.timeout).await?;
            match action {
                AlarmAction::List => operations::alarm_list(&node).await?,
                AlarmAction::Disarm { kind, force } => {
                    operations::alarm_disarm(&node, kind, force).await?
                }
            }
        }
        Command::Backup {
            action: BackupAction::Save { file },
            ..
        } => {
            let node = node_client(&cli.url, &target, cli.timeout).await?;
            let progress = !cli.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            operations::backup_save(&node, &file, progress).await?
        }
        Command::Ready => return ready_cmd(&client).await,
        Command::Token
        | Command::Certs { .. }
        | Command::Completions { .. }
        | Command::Backup {
            action: BackupAction::Inspect { .. },
            ..
        } => unreachable_cli()?,
        Command::Admin { action, .. } => admin(&client, action).await?,
        Command::Load(args) => return load_cmd(&target, cli.timeout, cli.json, args).await,
        Command::Check(args) => return check_cmd(&target, cli.json, args).await,
    };
    print(&out, cli.json);
    Ok(ExitCode::SUCCESS)
}

/// The node operator commands talk to: --url when given, else the first node of the
/// cluster file that answers.
async fn node_client(
    url: &Option<String>,
    target: &Target,
    timeout: Duration,
) -> Result<ApiClient> {
    let urls = match url {
        Some(u) => vec![u.clone()],
        None => target.node_urls.clone(),
    };
    let node = operations::first_node(&urls, timeout, &target.transport).await?;
    Ok(node.with_token(target.token.clone()))
}

async fn member(node: &ApiClient, action: MemberAction) -> Result<Output> {
    Ok(match action {
        MemberAction::List => operations::member_list(node).await?,
        MemberAction::Add {
            id,
            api,
            raft,
            wait,
        } => operations::member_add(node, MembershipChange { id, api, raft }, wait).await?,
        MemberAction::Promote { id } => operations::member_promote(node, id).await?,
        MemberAction::Remove { id } => operations::member_remove(node, id).await?,
    })
}

/// `bazaar certs` for the nodes and frontend of `config`.
fn certs_cmd(config: &std::path::Path, out: &std::path::Path, force: bool) -> ExitCode {
    let made = ClusterConfig::load(config)
        .map_err(anyhow::Error::from)
        .and_then(|c| client::certs::make_certs(&c, out, force).map_err(anyhow::Error::from));
    match made {
        Ok(made) => {
            println!(
                "wrote {} in {}, with a .key beside each; keep ca.key offline",
                made.names
                    .iter()
                    .map(|n| format!("{n}.crt"))
                    .collect::<Vec<_>>()
                    .join(", "),
                made.dir.display(),
            );
            println!(
                "add to the cluster file:\n[tls]\nca_cert = \"{0}/ca.crt\"\ncert = \"{0}/{{name}}.crt\"\nkey = \"{0}/{{name}}.key\"",
                made.dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `bazaar ready`: 0 when /readyz says ready.
async fn ready_cmd(client: &ApiClient) -> Result<ExitCode> {
    match client.readiness().await {
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("not ready: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Commands answered before the runtime starts never get here.
fn unreachable_cli() -> Result<Output> {
    bail!("this command runs without a cluster")
}

fn print(out: &Output, json: bool) {
    if json {
        println!("{}", out.json);
    } else {
        println!("{}", out.human);
    }
}

fn price(value: f64) -> Result<u64> {
    parse_price(value).map_err(anyhow::Error::msg)
}

async fn admin(client: &ApiClient, action: AdminAction) -> Result<Output> {
    let product = match action {
        AdminAction::Upsert {
            name,
            topic,
            price: p,
            quantity,
            title,
        } => {
            let spec = ProductSpec {
                name,
                title,
                topic,
                price: price(p)?,
                quantity,
            };
            spec.validate().map_err(anyhow::Error::msg)?;
            client.upsert(&spec).await?
        }
        AdminAction::Update {
            name,
            price: p,
            quantity,
        } => {
            if p.is_none() && quantity.is_none() {
                bail!("nothing to update: give --price and/or --quantity");
            }
            let patch = ProductPatch {
                price: p.map(price).transpose()?,
                quantity,
            };
            client.update(&name, &patch).await?
        }
        AdminAction::Restock { name, amount } => {
            client
                .restock(&RestockRequest { name, amount }, None)
                .await?
        }
    };
    Ok(commands::admin_output(&product)?)
}

async fn load_cmd(
    target: &Target,
    timeout: Duration,
    json: bool,
    args: LoadArgs,
) -> Result<ExitCode> {
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(30)),
        (d, _) => d,
    };
    let opts = LoadOptions {
        url: target.url.clone(),
        transport: target.transport.clone(),
        sessions: args.sessions,
        prob: args.prob,
        duration,
        requests: args.requests,
        timeout,
        order_retry_for: args.order_retry_for,
        progress: !json,
    };
    if args.sweep_prob.is_none() && !args.compare_cache {
        let r = load::run_load(&opts).await?;
        if json {
            println!("{}", load_json(&r));
        } else {
            print!("{}", load::report::run_table(&r));
        }
        return Ok(if r.mismatches.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let probs = match &args.sweep_prob {
        Some(text) => load::parse_probs(text).map_err(anyhow::Error::msg)?,
        None => vec![args.prob],
    };
    let no_cache = if args.compare_cache {
        args.no_cache_url.as_deref()
    } else {
        None
    };
    let out = load::sweep(&opts, &probs, no_cache, &args.out_dir, |table| {
        if !json {
            print!("{table}");
        }
    })
    .await?;
    let mismatches: usize = out.runs.iter().map(|(_, r)| r.mismatches.len()).sum();
    if json {
        let runs: Vec<_> = out
            .runs
            .iter()
            .map(|(c, r)| serde_json::json!({"cache": c, "run": load_json(r)}))
            .collect();
        println!(
            "{}",
            serde_json::json!({"runs": runs, "csv": out.csv, "svg": out.svg, "mismatches": mismatches})
        );
    } else {
        println!("\n{}", out.table);
        println!("csv: {}\nplot: {}", out.csv.display(), out.svg.display());
    }
    Ok(if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn load_json(r: &load::LoadResult) -> serde_json::Value {
    use load::stats::latency;
    serde_json::json!({
        "url": r.url,
        "prob": r.prob,
        "seconds": r.elapsed.as_secs_f64(),
        "throughput_rps": r.throughput(),
        "lookup_ms": latency(&r.stats.lookup),
        "order_ms": latency(&r.stats.order),
        "errors": r.stats.errors,
        "verified": r.verified,
        "mismatches": r.mismatches.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
    })
}

fn auto_restock(arg: Option<&str>, target: &Target) -> Result<Option<AutoRestock>> {
    match arg {
        Some("off") => Ok(None),
        Some(text) => {
            let (t, a) = text
                .split_once(':')
                .context("--auto-restock wants THRESHOLD:AMOUNT or off")?;
            Ok(Some(AutoRestock {
                threshold: t.trim().parse().context("--auto-restock threshold")?,
                amount: a.trim().parse().context("--auto-restock amount")?,
            }))
        }
        None => Ok(target
            .config
            .as_ref()
            .filter(|c| c.restock.interval_secs > 0)
            .map(|c| AutoRestock {
                threshold: c.restock.threshold,
                amount: c.restock.amount,
            })),
    }
}

async fn check_cmd(target: &Target, json: bool, args: CheckArgs) -> Result<ExitCode> {
    let mut node_urls = args.node_url.clone();
    if args.config_nodes {
        node_urls.extend(target.node_urls.iter().cloned());
    }
    let mut urls = vec![target.url.clone()];
    urls.extend(args.also_url.iter().cloned());
    let opts = CheckOptions {
        urls,
        transport: target.transport.clone(),
        node_urls,
        token: target.token.clone(),
        workers: args.workers,
        duration: args.duration,
        products: args.products,
        initial_stock: args.initial_stock,
        op_timeout: args.op_timeout,
        retry_for: args.retry_for,
        settle: args.settle,
        check_budget: args.check_budget,
        history: args.history.clone(),
        auto_restock: auto_restock(args.auto_restock.as_deref(), target)?,
    };
    let report = run_check(&opts).await?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    Ok(if report.anomalies.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
