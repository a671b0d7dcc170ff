//! All of the frontend's I/O with the replicas, each call under its deadline: round-robin
//! reads that skip failed nodes, leader-routed writes that follow not-leader answers and
//! fail over with backoff, the change feed's stream, and the status probes of the cluster
//! panel. The leader tracker is written here and nowhere else.

mod error;
mod leader;
mod nodes;
mod reply;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use backon::{BackoffBuilder, ExponentialBuilder};
use bazaar_api::{
    ClusterInfo, Envelope, ErrorEnvelope, LeaderHint, NodeProbe, ProbedRole, Reason, INDEX_HEADER,
    LEADER_HEADER, REQUEST_ID_HEADER,
};
use bytes::Bytes;

pub use error::BackendError;
pub use leader::{LeaderTracker, WriteTarget};
pub use nodes::{Node, NodePool};
pub use reply::{batch_answers, NodeReply};

use crate::metrics::Metrics;

/// First and longest wait between rounds of attempts. Short: an election takes about half
/// a second, and a sleeping request adds its whole backoff to the failover a client sees.
const BACKOFF_START: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(100);
/// Connecting on loopback or a LAN takes well under this; a dead host must not eat the deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// A live node answers `/cluster` from memory in well under a millisecond on a LAN; one
/// that has not answered by then is dead, paused or cut off.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Timing knobs of the backend layer.
#[derive(Debug, Clone, Copy)]
pub struct BackendSettings {
    /// Whole budget of one client request, retries included.
    pub request_deadline: Duration,
    /// Longest single read attempt, so one paused node cannot eat the whole deadline.
    pub read_attempt: Duration,
    /// Longest single write attempt (the node's own write deadline plus slack).
    pub write_attempt: Duration,
    /// A request that has seen no sign of a leader for this long gives up with 503
    /// instead of retrying until the request deadline.
    pub no_leader_grace: Duration,
}

/// Whether a node's failed answer says a leader exists: anything but "no leader" and
/// "unavailable" (a leader without its quorum), which mean no node can answer now.
fn shows_a_leader(reply: &NodeReply) -> bool {
    match serde_json::from_slice::<ErrorEnvelope>(&reply.body) {
        Ok(env) => !matches!(
            env.error.reason,
            Some(Reason::NoLeader) | Some(Reason::Unavailable)
        ),
        Err(_) => false,
    }
}

/// The headers of a JSON request body the frontend builds itself (a batch).
pub fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(2);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
}

/// A write to send to the leader.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub method: Method,
    /// `/orders`, `/admin/...`, with the query string if any.
    pub path_and_query: String,
    pub body: Bytes,
    /// Headers forwarded as they are (content type, idempotency key, authorization,
    /// request id).
    pub headers: HeaderMap,
}

#[derive(Debug)]
pub struct Backend {
    http: reqwest::Client,
    pool: NodePool,
    leader: LeaderTracker,
    settings: BackendSettings,
    metrics: Arc<Metrics>,
    /// The newest log index any node's answer has carried.
    newest_index: AtomicU64,
}

/// One attempt's outcome, before the retry loop decides what to do about it.
enum Attempt {
    Answered(NodeReply),
    Failed(SendFailure),
}

/// Why an attempt got no answer.
#[derive(Debug)]
enum SendFailure {
    Timeout(Duration),
    Refused,
    Other(String),
}

impl SendFailure {
    fn of(err: &reqwest::Error, timeout: Duration) -> Self {
        if err.is_timeout() {
            SendFailure::Timeout(timeout)
        } else if err.is_connect() {
            SendFailure::Refused
        } else {
            SendFailure::Other(err.to_string())
        }
    }
}

impl std::fmt::Display for SendFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendFailure::Timeout(t) => write!(f, "no answer within {} ms", t.as_millis()),
            SendFailure::Refused => f.write_str("connection refused"),
            SendFailure::Other(e) => f.write_str(e),
        }
    }
}

/// The waits between rounds of attempts: exponential with jitter, capped.
fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(BACKOFF_START)
        .with_max_delay(BACKOFF_MAX)
        .with_jitter()
        .without_max_times()
        .build()
}

