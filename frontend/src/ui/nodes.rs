//! `GET /cluster/nodes`: every configured node's own `/cluster` view, asked concurrently
//! with a short timeout, plus this frontend's cache and feed. `GET /cluster` shows one
//! node's view and silently skips dead nodes; an operator needs to see which are down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use raft_node::api::{ClusterInfo, Envelope, NodeRole};
use serde::Serialize;

use crate::routes::status::{frontend_view, FrontendView};
use crate::state::AppState;

/// A live node answers `/cluster` from memory in well under a millisecond on a LAN; one
/// that has not answered by then is dead, paused or cut off, and the panel refreshes
/// every second or two, so waiting longer would only make the panel lag.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// One node as the panel shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeStatus {
    pub id: u64,
    /// `host:port` of the node's API.
    pub api: String,
    /// `leader`, `follower`, `candidate`, `learner`, `shutdown`, or `down` when the node
    /// did not answer in time.
    pub role: &'static str,
    pub up: bool,
    pub term: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// The leader this node believes in.
    pub leader: Option<u64>,
    /// Why a down node counts as down.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
struct NodesView {
    nodes: Vec<NodeStatus>,
    /// The node that calls itself leader at the highest term: a deposed leader cut off
    /// from the others may still call itself leader, at an older term.
    leader: Option<u64>,
    term: Option<u64>,
    frontend: FrontendView,
}

fn role_name(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Leader => "leader",
        NodeRole::Follower => "follower",
        NodeRole::Candidate => "candidate",
        NodeRole::Learner => "learner",
        NodeRole::Shutdown => "shutdown",
    }
}

fn down(id: u64, api: String, error: String) -> NodeStatus {
    NodeStatus {
        id,
        api,
        role: "down",
        up: false,
        term: None,
        commit_index: None,
        applied_index: None,
        leader: None,
        error: Some(error),
    }
}

/// Asks one node for its view; any failure within [`PROBE_TIMEOUT`] makes it `down`.
async fn probe(http: &reqwest::Client, id: u64, base: &str) -> NodeStatus {
    let api = base.strip_prefix("http://").unwrap_or(base).to_string();
    let response = match http
        .get(format!("{base}/cluster"))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
    {
        Ok(response) => response,
        Err(err) if err.is_timeout() => {
            return down(
                id,
                api,
                format!("no answer within {} ms", PROBE_TIMEOUT.as_millis()),
            )
        }
        Err(err) if err.is_connect() => return down(id, api, "connection refused".into()),
        Err(err) => return down(id, api, err.to_string()),
    };
    if response.status() != StatusCode::OK {
        return down(id, api, format!("answered {}", response.status()));
    }
    match response.json::<Envelope<ClusterInfo>>().await {
        Ok(Envelope { data: info }) => NodeStatus {
            id,
            api,
            role: role_name(info.role),
            up: true,
            term: Some(info.term),
            commit_index: Some(info.commit_index),
            applied_index: Some(info.applied_index),
            leader: info.leader,
            error: None,
        },
        Err(err) => down(id, api, format!("unreadable answer: {err}")),
    }
}

/// The self-declared leader with the highest term, and that term.
fn current_leader(nodes: &[NodeStatus]) -> (Option<u64>, Option<u64>) {
    let leader = nodes
        .iter()
        .filter(|n| n.role == "leader")
        .max_by_key(|n| n.term);
    let term = nodes.iter().filter_map(|n| n.term).max();
    (leader.map(|n| n.id), term)
}

pub async fn cluster_nodes(State(state): State<Arc<AppState>>) -> Response {
    let http = state.backend.http();
    let probes = state
        .backend
        .pool()
        .endpoints()
        .iter()
        .map(|node| probe(http, node.id, &node.base));
    let nodes = futures::future::join_all(probes).await;
    let (leader, term) = current_leader(&nodes);
    let view = NodesView {
        nodes,
        leader,
        term,
        frontend: frontend_view(&state, Instant::now()),
    };
    let mut response = Json(Envelope::new(view)).into_response();
    // A status panel must never be shown a remembered answer.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(id: u64, role: &'static str, term: u64) -> NodeStatus {
        NodeStatus {
            id,
            api: format!("127.0.0.1:900{id}"),
            role,
            up: true,
            term: Some(term),
            commit_index: Some(10),
            applied_index: Some(10),
            leader: None,
            error: None,
        }
    }

    #[test]
    fn a_deposed_leader_at_an_older_term_is_not_the_leader() {
        let nodes = [
            up(1, "leader", 3),
            up(2, "leader", 4),
            up(3, "follower", 4),
            down(4, "127.0.0.1:9004".into(), "refused".into()),
        ];
        assert_eq!(current_leader(&nodes), (Some(2), Some(4)));
        let no_leader = [up(1, "candidate", 5), up(2, "follower", 4)];
        assert_eq!(current_leader(&no_leader), (None, Some(5)));
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
    }

    #[tokio::test]
    async fn a_closed_port_is_down() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let status = probe(&client(), 7, &format!("http://127.0.0.1:{port}")).await;
        assert_eq!(status.role, "down");
        assert!(!status.up);
        assert_eq!(status.api, format!("127.0.0.1:{port}"));
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
        let status = probe(&client(), 1, &format!("http://{addr}")).await;
        let took = start.elapsed();
        hold.abort();
        assert_eq!(status.role, "down");
        assert!(status.error.is_some_and(|e| e.contains("no answer")));
        assert!(
            took >= PROBE_TIMEOUT && took < PROBE_TIMEOUT * 4,
            "{took:?}"
        );
    }
}
