//! Whole-system test harness. Two ways to run a cluster, each node with its own data dir in
//! a temp folder:
//! - [`TestCluster::start`]: real `raft-node` processes, killed with SIGKILL (fault tests);
//! - [`TestCluster::start_in_process`]: `raft_node::run` on listeners this process bound
//!   on `127.0.0.1:0` before the config was written (no port races), stopped through
//!   their cancellation tokens (the fast API tests).
//!
//! Everything waits on conditions with deadlines; nothing sleeps a fixed time to "let
//! things settle".

#![allow(dead_code)]

pub mod docker;
mod frontend;
pub mod load;
pub mod powercut;
pub mod tmpfs;

// Not every test binary starts a frontend.
#[allow(unused_imports)]
pub use frontend::Frontend;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bazaar_api::config::{ClusterConfig, NodeConfig, TlsSettings};
use bazaar_api::{ClusterInfo, Envelope, NodeRole, OrderView, IDEMPOTENCY_HEADER};
use bazaar_service::serve::bind_retrying;
use bazaar_service::CancellationToken;
use raft_node::NodeListeners;
use serde_json::Value;
use tokio::net::TcpListener;

/// Generous: these machines are shared and two cores run three nodes plus the test.
pub const DEADLINE: Duration = Duration::from_secs(30);
pub const POLL: Duration = Duration::from_millis(20);
/// The test clusters' admin token.
pub const TOKEN: &str = "test-token-0123456789";
/// The test clusters' peer token (a separate secret).
pub const PEER_TOKEN: &str = "test-peer-token-9876543210";

/// Path of a binary built by `cargo build --release --bins` (scripts/test.sh does that).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --release --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// Node `id` on two free loopback ports.
pub fn node_on_free_ports(id: u64) -> NodeConfig {
    NodeConfig {
        id,
        api: format!("127.0.0.1:{}", free_port()),
        raft: format!("127.0.0.1:{}", free_port()),
    }
}

/// A loopback port free right now and not handed out before by this test process. The
/// kernel may give the same ephemeral port to two binds in a row once the first listener is
/// closed, and one cluster file with a port twice is refused (seen in a gate run).
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// The value of the unlabelled series `name` in the Prometheus text at `metrics_url`; None
/// while the process does not answer or does not show the series.
pub async fn metric_value(metrics_url: &str, name: &str) -> Option<u64> {
    let text = reqwest::get(metrics_url).await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Polls `check` until it returns Some, or panics with `what` after `DEADLINE`.
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_within(what, DEADLINE, POLL, check).await
}

/// Polls `check` every `poll` until it gives `Ok`; after `deadline`, `Err` with `what` and
/// the last state `check` reported (its `Err`), for the caller to add its own evidence to.
pub async fn wait_reporting<T, F, Fut>(
    what: &str,
    deadline: Duration,
    poll: Duration,
    mut check: F,
) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(v) => return Ok(v),
            Err(last) => last,
        };
        if start.elapsed() > deadline {
            return Err(format!(
                "timed out after {deadline:?} waiting for {what}; last seen: {last}"
            ));
        }
        tokio::time::sleep(poll).await;
    }
}

/// Polls `check` every `poll` until it returns Some, or panics with `what` after `deadline`.
pub async fn wait_within<T, F, Fut>(
    what: &str,
    deadline: Duration,
    poll: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(poll).await;
    }
}

/// Blocking twin of [`wait_for`], for tests that drive external commands.
pub fn wait_blocking<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// Reports the running test as skipped (a fault it needs cannot be set up here, e.g. mount
/// is refused) before it returns early. Written to stderr itself, not with `eprintln!`,
/// which the harness captures and hides for a test that passes; `scripts/test.sh` counts
/// these lines as skipped tests, not passed ones.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// Sends `signal` (KILL, STOP, CONT) to a process.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// What became of one order attempt.
#[derive(Debug, Clone)]
pub enum Attempt {
    Acked(OrderView),
    /// A definite answer that is not an order (4xx).
    Rejected(u16, Value),
    /// No definite answer: it may or may not have happened.
    Indeterminate(String),
}

/// A running node: a child process, or a task of this test's runtime.
enum RunningNode {
    Process(Child),
    Task {
        stop: CancellationToken,
        done: tokio::task::JoinHandle<()>,
    },
}

