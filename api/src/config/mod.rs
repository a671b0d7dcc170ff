//! `cluster.toml`: the cluster's shape and every tunable, with defaults and a `validate()`
//! whose errors name the offending field. Shared by node, frontend and client.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod archive;
mod error;
mod limits;
mod runtime;
mod security;
mod storage;
mod tls;

pub use archive::{ArchiveSettings, MIN_KEEP_RECENT_ORDERS};
use error::invalid;
pub use error::ConfigError;
pub use limits::{
    InFlightLimits, LimitSettings, RateLimitSettings, MAX_IN_FLIGHT, MAX_RATE, MAX_RETRY_AFTER_SECS,
};
pub use runtime::{RuntimeSettings, MAX_WORKER_THREADS};
pub use security::{
    first_exposed, is_loopback, Secret, SecuritySettings, ADMIN_TOKEN_ENV, PEER_TOKEN_ENV,
    WELL_KNOWN_TOKENS,
};
pub use storage::{StorageSettings, MIN_QUOTA_BYTES};
pub use tls::{TlsFiles, TlsSettings};

/// The most `raft.watch_max_streams` may be: each stream holds a socket and is woken by
/// every apply.
pub const MAX_WATCH_STREAMS: usize = 10_000;

/// The most `raft.snapshot_log_percent` may be.
pub const MAX_SNAPSHOT_LOG_PERCENT: u64 = 1000;

/// One replica's addresses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub id: u64,
    /// JSON API for frontends and clients, `host:port`.
    pub api: String,
    /// Peer RPC and admin, `host:port`.
    pub raft: String,
}

/// Raft timings and log retention. openraft 0.9 adds a leader lease of
/// `election_timeout_max_ms` before a follower campaigns, so a dead leader is replaced after
/// roughly `election_timeout_max_ms + election_timeout_min..max_ms` plus one vote round.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RaftSettings {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot after at least this many log entries since the last one.
    pub snapshot_every_entries: u64,
    /// ... and once the log written since the last snapshot is at least this percentage of
    /// that snapshot's size. A snapshot dumps the whole state, which grows with every order
    /// ever placed; this keeps the bytes dumped per byte of log bounded (25: at most four),
    /// at the price of a log up to this share of the state, which a follower that fell
    /// behind the purged log replays after the snapshot (a new member gets a fresh
    /// snapshot instead). 0 builds one every `snapshot_every_entries` entries whatever the
    /// state's size.
    pub snapshot_log_percent: u64,
    /// Log entries kept behind a snapshot before they are purged. Also the most a new
    /// member replays after the snapshot it installs: with more log since the last
    /// snapshot, and at least a tenth of its size, the leader builds a fresh one before
    /// adding the member.
    pub keep_entries_after_snapshot: u64,
    /// Most log entries in one append-entries request. A new leader finds where each
    /// follower's log ends by a binary search whose every probe carries this many entries,
    /// and each probe must come back within one heartbeat interval.
    pub max_entries_per_append: u64,
    /// A write that has not committed after this long answers 503.
    pub write_deadline_ms: u64,
    /// A linearizable read that has no read index after this long answers 503.
    pub read_deadline_ms: u64,
    /// `/readyz` answers 503 while this node's applied index is more than this many
    /// entries behind the commit index it knows.
    pub ready_max_lag_entries: u64,
    /// A request id is remembered for this many log entries after the one that used it.
    pub dedupe_retention_entries: u64,
    /// Most `/watch` change-feed streams one node serves at once; one more is answered 503
    /// with `Retry-After`. Each frontend holds one; every stream is woken by every apply.
    pub watch_max_streams: usize,
}

impl Default for RaftSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 50,
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
            snapshot_every_entries: 10_000,
            snapshot_log_percent: 25,
            keep_entries_after_snapshot: 1000,
            max_entries_per_append: 16,
            write_deadline_ms: 2000,
            read_deadline_ms: 2000,
            ready_max_lag_entries: 1000,
            dedupe_retention_entries: 1_000_000,
            watch_max_streams: 256,
        }
    }
}

