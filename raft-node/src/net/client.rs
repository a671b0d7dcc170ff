//! openraft's network: one shared, pooled HTTP client (a keep-alive pool per peer); `new_client`
//! never dials. Connection failures map to `Unreachable` so openraft backs off, briefly.
//! Each peer's URL and the bearer header are made once, not per RPC.

use std::error::Error;
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RPCTypes, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use reqwest::header::{HeaderValue, InvalidHeaderValue, AUTHORIZATION};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::contact::PeerContacts;
use super::peer_urls::PeerUrls;
use crate::codec::{decode, encode};
use crate::types::{NodeAddr, NodeId, TypeConfig};
use bazaar_api::peer::{paths, ReadIndexError};
use bazaar_service::Step;

/// How long replication to an unreachable peer waits before it tries again. openraft's
/// default, 500 ms, is longer than a restarted node waits before its first election (leader
/// lease + the shortest election timeout, 450 ms by default): the node would campaign, its
/// higher term would depose the leader, and writes would stall for a whole election. A
/// connection attempt to a closed port every 100 ms costs next to nothing.
const UNREACHABLE_RETRY: Duration = Duration::from_millis(100);

/// Why the peer network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PeerNetworkError {
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("security.peer_token cannot be sent in an HTTP header (visible ASCII only): {0}")]
    Token(#[from] InvalidHeaderValue),
}

/// Shared by every peer connection openraft asks for.
#[derive(Clone)]
pub struct PeerNetwork {
    http: reqwest::Client,
    /// `Bearer <peer token>`, marked sensitive so it is never logged.
    authorization: HeaderValue,
    my_id: NodeId,
    urls: PeerUrls,
    contacts: PeerContacts,
    /// Where each append-entries round trip that carries entries is timed, when the node
    /// keeps metrics.
    replicate_timing: Option<Step>,
}