impl RunningNode {
    /// SIGKILL for a process; for a task, cancel it and wait until it has released its
    /// ports and its database (a graceful stop: tasks cannot be killed).
    fn stop(self) {
        match self {
            RunningNode::Process(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            RunningNode::Task { stop, done } => {
                stop.cancel();
                tokio::task::block_in_place(|| {
                    let _ = tokio::runtime::Handle::current().block_on(done);
                });
            }
        }
    }
}

/// Runs for a node before it first starts (e.g. to seed its data dir).
type Prepare = Box<dyn Fn(&TestCluster, u64)>;

pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub config: ClusterConfig,
    config_path: PathBuf,
    procs: BTreeMap<u64, RunningNode>,
    in_process: bool,
    pub http: reqwest::Client,
}

impl TestCluster {
    pub async fn start(n: usize) -> Self {
        Self::start_with(n, |_| {}).await
    }

    /// Starts `n` nodes with `tweak` applied to the config; waits for a leader and the
    /// seeded catalog.
    pub async fn start_with(n: usize, tweak: impl FnOnce(&mut ClusterConfig)) -> Self {
        let nodes = (1..=n as u64).map(node_on_free_ports).collect();
        Self::launch(nodes, BTreeMap::new(), tweak, false).await
    }

    /// Starts `n` node processes with TLS on: a CA and every process's files made with
    /// `bazaar certs`' library in the cluster's temp dir, and this harness's client trusting
    /// that CA.
    pub async fn start_tls(n: usize) -> Self {
        let nodes = (1..=n as u64).map(node_on_free_ports).collect();
        Self::launch(nodes, BTreeMap::new(), |_| {}, true).await
    }