/// The leader's low-stock restock timer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RestockPolicy {
    /// Seconds between checks; 0 turns the timer off.
    pub interval_secs: u64,
    /// Products at or below this many units are restocked...
    pub threshold: u64,
    /// ...back up to this many units.
    pub amount: u64,
}

impl Default for RestockPolicy {
    fn default() -> Self {
        Self {
            interval_secs: 10,
            threshold: 10,
            amount: 100,
        }
    }
}

/// The stateless gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendSettings {
    pub listen: String,
    pub cache_enabled: bool,
    pub cache_capacity: usize,
    pub cache_ttl_secs: u64,
    /// The cache answers only while its change feed has delivered, within this long,
    /// every change up to the newest log index this frontend had seen in any node's
    /// answer; a feed that is down, or on a node that lags the cluster, for longer than
    /// this makes the cache bypassed until the feed catches up (it then starts empty).
    pub staleness_bound_ms: u64,
    /// A request that has found no leader after this long answers 503.
    pub request_deadline_ms: u64,
    /// While no node knows a leader (or none answers), a write or uncached read gives up
    /// with 503 after this long instead of waiting for the whole request deadline.
    pub no_leader_grace_ms: u64,
    /// Forward `/admin/*` (catalog changes) to the nodes. Off by default: the frontend is
    /// for shoppers. Membership changes are never forwarded.
    pub admin: bool,
    /// Send the orders that arrive while earlier forwards are in flight to the leader
    /// together, one request for many (`POST /orders/batch`); each keeps its own key.
    pub batch_orders: bool,
    /// Send the product lookups that go to a node while earlier ones are in flight
    /// together, one request for many (`POST /lookup`), answered at one read index.
    pub batch_lookups: bool,
}

impl Default for FrontendSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            cache_enabled: true,
            cache_capacity: 10_000,
            cache_ttl_secs: 300,
            staleness_bound_ms: 1000,
            request_deadline_ms: 5000,
            no_leader_grace_ms: 300,
            admin: false,
            batch_orders: true,
            batch_lookups: true,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Names this cluster in `/cluster`, so scripts can tell its nodes from strangers.
    pub cluster_name: String,
    /// Node `i` keeps its RocksDB under `<data_dir>/node<i>`.
    pub data_dir: PathBuf,
    /// The catalog written through the log at bootstrap.
    pub catalog: PathBuf,
    pub nodes: Vec<NodeConfig>,
    pub raft: RaftSettings,
    pub restock: RestockPolicy,
    pub security: SecuritySettings,
    pub frontend: FrontendSettings,
    pub runtime: RuntimeSettings,
    pub storage: StorageSettings,
    pub archive: ArchiveSettings,
    pub limits: LimitSettings,
    /// Absent: plain HTTP everywhere (fine on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            cluster_name: "bazaar".into(),
            data_dir: PathBuf::from("data"),
            catalog: PathBuf::from("catalog.toml"),
            nodes: (1..=3)
                .map(|i| NodeConfig {
                    id: i,
                    api: format!("127.0.0.1:700{i}"),
                    raft: format!("127.0.0.1:710{i}"),
                })
                .collect(),
            raft: RaftSettings::default(),
            restock: RestockPolicy::default(),
            security: SecuritySettings {
                admin_token: Some("bazaar-local-admin-token".into()),
                peer_token: Some("bazaar-local-peer-token".into()),
                ..SecuritySettings::default()
            },
            frontend: FrontendSettings::default(),
            runtime: RuntimeSettings::default(),
            storage: StorageSettings::default(),
            archive: ArchiveSettings::default(),
            limits: LimitSettings::default(),
            tls: None,
        }
    }
}