impl PeerNetwork {
    /// `http` comes from `bazaar_service::tls::cluster_client`: with TLS it presents this
    /// node's certificate, which the peers' `raft` listeners demand.
    pub fn new(
        my_id: NodeId,
        token: &str,
        http: reqwest::ClientBuilder,
        scheme: &'static str,
    ) -> Result<Self, PeerNetworkError> {
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))?;
        authorization.set_sensitive(true);
        let http = http
            .pool_max_idle_per_host(16)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_millis(500))
            .no_proxy()
            .build()?;
        Ok(Self {
            http,
            authorization,
            my_id,
            urls: PeerUrls::new(scheme),
            contacts: PeerContacts::default(),
            replicate_timing: None,
        })
    }

    /// Times every append-entries round trip that carries entries into `step`.
    pub fn with_replicate_timing(mut self, step: Step) -> Self {
        self.replicate_timing = Some(step);
        self
    }

    /// When each peer last answered one of this node's RPCs.
    pub fn contacts(&self) -> &PeerContacts {
        &self.contacts
    }

    /// Sends `req` to `path` on the `raft` listener of `target` and decodes its bincode
    /// answer: for Bazaar's own peer calls besides openraft's.
    pub async fn peer_call<Req, Resp, E>(
        &self,
        target: NodeId,
        node: &NodeAddr,
        path: &str,
        req: &Req,
        ttl: Duration,
    ) -> Result<Result<Resp, E>, String>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: DeserializeOwned,
    {
        self.client(target, node)
            .call(path, req, ttl)
            .await
            .map_err(|e| match e {
                CallError::Timeout => format!("node {target} did not answer in time"),
                CallError::Unreachable(e) => format!("node {target} unreachable: {e}"),
                CallError::Network(msg) => format!("node {target}: {msg}"),
            })
    }

    /// The pooled client itself, for the node's other calls to its peers.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn client(&self, target: NodeId, node: &NodeAddr) -> PeerClient {
        PeerClient {
            target,
            address: node.raft.clone(),
            net: self.clone(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerClient {
        self.client(target, node)
    }
}

/// A handle on one peer: an address and the shared pool.
pub struct PeerClient {
    target: NodeId,
    /// The peer's `raft` listener, `host:port`.
    address: String,
    net: PeerNetwork,
}

/// Why a peer call failed, before it is mapped to openraft's error types.
enum CallError {
    Unreachable(reqwest::Error),
    Timeout,
    Network(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PeerFailure(String);

impl PeerClient {
    /// POSTs a bincode body; the peer answers with a bincode `Result<Resp, E>`.
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        ttl: Duration,
    ) -> Result<Result<Resp, E>, CallError>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: DeserializeOwned,
    {
        let body = encode(req).map_err(|e| CallError::Network(e.to_string()))?;
        let url = self
            .net
            .urls
            .url(self.target, &self.address, path)
            .map_err(CallError::Network)?;
        let sent = self
            .net
            .http
            .post(url)
            .header(AUTHORIZATION, self.net.authorization.clone())
            .timeout(ttl)
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Err(CallError::Timeout),
            Err(e) if e.is_connect() => return Err(CallError::Unreachable(e)),
            Err(e) => return Err(CallError::Network(e.to_string())),
        };
        self.net.contacts.answered(self.target);
        let status = resp.status();
        if !status.is_success() {
            return Err(CallError::Network(format!("peer answered {status}")));
        }
        let bytes = resp.bytes().await.map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout
            } else {
                CallError::Network(e.to_string())
            }
        })?;
        decode(&bytes).map_err(|e| CallError::Network(e.to_string()))
    }

    async fn raft_call<Req, Resp, E>(
        &self,
        path: &str,
        action: RPCTypes,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, NodeAddr, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let ttl = option.hard_ttl();
        match self
            .call::<Req, Resp, RaftError<NodeId, E>>(path, req, ttl)
            .await
        {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(self.target, remote))),
            Err(CallError::Timeout) => Err(RPCError::Timeout(Timeout {
                action,
                id: self.net.my_id,
                target: self.target,
                timeout: ttl,
            })),
            Err(CallError::Unreachable(e)) => Err(RPCError::Unreachable(Unreachable::new(&e))),
            Err(CallError::Network(msg)) => {
                Err(RPCError::Network(NetworkError::new(&PeerFailure(msg))))
            }
        }
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId>>> {
        // Heartbeats carry no entries: timing them would hide replication behind them.
        let carries_entries = !rpc.entries.is_empty();
        let started = Instant::now();
        let answer = self
            .raft_call(paths::APPEND, RPCTypes::AppendEntries, &rpc, &option)
            .await;
        if let (true, Some(step), Ok(_)) = (carries_entries, &self.net.replicate_timing, &answer) {
            step.record_since(started);
        }
        answer
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, NodeAddr, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.raft_call(paths::SNAPSHOT, RPCTypes::InstallSnapshot, &rpc, &option)
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, NodeAddr, RaftError<NodeId>>> {
        self.raft_call(paths::VOTE, RPCTypes::Vote, &rpc, &option)
            .await
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(UNREACHABLE_RETRY))
    }
}

/// Asks the leader for a read index on behalf of this (follower) node.
#[derive(Clone)]
pub struct ReadIndexClient {
    net: PeerNetwork,
}

impl ReadIndexClient {
    pub fn new(net: PeerNetwork) -> Self {
        Self { net }
    }

    pub async fn read_index(
        &self,
        leader: NodeId,
        node: &NodeAddr,
        ttl: Duration,
    ) -> Result<u64, ReadIndexError> {
        let client = self.net.client(leader, node);
        match client
            .call::<(), u64, ReadIndexError>(paths::READ_INDEX, &(), ttl)
            .await
        {
            Ok(answer) => answer,
            Err(CallError::Timeout) => Err(ReadIndexError::Unavailable(format!(
                "leader {leader} did not answer in time"
            ))),
            Err(CallError::Unreachable(e)) => Err(ReadIndexError::Unavailable(format!(
                "leader {leader} unreachable: {e}"
            ))),
            Err(CallError::Network(msg)) => Err(ReadIndexError::Unavailable(format!(
                "leader {leader}: {msg}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_token_that_cannot_be_a_header_is_refused_at_setup() {
        let bad = PeerNetwork::new(1, "two\nlines", reqwest::Client::builder(), "http");
        assert!(matches!(bad, Err(PeerNetworkError::Token(_))));
        let good = PeerNetwork::new(1, "peer-token", reqwest::Client::builder(), "http")
            .expect("a visible-ASCII token is a header value");
        assert_eq!(good.authorization.to_str().ok(), Some("Bearer peer-token"));
        assert!(good.authorization.is_sensitive());
    }
}