    /// Starts `n` node processes on a new cluster seeded from `backup`
    /// (`raft-node --restore --seed-only` on each pristine data dir first).
    pub async fn start_restored(n: usize, backup: &Path) -> Self {
        let nodes = (1..=n as u64).map(node_on_free_ports).collect();
        let backup = backup.to_owned();
        let restore: Prepare = Box::new(move |cluster, id| {
            let out =
                cluster.node_command(id, &["--restore", &backup.to_string_lossy(), "--seed-only"]);
            assert!(
                out.status.success(),
                "restoring node {id} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        });
        Self::launch_with(nodes, BTreeMap::new(), |_| {}, false, Some(restore)).await
    }

    /// Starts `n` node processes with `tweak` applied to the config, running `prepare` for
    /// each node before it first starts (e.g. to put its data dir somewhere special).
    pub async fn start_prepared(
        n: usize,
        tweak: impl FnOnce(&mut ClusterConfig),
        prepare: impl Fn(&TestCluster, u64) + 'static,
    ) -> Self {
        let nodes = (1..=n as u64).map(node_on_free_ports).collect();
        Self::launch_with(
            nodes,
            BTreeMap::new(),
            tweak,
            false,
            Some(Box::new(prepare)),
        )
        .await
    }

    /// `raft-node` for node `id` of this cluster: its file, id and data dir, and none of the
    /// operator's overrides from this environment.
    fn raft_node(&self, id: u64) -> Command {
        let mut command = Command::new(binary("raft-node"));
        command
            .args([
                "--config",
                &self.config_path.to_string_lossy(),
                "--id",
                &id.to_string(),
            ])
            .arg("--data-dir")
            .arg(self.config.node_data_dir(id))
            .env_remove("BAZAAR_DATA_DIR")
            .env_remove("BAZAAR_NODE_WORKER_THREADS")
            .env_remove(bazaar_api::config::ADMIN_TOKEN_ENV)
            .env_remove(bazaar_api::config::PEER_TOKEN_ENV);
        command
    }

    /// Runs `raft-node` for node `id` of this cluster with `args`, to completion.
    pub fn node_command(&self, id: u64, args: &[&str]) -> std::process::Output {
        self.raft_node(id)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run raft-node")
    }

    /// Runs the `bazaar` CLI against this cluster (its file, CA and admin token), to
    /// completion.
    pub fn bazaar(&self, args: &[&str]) -> std::process::Output {
        Command::new(binary("bazaar"))
            .args(["--config", &self.config_path.to_string_lossy()])
            .args(args)
            .env_remove("BAZAAR_URL")
            .env_remove(bazaar_api::config::PEER_TOKEN_ENV)
            .env(bazaar_api::config::ADMIN_TOKEN_ENV, TOKEN)
            .output()
            .expect("run bazaar")
    }

    /// Adds a node to the cluster file (not to the cluster: that is a membership change)
    /// and starts it on a pristine data dir; it waits to be contacted. Returns its id.
    pub fn add_node(&mut self) -> u64 {
        let id = self.ids().into_iter().max().unwrap_or(0) + 1;
        self.config.nodes.push(node_on_free_ports(id));
        std::fs::write(
            &self.config_path,
            toml::to_string(&self.config).expect("config serialises"),
        )
        .expect("rewrite cluster.toml");
        self.spawn(id);
        id
    }

    /// Starts `n` nodes inside this test's runtime, on listeners bound here first.
    pub async fn start_in_process(n: usize) -> Self {
        let mut nodes = Vec::new();
        let mut listeners = BTreeMap::new();
        for id in 1..=n as u64 {
            let api = TcpListener::bind("127.0.0.1:0").await.expect("bind api");
            let raft = TcpListener::bind("127.0.0.1:0").await.expect("bind raft");
            nodes.push(NodeConfig {
                id,
                api: api.local_addr().expect("api address").to_string(),
                raft: raft.local_addr().expect("raft address").to_string(),
            });
            listeners.insert(id, NodeListeners { api, raft });
        }
        Self::launch(nodes, listeners, |_| {}, false).await
    }

    async fn launch(
        nodes: Vec<NodeConfig>,
        listeners: BTreeMap<u64, NodeListeners>,
        tweak: impl FnOnce(&mut ClusterConfig),
        tls: bool,
    ) -> Self {
        Self::launch_with(nodes, listeners, tweak, tls, None).await
    }

    /// `listeners` empty: processes; else one task per node on its listeners. `prepare`
    /// runs for each node before it starts.
    async fn launch_with(
        nodes: Vec<NodeConfig>,
        mut listeners: BTreeMap<u64, NodeListeners>,
        tweak: impl FnOnce(&mut ClusterConfig),
        tls: bool,
        prepare: Option<Prepare>,
    ) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("bazaar-test-")
            .tempdir()
            .expect("temp dir");
        let in_process = !listeners.is_empty();
        let mut config = ClusterConfig {
            data_dir: dir.path().join("data"),
            catalog: repo_root().join("catalog.toml"),
            nodes,
            ..ClusterConfig::default()
        };
        config.security.admin_token = Some(TOKEN.into());
        config.security.peer_token = Some(PEER_TOKEN.into());
        // The restock timer would change stock behind the tests' backs.
        config.restock.interval_secs = 0;
        // The host's own free space must not raise the nospace alarm in tests that are not
        // about it (a CI disk was once seen with 287 MB free); the alarm tests set theirs.
        config.storage.min_free_bytes = 0;
        // Nor may the frontend shed for delay in tests that are not about it: two tests'
        // clusters share 2 cores, and one the OS lends no core for 15 ms would be behind.
        config.limits.frontend.queue_delay_ms = 0;
        config.frontend.listen = format!("127.0.0.1:{}", free_port());
        tweak(&mut config);
        if tls {
            let certs = dir.path().join("certs");
            client::certs::make_certs(&config, &certs, false).expect("test certificates");
            config.tls = Some(TlsSettings {
                ca_cert: certs.join("ca.crt"),
                cert: certs.join("{name}.crt").to_string_lossy().into_owned(),
                key: certs.join("{name}.key").to_string_lossy().into_owned(),
            });
        }
        config.validate().expect("test config is valid");
        let config_path = dir.path().join("cluster.toml");
        std::fs::write(
            &config_path,
            toml::to_string(&config).expect("config serialises"),
        )
        .expect("write cluster.toml");
        let http = bazaar_service::tls::cluster_client(&config, None)
            .expect("a client for the cluster")
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let mut cluster = Self {
            dir,
            config,
            config_path,
            procs: BTreeMap::new(),
            in_process,
            http,
        };
        for id in cluster.ids() {
            if let Some(prepare) = &prepare {
                prepare(&cluster, id);
            }
            match listeners.remove(&id) {
                Some(bound) => cluster.run_task(id, bound),
                None => cluster.spawn(id),
            }
        }
        let leader = cluster.leader().await;
        cluster.wait_seeded(leader).await;
        cluster
    }

    /// Changes the cluster file as an operator would; nodes read it when they restart.
    pub fn rewrite_config(&mut self, change: impl FnOnce(&mut ClusterConfig)) {
        change(&mut self.config);
        self.config.validate().expect("the changed config is valid");
        std::fs::write(
            &self.config_path,
            toml::to_string(&self.config).expect("config serialises"),
        )
        .expect("rewrite cluster.toml");
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    pub fn ids(&self) -> Vec<u64> {
        self.config.nodes.iter().map(|n| n.id).collect()
    }

    pub fn live_ids(&self) -> Vec<u64> {
        self.procs.keys().copied().collect()
    }

    pub fn api_url(&self, id: u64) -> String {
        let node = self.config.node(id).expect("known node");
        self.config.url_of(&node.api)
    }

    pub fn raft_url(&self, id: u64) -> String {
        let node = self.config.node(id).expect("known node");
        self.config.url_of(&node.raft)
    }

    fn spawn(&mut self, id: u64) {
        self.spawn_with_args(id, &[]);
    }

    /// Starts node `id`'s process with `args` after the harness's own.
    fn spawn_with_args(&mut self, id: u64, args: &[&str]) {
        self.spawn_with_env(id, args, &[]);
    }

    /// Starts node `id`'s process with `args` and extra environment (e.g. FAILPOINTS).
    fn spawn_with_env(&mut self, id: u64, args: &[&str], env: &[(&str, &str)]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("node{id}.log")))
            .expect("node log file");
        let child = self
            .raft_node(id)
            .args(args)
            .env("RUST_LOG", "info,openraft=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn raft-node");
        self.procs.insert(id, RunningNode::Process(child));
    }

    /// Runs node `id` as a task of this runtime on already-bound listeners.
    fn run_task(&mut self, id: u64, listeners: NodeListeners) {
        let stop = CancellationToken::new();
        let config = self.config.clone();
        let data_dir = self.config.node_data_dir(id);
        let token = stop.clone();
        let done = tokio::spawn(async move {
            if let Err(e) = raft_node::run(config, id, data_dir, listeners, token).await {
                eprintln!("in-process node {id} failed: {e}");
            }
        });
        self.procs.insert(id, RunningNode::Task { stop, done });
    }

    pub fn pid(&self, id: u64) -> u32 {
        match self.procs.get(&id) {
            Some(RunningNode::Process(child)) => child.id(),
            Some(RunningNode::Task { .. }) => panic!("node {id} runs in this process"),
            None => panic!("node {id} is not running"),
        }
    }

    /// How node `id`'s process ended, once it has (it is then no longer counted as live);
    /// None while it runs.
    pub fn exited(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let Some(RunningNode::Process(child)) = self.procs.get_mut(&id) else {
            return None;
        };
        let status = child.try_wait().expect("wait for a node process")?;
        self.procs.remove(&id);
        Some(status)
    }

    /// Waits (up to [`DEADLINE`]) for node `id`'s process to end by itself and returns
    /// how it ended.
    pub async fn wait_exit(&mut self, id: u64, what: &str) -> std::process::ExitStatus {
        wait_within(what, DEADLINE, POLL, || std::future::ready(self.exited(id))).await
    }

    /// Stops node `id`: SIGKILL for a process (no shutdown path runs), a graceful stop for
    /// an in-process node.
    pub fn kill(&mut self, id: u64) {
        if let Some(node) = self.procs.remove(&id) {
            node.stop();
        }
    }

    /// Starts a stopped node process again, on the same data dir and addresses, with
    /// `args` (flags that override its file).
    pub fn restart_with_args(&mut self, id: u64, args: &[&str]) {
        assert!(!self.procs.contains_key(&id), "node {id} is still running");
        assert!(!self.in_process, "flags need a node process");
        self.spawn_with_args(id, args);
    }

    /// Starts a stopped node process again with extra environment, e.g. FAILPOINTS to arm
    /// failpoints in it (the test build compiles them in).
    pub fn restart_with_env(&mut self, id: u64, env: &[(&str, &str)]) {
        assert!(!self.procs.contains_key(&id), "node {id} is still running");
        assert!(!self.in_process, "environment needs a node process");
        self.spawn_with_env(id, &[], env);
    }

    /// Starts a stopped node again on the same data dir and addresses.
    pub fn restart(&mut self, id: u64) {
        if !self.in_process {
            self.restart_with_args(id, &[]);
            return;
        }
        assert!(!self.procs.contains_key(&id), "node {id} is still running");
        let node = self.config.node(id).expect("known node").clone();
        let listeners = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let patience = Duration::from_secs(5);
                NodeListeners {
                    api: bind_retrying(&node.api, patience)
                        .await
                        .expect("rebind api"),
                    raft: bind_retrying(&node.raft, patience)
                        .await
                        .expect("rebind raft"),
                }
            })
        });
        self.run_task(id, listeners);
    }

    pub fn node_log(&self, id: u64) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("node{id}.log"))).unwrap_or_default()
    }

    pub async fn cluster_info(&self, id: u64) -> Option<ClusterInfo> {
        let resp = self
            .http
            .get(format!("{}/cluster", self.api_url(id)))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        resp.json::<Envelope<ClusterInfo>>()
            .await
            .ok()
            .map(|e| e.data)
    }

    /// The leader that a live node reports about itself.
    pub async fn leader(&self) -> u64 {
        wait_for("a leader", || async {
            for id in self.live_ids() {
                if let Some(info) = self.cluster_info(id).await {
                    if info.role == NodeRole::Leader {
                        return Some(id);
                    }
                }
            }
            None
        })
        .await
    }

    /// A member that is not the leader now.
    pub async fn follower(&self) -> u64 {
        let leader = self.leader().await;
        self.ids()
            .into_iter()
            .find(|id| *id != leader)
            .expect("a follower")
    }

    /// Starts 3 node processes with `tweak` applied, node `id`'s data dir a link to
    /// `places[id]` (a dir on a disk of the test's own: tmpfs, powercut).
    pub async fn start_on(
        places: BTreeMap<u64, PathBuf>,
        tweak: impl FnOnce(&mut ClusterConfig),
    ) -> Self {
        Self::start_prepared(places.len(), tweak, move |cluster, id| {
            tmpfs::link_data_dir(cluster, id, &places[&id])
        })
        .await
    }

    /// Creates product `name` (topic `tests`, price 1.00, `quantity` units) on the leader
    /// with the admin token, and fails the test unless it is created.
    pub async fn create_product(&self, name: &str, title: &str, quantity: u64) {
        let leader = self.leader().await;
        let resp = self
            .http
            .post(format!("{}/admin/products", self.api_url(leader)))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({
                "name": name, "title": title, "topic": "tests",
                "price": 1.0, "quantity": quantity
            }))
            .send()
            .await
            .expect("the leader answers");
        assert!(
            resp.status().is_success(),
            "creating {name}: {}",
            resp.status()
        );
    }

    async fn wait_seeded(&self, leader: u64) {
        let url = format!("{}/products/Tux", self.api_url(leader));
        wait_for("the seeded catalog", || async {
            let resp = self.http.get(&url).send().await.ok()?;
            resp.status().is_success().then_some(())
        })
        .await;
    }

    /// Waits until every live node has applied the same index with the same digest.
    pub async fn wait_converged(&self) -> ClusterInfo {
        wait_for("replicas to converge", || async {
            let mut infos = Vec::new();
            for id in self.live_ids() {
                infos.push(self.cluster_info(id).await?);
            }
            let first = infos.first()?.clone();
            infos
                .iter()
                .all(|i| {
                    i.applied_index == first.applied_index && i.state_digest == first.state_digest
                })
                .then_some(first)
        })
        .await
    }

    /// What placing orders needs of this cluster, owned: order workers run in their own
    /// tasks with it while the test kills and restarts nodes.
    pub fn orders(&self) -> Orders {
        Orders {
            http: self.http.clone(),
            nodes: self
                .ids()
                .into_iter()
                .map(|id| (id, self.api_url(id)))
                .collect(),
        }
    }

    /// One attempt at node `id`.
    pub async fn order_at(
        &self,
        id: u64,
        name: &str,
        quantity: u64,
        key: &str,
    ) -> Result<(u16, Value), String> {
        self.orders().order_at(id, name, quantity, key).await
    }

    /// Places an order the way a careful client would (see [`Orders::place_order`]).
    pub async fn place_order(
        &self,
        name: &str,
        quantity: u64,
        key: &str,
        patience: Duration,
    ) -> Attempt {
        self.orders()
            .place_order(name, quantity, key, patience)
            .await
    }

    pub async fn get_order(&self, id: u64, number: u64) -> Option<OrderView> {
        let resp = self
            .http
            .get(format!("{}/orders/{number}", self.api_url(id)))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.json::<Envelope<OrderView>>()
            .await
            .ok()
            .map(|e| e.data)
    }

    /// Asserts that node `id` answers every order of `orders` (by key) exactly as it was
    /// acknowledged; names the order and what the node said instead.
    pub async fn assert_has_orders(&self, id: u64, orders: &BTreeMap<String, OrderView>) {
        for (key, order) in orders {
            let found = self.get_order(id, order.number).await;
            if found.as_ref() != Some(order) {
                let answer = self
                    .http
                    .get(format!("{}/orders/{}", self.api_url(id), order.number))
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                panic!(
                    "order {} ({key}) on node {id}: expected {order:?}, found {found:?} \
                     (status {answer:?}); cluster: {:?}",
                    order.number,
                    self.cluster_info(id).await
                );
            }
        }
    }

    pub async fn stock(&self, id: u64, name: &str) -> Option<u64> {
        let resp = self
            .http
            .get(format!("{}/products/{name}", self.api_url(id)))
            .send()
            .await
            .ok()?;
        let v: Value = resp.json().await.ok()?;
        v["data"]["quantity"].as_u64()
    }
}