impl ClusterConfig {
    /// Reads, resolves relative paths against the file's folder, reads the secrets
    /// (environment, then files, then the file's own values), and validates.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: ClusterConfig =
            toml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let dir = path.parent();
        if let Some(dir) = dir {
            if config.catalog.is_relative() {
                config.catalog = dir.join(&config.catalog);
            }
            if config.data_dir.is_relative() {
                config.data_dir = dir.join(&config.data_dir);
            }
            if let Some(tls) = config.tls.as_mut() {
                tls.resolve(dir);
            }
        }
        config.security.resolve(dir)?;
        config.validate()?;
        Ok(config)
    }

    /// `http` or, with a `[tls]` section, `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The base URL of an API address (`host:port`) under this cluster's scheme.
    pub fn url_of(&self, api: &str) -> String {
        format!("{}://{api}", self.scheme())
    }

    /// Refuses a node that others can reach with a missing, short, published or shared
    /// secret (see [`SecuritySettings::check_exposure`]).
    pub fn check_node_secrets(&self, id: u64) -> Result<(), ConfigError> {
        let exposed = self
            .node(id)
            .and_then(|n| first_exposed([n.api.as_str(), n.raft.as_str()]));
        self.security
            .check_exposure(&[Secret::Admin, Secret::Peer], exposed)
    }

    /// A frontend holds no secret of its own; but one that forwards admin routes off
    /// loopback must not front a cluster whose admin token is published.
    pub fn check_frontend_secrets(&self, listen: &str) -> Result<(), ConfigError> {
        if !self.frontend.admin {
            return Ok(());
        }
        self.security
            .check_exposure(&[Secret::Admin], first_exposed([listen]))
    }

    pub fn node(&self, id: u64) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Where node `id` keeps its data.
    pub fn node_data_dir(&self, id: u64) -> PathBuf {
        self.data_dir.join(format!("node{id}"))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.nodes.is_empty() {
            return Err(invalid("nodes", "at least one node is required"));
        }
        let mut ids = HashSet::new();
        let mut addrs = HashSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.id == 0 {
                return Err(invalid(format!("nodes[{i}].id"), "ids start at 1"));
            }
            if !ids.insert(node.id) {
                return Err(invalid(
                    format!("nodes[{i}].id"),
                    format!("id {} is used twice", node.id),
                ));
            }
            for (field, addr) in [("api", &node.api), ("raft", &node.raft)] {
                check_host_port(&format!("nodes[{i}].{field}"), addr)?;
                if !addrs.insert(addr.clone()) {
                    return Err(invalid(
                        format!("nodes[{i}].{field}"),
                        format!("address {addr} is used twice"),
                    ));
                }
            }
        }
        let r = &self.raft;
        if r.heartbeat_interval_ms == 0 {
            return Err(invalid("raft.heartbeat_interval_ms", "must be above 0"));
        }
        if r.election_timeout_min_ms <= r.heartbeat_interval_ms {
            return Err(invalid(
                "raft.election_timeout_min_ms",
                "must be above raft.heartbeat_interval_ms",
            ));
        }
        if r.election_timeout_max_ms <= r.election_timeout_min_ms {
            return Err(invalid(
                "raft.election_timeout_max_ms",
                "must be above raft.election_timeout_min_ms",
            ));
        }
        if r.snapshot_every_entries == 0 {
            return Err(invalid("raft.snapshot_every_entries", "must be above 0"));
        }
        if r.snapshot_log_percent > MAX_SNAPSHOT_LOG_PERCENT {
            return Err(invalid(
                "raft.snapshot_log_percent",
                format!("must be at most {MAX_SNAPSHOT_LOG_PERCENT}: a log kept longer than ten times the state only costs disk and catch-up time"),
            ));
        }
        if r.max_entries_per_append == 0 {
            return Err(invalid("raft.max_entries_per_append", "must be above 0"));
        }
        if r.write_deadline_ms == 0 {
            return Err(invalid("raft.write_deadline_ms", "must be above 0"));
        }
        if r.read_deadline_ms == 0 {
            return Err(invalid("raft.read_deadline_ms", "must be above 0"));
        }
        if r.dedupe_retention_entries < 1000 {
            return Err(invalid(
                "raft.dedupe_retention_entries",
                "must be at least 1000",
            ));
        }
        if self.restock.amount <= self.restock.threshold && self.restock.interval_secs > 0 {
            return Err(invalid("restock.amount", "must be above restock.threshold"));
        }
        if self.cluster_name.is_empty()
            || !self
                .cluster_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(invalid(
                "cluster_name",
                "must be letters, digits, '-', '_' or '.'",
            ));
        }
        if r.ready_max_lag_entries == 0 {
            return Err(invalid("raft.ready_max_lag_entries", "must be above 0"));
        }
        if r.watch_max_streams == 0 || r.watch_max_streams > MAX_WATCH_STREAMS {
            return Err(invalid(
                "raft.watch_max_streams",
                format!("must be between 1 (frontends need the feed) and {MAX_WATCH_STREAMS}"),
            ));
        }
        self.runtime.validate()?;
        self.storage.validate()?;
        self.archive.validate()?;
        self.limits.validate()?;
        if let Some(tls) = &self.tls {
            tls.validate()?;
        }
        let f = &self.frontend;
        check_host_port("frontend.listen", &f.listen)?;
        if f.cache_capacity == 0 {
            return Err(invalid("frontend.cache_capacity", "must be above 0"));
        }
        if f.request_deadline_ms == 0 {
            return Err(invalid("frontend.request_deadline_ms", "must be above 0"));
        }
        if f.no_leader_grace_ms == 0 || f.no_leader_grace_ms > f.request_deadline_ms {
            return Err(invalid(
                "frontend.no_leader_grace_ms",
                "must be above 0 and at most frontend.request_deadline_ms",
            ));
        }
        if f.staleness_bound_ms == 0 {
            return Err(invalid("frontend.staleness_bound_ms", "must be above 0"));
        }
        Ok(())
    }
}