impl Backend {
    /// `http` comes from `bazaar_service::tls::cluster_client` (plain, or trusting the
    /// cluster's CA).
    pub fn new(
        pool: NodePool,
        http: reqwest::ClientBuilder,
        settings: BackendSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let http = http
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_max_idle_per_host(512)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            // Environment proxies must never sit between a frontend and its replicas.
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            pool,
            leader: LeaderTracker::default(),
            settings,
            metrics,
            newest_index: AtomicU64::new(0),
        })
    }

    /// The newest log index any node's answer has carried so far: every answer the
    /// frontend has given reflects at most this much of the log.
    pub fn newest_index(&self) -> u64 {
        self.newest_index.load(Ordering::Acquire)
    }

    /// Every node once, round robin, live nodes first.
    pub fn read_order(&self) -> Vec<&Node> {
        self.pool.read_order()
    }

    /// Where writes go now, as `host:port`.
    pub fn leader_api(&self) -> Option<String> {
        self.leader.get().map(|t| t.address.api)
    }

    /// The error of a request that got no usable answer within its deadline; `last` says
    /// what went wrong last.
    pub fn unavailable(&self, last: String) -> BackendError {
        self.metrics.unavailable.inc();
        BackendError::Unavailable {
            deadline_ms: self.settings.request_deadline.as_millis() as u64,
            last,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: reqwest::Url,
        timeout: Duration,
        headers: Option<&HeaderMap>,
        body: Option<&Bytes>,
    ) -> Attempt {
        let mut request = self.http.request(method, url).timeout(timeout);
        if let Some(headers) = headers {
            request = request.headers(headers.clone());
        }
        if let Some(body) = body {
            request = request.body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                self.metrics.backend_failures.inc();
                return Attempt::Failed(SendFailure::of(&err, timeout));
            }
        };
        let status = response.status();
        let index = response
            .headers()
            .get(INDEX_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        if let Some(index) = index {
            self.newest_index.fetch_max(index, Ordering::AcqRel);
        }
        let leader_header = response
            .headers()
            .get(LEADER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match response.bytes().await {
            Ok(body) => Attempt::Answered(NodeReply {
                status,
                body,
                index,
                leader_header,
            }),
            Err(err) => {
                self.metrics.backend_failures.inc();
                Attempt::Failed(SendFailure::of(&err, timeout))
            }
        }
    }

    /// A read on any node, round robin. Nodes that fail to connect or time out are marked
    /// down and skipped for a while; 5xx answers (no leader for the read index yet) move on
    /// to the next node. Every other answer, 4xx included, is the answer; so is a node's
    /// 503 `overloaded` once no other node took the read in that round.
    pub async fn read(
        &self,
        path_and_query: &str,
        request_id: Option<&HeaderValue>,
    ) -> Result<NodeReply, BackendError> {
        let headers = request_id.map(request_id_headers);
        self.read_request(Method::GET, path_and_query, headers.as_ref(), None)
            .await
    }

    /// A read that carries a JSON body (`POST /lookup`: many lookups at one read index),
    /// sent to any node exactly as [`Backend::read`] sends a lookup.
    pub async fn read_batch(&self, path: &str, body: Bytes) -> Result<NodeReply, BackendError> {
        self.read_request(Method::POST, path, Some(&json_headers()), Some(&body))
            .await
    }

    async fn read_request(
        &self,
        method: Method,
        path_and_query: &str,
        headers: Option<&HeaderMap>,
        body: Option<&Bytes>,
    ) -> Result<NodeReply, BackendError> {
        let start = Instant::now();
        let deadline = start + self.settings.request_deadline;
        let mut waits = backoff();
        let mut last = String::from("no attempt made");
        let mut leader_seen = false;
        loop {
            // A node that shed the read: its answer, if no other node takes the read in
            // this round.
            let mut shed = None;
            for node in self.pool.read_order() {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(self.unavailable(last));
                }
                self.metrics.backend_reads.inc();
                let url = node.address.url(path_and_query);
                let timeout = remaining.min(self.settings.read_attempt);
                match self.send(method.clone(), url, timeout, headers, body).await {
                    Attempt::Answered(reply) if reply.is_shed() => {
                        tracing::debug!(node = node.id, "read shed by the node");
                        self.pool.mark_ok(&node.address.api);
                        shed = Some(reply);
                    }
                    Attempt::Answered(reply) if retryable(reply.status) => {
                        tracing::debug!(node = node.id, status = %reply.status, "read answered with a retryable status");
                        leader_seen |= shows_a_leader(&reply);
                        last = format!("node {} answered {}", node.id, reply.status);
                    }
                    Attempt::Answered(reply) => {
                        self.pool.mark_ok(&node.address.api);
                        return Ok(reply);
                    }
                    Attempt::Failed(err) => {
                        tracing::debug!(node = node.id, error = %err, "read attempt failed");
                        self.pool.mark_failed(&node.address.api);
                        last = format!("node {}: {err}", node.id);
                    }
                }
            }
            // Every node that answered shed it: pass that on at once rather than queue the
            // read here until its deadline.
            if let Some(reply) = shed {
                return Ok(reply);
            }
            if self.leaderless_too_long(start, leader_seen) {
                return Err(self.leaderless(last));
            }
            if !sleep_within(deadline, &mut waits).await {
                return Err(self.unavailable(last));
            }
        }
    }

    /// True once a request has retried for the grace period without any node showing a
    /// leader: the cluster has none (or no quorum), and waiting out the whole deadline
    /// would only hold the client.
    fn leaderless_too_long(&self, start: Instant, leader_seen: bool) -> bool {
        !leader_seen
            && self.leader.get().is_none()
            && start.elapsed() >= self.settings.no_leader_grace
    }

    /// The error of a request given up by [`Backend::leaderless_too_long`].
    fn leaderless(&self, last: String) -> BackendError {
        self.metrics.unavailable.inc();
        BackendError::Leaderless {
            grace_ms: self.settings.no_leader_grace.as_millis() as u64,
            last,
        }
    }

    /// The next write target: the known leader, else the configured nodes in turn.
    fn write_target(&self) -> WriteTarget {
        self.leader.get().unwrap_or_else(|| {
            let node = self.pool.read_order()[0];
            WriteTarget {
                id: Some(node.id),
                address: node.address.clone(),
            }
        })
    }

    /// A write at the leader. Follows not-leader answers to the leader they name, and on
    /// a dead or leaderless node tries the others with backoff until the deadline. A
    /// leader's 503 `overloaded` is the answer, at once. The
    /// request (idempotency key included) is identical on every attempt, so a retry of a
    /// write that did commit returns its first result instead of repeating it.
    pub async fn write(&self, req: &WriteRequest) -> Result<NodeReply, BackendError> {
        self.write_until(req, self.deadline_from(Instant::now()))
            .await
    }

    /// When a request that arrived at `start` must have its answer.
    pub fn deadline_from(&self, start: Instant) -> Instant {
        start + self.settings.request_deadline
    }

    /// [`Backend::write`] with a deadline set earlier: a write resent on behalf of a
    /// request that has already waited keeps that request's deadline.
    pub async fn write_until(
        &self,
        req: &WriteRequest,
        deadline: Instant,
    ) -> Result<NodeReply, BackendError> {
        self.write_attempts(req, deadline, false).await
    }

    /// [`Backend::write_until`] for a write an earlier attempt may have applied (its batch
    /// could not confirm it): a shed answer now is `unavailable`, not `overloaded`.
    pub async fn rewrite_until(
        &self,
        req: &WriteRequest,
        deadline: Instant,
    ) -> Result<NodeReply, BackendError> {
        self.write_attempts(req, deadline, true).await
    }

    /// The attempts of one write. `maybe_applied`: an attempt (earlier, or one of these)
    /// may have taken effect. A shed answer says only that this attempt did not run, so
    /// after such an attempt the client must hear "unavailable, may have happened" (and
    /// retry with its key), never `overloaded`, which promises that nothing ran.
    async fn write_attempts(
        &self,
        req: &WriteRequest,
        deadline: Instant,
        mut maybe_applied: bool,
    ) -> Result<NodeReply, BackendError> {
        let start = Instant::now();
        let mut waits = backoff();
        let mut last = String::from("no attempt made");
        let mut leader_seen = false;
        loop {
            let target = self.write_target();
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.unavailable(last));
            }
            self.metrics.backend_writes.inc();
            let url = target.address.url(&req.path_and_query);
            let timeout = remaining.min(self.settings.write_attempt);
            let attempt = self
                .send(
                    req.method.clone(),
                    url,
                    timeout,
                    Some(&req.headers),
                    Some(&req.body),
                )
                .await;
            let api = &target.address.api;
            match attempt {
                Attempt::Answered(reply) if reply.status == StatusCode::MISDIRECTED_REQUEST => {
                    self.metrics.not_leader_redirects.inc();
                    match reply.leader_hint() {
                        Some(hint) if hint.api != *api => {
                            leader_seen = true;
                            tracing::debug!(from = %api, leader = hint.id, to = %hint.api, "following not-leader answer");
                            self.leader.learn(&hint, &self.pool);
                            // A hint naming a node that just failed is likely stale: wait
                            // a little for the election instead of spinning between them.
                            if !self.pool.is_down(&hint.api) {
                                continue;
                            }
                            last = format!("node {api} named leader {} which is down", hint.id);
                        }
                        _ => {
                            self.leader.forget(api);
                            last = format!("{api} answered not-leader without a usable hint");
                        }
                    }
                }
                // The leader shed it (at its bound of writes in flight): only the leader
                // takes writes, so the client hears it at once, with the node's Retry-After.
                Attempt::Answered(reply) if reply.is_shed() => {
                    self.pool.mark_ok(api);
                    if maybe_applied {
                        return Err(self.unavailable(format!(
                            "{api} shed a retry of a write an earlier attempt may have \
                             applied ({last})"
                        )));
                    }
                    return Ok(reply);
                }
                Attempt::Answered(reply) if retryable(reply.status) => {
                    tracing::debug!(node = %api, status = %reply.status, "write answered with a retryable status");
                    leader_seen |= shows_a_leader(&reply);
                    self.leader.forget(api);
                    // A 5xx from the leader (not committed within its deadline, lost
                    // quorum) may still commit.
                    maybe_applied = true;
                    last = format!("{api} answered {}", reply.status);
                }
                Attempt::Answered(reply) => {
                    self.pool.mark_ok(api);
                    if reply.status.is_success() {
                        // It took the write, so it leads: keep sending writes there.
                        self.leader.confirm(&target);
                    }
                    return Ok(reply);
                }
                Attempt::Failed(err) => {
                    tracing::debug!(node = %api, error = %err, "write attempt failed");
                    self.pool.mark_failed(api);
                    self.leader.forget(api);
                    // Sent and unanswered (or not sent: either way, assume the worse).
                    maybe_applied = true;
                    last = format!("{api}: {err}");
                }
            }
            if self.leaderless_too_long(start, leader_seen) {
                return Err(self.leaderless(last));
            }
            if !sleep_within(deadline, &mut waits).await {
                return Err(self.unavailable(last));
            }
        }
    }

    /// `GET /cluster` from any node (round robin, like a read); learns the leader from it.
    pub async fn cluster(
        &self,
        request_id: Option<&HeaderValue>,
    ) -> Result<(NodeReply, Option<ClusterInfo>), BackendError> {
        let reply = self.read("/cluster", request_id).await?;
        let info = (reply.status == StatusCode::OK)
            .then(|| serde_json::from_slice::<Envelope<ClusterInfo>>(&reply.body).ok())
            .flatten()
            .map(|env| env.data);
        if let Some(info) = &info {
            self.learn_leader(info);
        }
        Ok((reply, info))
    }

    fn learn_leader(&self, info: &ClusterInfo) {
        if let (Some(id), Some(api)) = (info.leader, info.leader_api.as_deref()) {
            self.leader.learn(&LeaderHint::new(id, api), &self.pool);
        }
    }

    /// One node's own `/cluster`, within `timeout`; learns the leader from it.
    pub async fn node_status(&self, node: &Node, timeout: Duration) -> Result<ClusterInfo, String> {
        let reply = match self
            .send(
                Method::GET,
                node.address.url("/cluster"),
                timeout,
                None,
                None,
            )
            .await
        {
            Attempt::Answered(reply) => reply,
            Attempt::Failed(err) => return Err(err.to_string()),
        };
        if reply.status != StatusCode::OK {
            return Err(format!("answered {}", reply.status));
        }
        let info = serde_json::from_slice::<Envelope<ClusterInfo>>(&reply.body)
            .map_err(|e| format!("unreadable answer: {e}"))?
            .data;
        self.learn_leader(&info);
        Ok(info)
    }

    /// Opens `GET /watch?from=FROM` on `node`; the answer's head must come within the read
    /// attempt limit. The body streams for as long as the node keeps it open.
    pub async fn watch(&self, node: &Node, from: u64) -> Result<reqwest::Response, String> {
        let url = node.address.url(&format!("/watch?from={from}"));
        let open = self.http.get(url).send();
        let response = match tokio::time::timeout(self.settings.read_attempt, open).await {
            Err(_) => {
                return Err(format!(
                    "no answer within {} ms",
                    self.settings.read_attempt.as_millis()
                ))
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(response)) => response,
        };
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        Ok(response)
    }

    /// Every configured node's own view, asked concurrently, each within [`PROBE_TIMEOUT`].
    pub async fn probe_all(&self) -> Vec<NodeProbe> {
        let probes = self.pool.nodes().iter().map(|node| async move {
            let api = node.address.api.clone();
            match self.node_status(node, PROBE_TIMEOUT).await {
                Ok(info) => NodeProbe {
                    id: node.id,
                    api,
                    role: info.role.into(),
                    up: true,
                    term: Some(info.term),
                    commit_index: Some(info.commit_index),
                    applied_index: Some(info.applied_index),
                    leader: info.leader,
                    error: None,
                },
                Err(error) => NodeProbe {
                    id: node.id,
                    api,
                    role: ProbedRole::Down,
                    up: false,
                    term: None,
                    commit_index: None,
                    applied_index: None,
                    leader: None,
                    error: Some(error),
                },
            }
        });
        futures::future::join_all(probes).await
    }
}

