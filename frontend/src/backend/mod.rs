//! Talking to the replicas: one pooled HTTP client, round-robin reads that skip failed
//! nodes, and leader-routed writes that follow not-leader answers and fail over with
//! backoff, all bounded by the request deadline.

mod error;
mod reply;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode};
use bytes::Bytes;
use raft_node::api::{INDEX_HEADER, LEADER_HEADER};

pub use error::BackendError;
pub use reply::NodeReply;

use crate::metrics::{bump, Metrics};
use crate::nodes::{base_url, NodePool};

const BACKOFF_START: Duration = Duration::from_millis(20);
/// Short: an election takes about half a second, and a sleeping request adds its whole
/// backoff to the failover time a client sees.
const BACKOFF_MAX: Duration = Duration::from_millis(100);
/// Connecting on loopback or a LAN takes well under this; a dead host must not eat the deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Timing knobs of the backend layer.
#[derive(Debug, Clone, Copy)]
pub struct BackendSettings {
    /// Whole budget of one client request, retries included.
    pub request_deadline: Duration,
    /// Longest single read attempt, so one paused node cannot eat the whole deadline.
    pub read_attempt: Duration,
    /// Longest single write attempt (the node's own write deadline plus slack).
    pub write_attempt: Duration,
}

/// A write to send to the leader.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub method: Method,
    /// `/orders`, `/admin/...`, with the query string if any.
    pub path_and_query: String,
    pub body: Bytes,
    /// Headers forwarded as they are (content type, idempotency key, authorization).
    pub headers: HeaderMap,
}

#[derive(Debug)]
pub struct Backend {
    http: reqwest::Client,
    pool: NodePool,
    settings: BackendSettings,
    metrics: Arc<Metrics>,
}

/// Failure of one attempt, before the retry loop decides what to do about it.
enum Attempt {
    Answered(NodeReply),
    Failed(String),
}