fn check_host_port(field: &str, addr: &str) -> Result<(), ConfigError> {
    if addr.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    // Host names (containers) are allowed: `name:port`.
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(invalid(field, format!("{addr:?} is not host:port"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_local_cluster() {
        let c = ClusterConfig::default();
        c.validate().unwrap();
        assert_eq!(c.node(2).unwrap().api, "127.0.0.1:7002");
        assert_eq!(c.frontend.listen, "127.0.0.1:8080");
    }

    /// The repository's `cluster.toml` says its values are the defaults, but for the two it
    /// names: keep that true.
    #[test]
    fn the_local_cluster_file_holds_the_defaults_but_for_the_fields_it_names() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster.toml");
        let text = std::fs::read_to_string(&path).expect("the repository's cluster.toml");
        let mut file: ClusterConfig = toml::from_str(&text).expect("cluster.toml parses");
        file.validate().expect("cluster.toml is valid");
        assert_eq!(file.cluster_name, "bazaar-local");
        assert_eq!(file.runtime.node_worker_threads, 1);
        file.cluster_name = ClusterConfig::default().cluster_name;
        file.runtime = RuntimeSettings::default();
        assert_eq!(file, ClusterConfig::default());
    }

    #[test]
    fn errors_name_the_field() {
        let mut c = ClusterConfig::default();
        c.nodes[1].id = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("nodes[1].id"));
        let mut c = ClusterConfig::default();
        c.raft.election_timeout_max_ms = 10;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("raft.election_timeout_max_ms"));
        let mut c = ClusterConfig::default();
        c.raft.max_entries_per_append = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("raft.max_entries_per_append"));
        let mut c = ClusterConfig::default();
        c.raft.snapshot_log_percent = MAX_SNAPSHOT_LOG_PERCENT + 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("raft.snapshot_log_percent"));
        c.raft.snapshot_log_percent = MAX_SNAPSHOT_LOG_PERCENT;
        c.validate().unwrap();
        for bad in [0, MAX_WATCH_STREAMS + 1] {
            let mut c = ClusterConfig::default();
            c.raft.watch_max_streams = bad;
            assert!(c
                .validate()
                .unwrap_err()
                .to_string()
                .contains("raft.watch_max_streams"));
        }
        let mut c = ClusterConfig::default();
        c.storage.quota_bytes = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("storage.quota_bytes"));
        let mut c = ClusterConfig::default();
        c.limits.frontend.writes = MAX_IN_FLIGHT + 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("limits.frontend.writes"));
        let mut c = ClusterConfig::default();
        c.nodes[0].api = "nowhere".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("nodes[0].api"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(toml::from_str::<ClusterConfig>("colour = 1").is_err());
    }
}