fn request_id_headers(id: &HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(1);
    headers.insert(REQUEST_ID_HEADER, id.clone());
    headers
}

/// Statuses that say "not here, not now" rather than answering the request. 507 is an
/// answer: the cluster's `nospace` alarm refused the write, and will until an operator
/// disarms it, so retrying until the deadline would only hold the client.
pub(crate) fn retryable(status: StatusCode) -> bool {
    (status.is_server_error() && status != StatusCode::INSUFFICIENT_STORAGE)
        || status == StatusCode::MISDIRECTED_REQUEST
}

/// Sleeps the next backoff step unless that would pass the deadline; returns false when no
/// time is left.
async fn sleep_within(deadline: Instant, waits: &mut impl Iterator<Item = Duration>) -> bool {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return false;
    }
    let wait = waits.next().unwrap_or(BACKOFF_MAX);
    tokio::time::sleep(wait.min(remaining)).await;
    deadline > Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bazaar_api::config::NodeConfig;

    #[test]
    fn a_refusal_for_space_is_an_answer_not_a_retry() {
        assert!(!retryable(StatusCode::INSUFFICIENT_STORAGE));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable(StatusCode::MISDIRECTED_REQUEST));
        assert!(!retryable(StatusCode::CONFLICT));
    }

    fn backend_for(apis: &[String]) -> Backend {
        let nodes: Vec<NodeConfig> = apis
            .iter()
            .enumerate()
            .map(|(i, api)| NodeConfig {
                id: i as u64 + 1,
                api: api.clone(),
                raft: format!("127.0.0.1:{}", 1 + i),
            })
            .collect();
        let settings = BackendSettings {
            request_deadline: Duration::from_secs(2),
            read_attempt: Duration::from_secs(1),
            write_attempt: Duration::from_secs(1),
            no_leader_grace: Duration::from_millis(300),
        };
        Backend::new(
            NodePool::new(&nodes, "http").expect("valid nodes"),
            reqwest::Client::builder(),
            settings,
            Arc::new(Metrics::default()),
        )
        .expect("client")
    }

    #[tokio::test]
    async fn a_closed_port_is_down() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let api = format!("127.0.0.1:{port}");
        let probes = backend_for(std::slice::from_ref(&api)).probe_all().await;
        assert_eq!(probes[0].role, ProbedRole::Down);
        assert!(!probes[0].up);
        assert_eq!(probes[0].api, api);
        assert_eq!(probes[0].error.as_deref(), Some("connection refused"));
    }

    /// A paused node accepts connections (the kernel does) but never answers: it must
    /// count as down after the probe timeout, not hang the panel.
    #[tokio::test]
    async fn a_silent_node_is_down_after_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let start = Instant::now();
        let probes = backend_for(&[addr.to_string()]).probe_all().await;
        let took = start.elapsed();
        hold.abort();
        assert_eq!(probes[0].role, ProbedRole::Down);
        // Cut off by the probe's own limit (not the backend's longer read attempt, 1 s
        // here): the error names the limit that ended it.
        let expected = format!("no answer within {} ms", PROBE_TIMEOUT.as_millis());
        assert_eq!(probes[0].error.as_deref(), Some(expected.as_str()));
        // A timer never fires early, so this lower bound cannot flake.
        assert!(took >= PROBE_TIMEOUT, "{took:?}");
    }

    #[tokio::test]
    async fn a_read_with_every_node_dead_gives_up_after_the_no_leader_grace() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let backend = backend_for(&[format!("127.0.0.1:{port}")]);
        let err = backend
            .read("/products/Tux", None)
            .await
            .expect_err("nothing answers");
        // Nothing answers, so no leader can be known: 503 after the grace (300 ms), not the
        // deadline (2 s). The error says which rule ended the request.
        assert!(
            matches!(err, BackendError::Leaderless { grace_ms: 300, .. }),
            "{err:?}"
        );
        assert_eq!(err.to_api_error().status(), 503);
        assert_eq!(backend.metrics.unavailable.get(), 1);
    }
}