impl Backend {
    pub fn new(
        pool: NodePool,
        settings: BackendSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
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
            settings,
            metrics,
        })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn pool(&self) -> &NodePool {
        &self.pool
    }

    fn unavailable(&self, last: String) -> BackendError {
        bump(&self.metrics.unavailable);
        BackendError::Unavailable {
            deadline_ms: self.settings.request_deadline.as_millis() as u64,
            last,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: String,
        timeout: Duration,
        body: Option<(&Bytes, &HeaderMap)>,
    ) -> Attempt {
        let mut request = self.http.request(method, url).timeout(timeout);
        if let Some((body, headers)) = body {
            request = request.headers(headers.clone()).body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                bump(&self.metrics.backend_failures);
                return Attempt::Failed(err.to_string());
            }
        };
        let status = response.status();
        let index = response
            .headers()
            .get(INDEX_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
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
                bump(&self.metrics.backend_failures);
                Attempt::Failed(err.to_string())
            }
        }
    }

    /// A read on any node, round robin. Nodes that fail to connect or time out are marked
    /// down and skipped for a while; 5xx answers (no leader for the read index yet) move on
    /// to the next node. Every other answer, 4xx included, is the answer.
    pub async fn read(&self, path_and_query: &str) -> Result<NodeReply, BackendError> {
        if self.pool.is_empty() {
            return Err(BackendError::NoNodes);
        }
        let deadline = Instant::now() + self.settings.request_deadline;
        let mut backoff = BACKOFF_START;
        let mut last = String::from("no attempt made");
        loop {
            for node in self.pool.read_order() {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(self.unavailable(last));
                }
                bump(&self.metrics.backend_reads);
                let url = format!("{}{}", node.base, path_and_query);
                let timeout = remaining.min(self.settings.read_attempt);
                match self.send(Method::GET, url, timeout, None).await {
                    Attempt::Answered(reply) if retryable(reply.status) => {
                        tracing::debug!(node = node.id, status = %reply.status, "read answered with a retryable status");
                        last = format!("node {} answered {}", node.id, reply.status);
                    }
                    Attempt::Answered(reply) => {
                        self.pool.mark_ok(&node.base);
                        return Ok(reply);
                    }
                    Attempt::Failed(err) => {
                        tracing::debug!(node = node.id, error = %err, "read attempt failed");
                        self.pool.mark_failed(&node.base);
                        last = format!("node {}: {err}", node.id);
                    }
                }
            }
            if !sleep_within(deadline, &mut backoff).await {
                return Err(self.unavailable(last));
            }
        }
    }

    /// A write at the leader. Follows not-leader answers to the leader they name, and on
    /// a dead or leaderless node tries the others with backoff until the deadline. The
    /// request (idempotency key included) is identical on every attempt, so a retry of a
    /// write that did commit returns its first result instead of repeating it.
    pub async fn write(&self, req: &WriteRequest) -> Result<NodeReply, BackendError> {
        let deadline = Instant::now() + self.settings.request_deadline;
        let mut backoff = BACKOFF_START;
        let mut last = String::from("no attempt made");
        loop {
            let Some(target) = self.pool.write_target() else {
                return Err(BackendError::NoNodes);
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(self.unavailable(last));
            }
            bump(&self.metrics.backend_writes);
            let url = format!("{}{}", target.base, req.path_and_query);
            let timeout = remaining.min(self.settings.write_attempt);
            let attempt = self
                .send(
                    req.method.clone(),
                    url,
                    timeout,
                    Some((&req.body, &req.headers)),
                )
                .await;
            match attempt {
                Attempt::Answered(reply) if reply.status == StatusCode::MISDIRECTED_REQUEST => {
                    bump(&self.metrics.not_leader_redirects);
                    match reply.leader_hint() {
                        Some(hint) if base_url(&hint.api) != target.base => {
                            tracing::debug!(from = %target.base, leader = hint.id, api = %hint.api, "following not-leader answer");
                            self.pool.set_leader(Some(hint.id), &hint.api);
                            // A hint naming a node that just failed is likely stale: wait
                            // a little for the election instead of spinning between them.
                            if !self.pool.is_down(&base_url(&hint.api)) {
                                continue;
                            }
                            last = format!(
                                "node {} named leader {} which is down",
                                target.base, hint.id
                            );
                        }
                        _ => {
                            self.pool.clear_leader(&target.base);
                            last = format!(
                                "{} answered not-leader without a usable hint",
                                target.base
                            );
                        }
                    }
                }
                Attempt::Answered(reply) if retryable(reply.status) => {
                    tracing::debug!(node = %target.base, status = %reply.status, "write answered with a retryable status");
                    self.pool.clear_leader(&target.base);
                    last = format!("{} answered {}", target.base, reply.status);
                }
                Attempt::Answered(reply) => {
                    self.pool.mark_ok(&target.base);
                    if reply.status.is_success() {
                        // It took the write, so it leads: keep sending writes there.
                        let api = target.base.trim_start_matches("http://").to_string();
                        self.pool.set_leader(target.id, &api);
                    }
                    return Ok(reply);
                }
                Attempt::Failed(err) => {
                    tracing::debug!(node = %target.base, error = %err, "write attempt failed");
                    self.pool.mark_failed(&target.base);
                    last = format!("{}: {err}", target.base);
                }
            }
            if !sleep_within(deadline, &mut backoff).await {
                return Err(self.unavailable(last));
            }
        }
    }
}

/// Statuses that say "not here, not now" rather than answering the request.
fn retryable(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::MISDIRECTED_REQUEST
}

/// Sleeps the current backoff (doubling it for next time) unless that would pass the
/// deadline; returns false when no time is left.
async fn sleep_within(deadline: Instant, backoff: &mut Duration) -> bool {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return false;
    }
    tokio::time::sleep((*backoff).min(remaining)).await;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    deadline > Instant::now()
}