/// A cluster's nodes as an order client sees them (see [`TestCluster::orders`]).
#[derive(Clone)]
pub struct Orders {
    http: reqwest::Client,
    /// Each node's id and API URL.
    nodes: Vec<(u64, String)>,
}

impl Orders {
    /// One attempt at node `id`.
    pub async fn order_at(
        &self,
        id: u64,
        name: &str,
        quantity: u64,
        key: &str,
    ) -> Result<(u16, Value), String> {
        let url = self
            .nodes
            .iter()
            .find(|(node, _)| *node == id)
            .map(|(_, url)| url)
            .ok_or_else(|| format!("no node {id}"))?;
        let resp = self
            .http
            .post(format!("{url}/orders"))
            .header(IDEMPOTENCY_HEADER, key)
            .json(&serde_json::json!({"name": name, "quantity": quantity}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.map_err(|e| e.to_string())?;
        Ok((status, body))
    }

    /// Places an order the way a careful client would: follow not-leader hints, try other
    /// nodes on failures, keep the same key throughout, give up after `patience`.
    pub async fn place_order(
        &self,
        name: &str,
        quantity: u64,
        key: &str,
        patience: Duration,
    ) -> Attempt {
        let start = Instant::now();
        let ids: Vec<u64> = self.nodes.iter().map(|(id, _)| *id).collect();
        let mut target = ids[0];
        let mut last = String::from("never tried");
        let mut turn = 0usize;
        while start.elapsed() < patience {
            match self.order_at(target, name, quantity, key).await {
                Ok((200, body)) => match serde_json::from_value::<Envelope<OrderView>>(body) {
                    Ok(env) => return Attempt::Acked(env.data),
                    Err(e) => return Attempt::Indeterminate(format!("undecodable order: {e}")),
                },
                Ok((421, body)) => {
                    last = "not leader".into();
                    if let Some(id) = body["error"]["leader"]["id"].as_u64() {
                        target = id;
                        continue;
                    }
                }
                Ok((503, body)) => last = format!("503 {body}"),
                Ok((status, body)) if (400..500).contains(&status) || status == 507 => {
                    return Attempt::Rejected(status, body)
                }
                Ok((status, body)) => last = format!("{status} {body}"),
                Err(e) => last = e,
            }
            turn += 1;
            target = ids[turn % ids.len()];
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Attempt::Indeterminate(last)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for (_, node) in std::mem::take(&mut self.procs) {
            node.stop();
        }
        if std::thread::panicking() {
            for id in self.ids() {
                eprintln!("---- node {id} log ----\n{}", self.node_log(id));
            }
        }
    }
}

/// The JSON a successful CLI run printed; fails the test with its output otherwise.
pub fn cli_json(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}
