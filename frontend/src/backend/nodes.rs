//! The replicas the frontend talks to, keyed by id, with their URLs parsed once: a
//! round-robin order for reads, and a short "down" mark on nodes that just failed so they
//! are skipped while others answer.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bazaar_api::config::NodeConfig;
use reqwest::Url;

use crate::error::FrontendError;

/// How long a node that failed a request is skipped before it is tried again.
const DOWN_FOR: Duration = Duration::from_millis(1000);

/// The `scheme://host:port` base of a node's API, parsed once: a request's URL is a copy
/// with its path and query set, so the host is not parsed (and IDNA-checked) per forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// `host:port`, as the cluster file and leader hints name it.
    pub api: String,
    /// `scheme://host:port/`.
    parsed: Url,
}

impl NodeAddress {
    /// Parses `host:port` into a base URL under `scheme`.
    pub fn parse(scheme: &str, api: &str) -> Result<Self, url::ParseError> {
        let parsed = Url::parse(&format!("{scheme}://{api}/"))?;
        if parsed.host_str().is_none() || parsed.port_or_known_default().is_none() {
            return Err(url::ParseError::EmptyHost);
        }
        Ok(Self {
            api: api.to_string(),
            parsed,
        })
    }

    /// `scheme://host:port`, without a trailing slash: what tests compare addresses by.
    #[cfg(test)]
    pub fn base(&self) -> &str {
        self.parsed.as_str().trim_end_matches('/')
    }

    /// The URL of `path_and_query` (which starts with `/`, as a request's URI gives it) on
    /// this node: what parsing `base` + `path_and_query` gives.
    pub fn url(&self, path_and_query: &str) -> Url {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let mut url = self.parsed.clone();
        url.set_path(path);
        url.set_query(query);
        url
    }
}

/// One replica's API endpoint.
#[derive(Debug)]
pub struct Node {
    pub id: u64,
    pub address: NodeAddress,
    /// Milliseconds since the pool's epoch until which the node is skipped (0: live).
    down_until_ms: AtomicU64,
}

#[derive(Debug)]
pub struct NodePool {
    nodes: Vec<Node>,
    next_read: AtomicUsize,
    epoch: Instant,
    scheme: &'static str,
}

impl NodePool {
    pub fn new(nodes: &[NodeConfig], scheme: &'static str) -> Result<Self, FrontendError> {
        if nodes.is_empty() {
            return Err(FrontendError::Config {
                field: "nodes",
                reason: "at least one node is required".into(),
            });
        }
        let nodes = nodes
            .iter()
            .map(|n| {
                let address =
                    NodeAddress::parse(scheme, &n.api).map_err(|e| FrontendError::Config {
                        field: "nodes[].api",
                        reason: format!("{:?} is not a usable address: {e}", n.api),
                    })?;
                Ok(Node {
                    id: n.id,
                    address,
                    down_until_ms: AtomicU64::new(0),
                })
            })
            .collect::<Result<Vec<_>, FrontendError>>()?;
        Ok(Self {
            nodes,
            next_read: AtomicUsize::new(0),
            epoch: Instant::now(),
            scheme,
        })
    }

    /// The scheme every node URL uses (`http`, or `https` with TLS).
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Every configured node, in configuration order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn by_id(&self, id: u64) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The configured node at `api` (`host:port`), if any.
    pub fn by_api(&self, api: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.address.api == api)
    }

    /// Every node once, starting at the next round-robin position, live nodes first;
    /// nodes marked down come last (soonest back first) so they are still tried when
    /// nothing else answers.
    pub fn read_order(&self) -> Vec<&Node> {
        let n = self.nodes.len();
        let start = self.next_read.fetch_add(1, Ordering::Relaxed) % n;
        let now = self.now_ms();
        let mut order: Vec<&Node> = (0..n).map(|i| &self.nodes[(start + i) % n]).collect();
        // Stable sort keeps round-robin order among equally live nodes.
        order.sort_by_key(|node| {
            let until = node.down_until_ms.load(Ordering::Relaxed);
            if until <= now {
                0
            } else {
                until
            }
        });
        order
    }

    pub fn mark_failed(&self, api: &str) {
        if let Some(node) = self.by_api(api) {
            let until = self.now_ms() + DOWN_FOR.as_millis() as u64;
            node.down_until_ms.store(until, Ordering::Relaxed);
        }
    }

    pub fn mark_ok(&self, api: &str) {
        if let Some(node) = self.by_api(api) {
            node.down_until_ms.store(0, Ordering::Relaxed);
        }
    }

    pub fn is_down(&self, api: &str) -> bool {
        let now = self.now_ms();
        self.by_api(api)
            .is_some_and(|n| n.down_until_ms.load(Ordering::Relaxed) > now)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn pool() -> NodePool {
        let nodes: Vec<NodeConfig> = (1..=3)
            .map(|i| NodeConfig {
                id: i,
                api: format!("127.0.0.1:900{i}"),
                raft: format!("127.0.0.1:910{i}"),
            })
            .collect();
        NodePool::new(&nodes, "http").expect("valid nodes")
    }

    #[test]
    fn addresses_are_parsed_once() {
        let a = NodeAddress::parse("http", "node1:7001").expect("valid");
        assert_eq!(a.base(), "http://node1:7001");
        assert_eq!(
            a.url("/products/Tux").as_str(),
            "http://node1:7001/products/Tux"
        );
        assert!(NodeAddress::parse("http", "not an address").is_err());
    }

    #[test]
    fn a_request_url_is_what_parsing_base_and_path_together_gives() {
        let a = NodeAddress::parse("https", "127.0.0.1:7001").expect("valid");
        for path_and_query in [
            "/products/Tux",
            "/products/T%C3%BCx",
            "/products/T\u{fc}x",
            "/products/a b|c",
            "/products/a%2Fb",
            "/a/../products/Tux",
            "/watch?from=5",
            "/products?topic=x&limit=%20",
            "/products?",
            "/orders/batch",
        ] {
            let whole = Url::parse(&format!("{}{path_and_query}", a.base())).expect("parses");
            assert_eq!(a.url(path_and_query), whole, "{path_and_query}");
        }
    }

    #[test]
    fn reads_rotate_and_skip_failed_nodes() {
        let p = pool();
        let firsts: Vec<u64> = (0..3).map(|_| p.read_order()[0].id).collect();
        assert_eq!(firsts, vec![1, 2, 3]);
        p.mark_failed("127.0.0.1:9002");
        for _ in 0..6 {
            let order = p.read_order();
            assert_ne!(order[0].id, 2);
            assert_eq!(
                order.last().map(|n| n.id),
                Some(2),
                "failed node is tried last"
            );
        }
        p.mark_ok("127.0.0.1:9002");
        assert!(!p.is_down("127.0.0.1:9002"));
    }
}
