//! The set of replicas the frontend talks to: round-robin order for reads, a leader hint
//! for writes, and a short "down" mark on nodes that just failed so they are skipped.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use raft_node::config::NodeConfig;

/// How long a node that failed a request is skipped before it is tried again.
const DOWN_FOR: Duration = Duration::from_millis(1000);

/// One replica's API endpoint.
#[derive(Debug)]
pub struct NodeEndpoint {
    pub id: u64,
    /// `http://host:port`, the prefix of every URL sent to this node.
    pub base: String,
    /// Milliseconds since the pool's epoch until which the node is skipped (0: live).
    down_until_ms: AtomicU64,
}

/// Where a write goes: a configured node, or an address a not-leader answer named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    pub id: Option<u64>,
    pub base: String,
}

#[derive(Debug)]
pub struct NodePool {
    nodes: Vec<NodeEndpoint>,
    next_read: AtomicUsize,
    next_write: AtomicUsize,
    /// Base URL of the node believed to lead; `None` when unknown.
    leader: RwLock<Option<WriteTarget>>,
    epoch: Instant,
}

pub fn base_url(api: &str) -> String {
    format!("http://{api}")
}

impl NodePool {
    pub fn new(nodes: &[NodeConfig]) -> Self {
        Self {
            nodes: nodes
                .iter()
                .map(|n| NodeEndpoint {
                    id: n.id,
                    base: base_url(&n.api),
                    down_until_ms: AtomicU64::new(0),
                })
                .collect(),
            next_read: AtomicUsize::new(0),
            next_write: AtomicUsize::new(0),
            leader: RwLock::new(None),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every configured node, in configuration order.
    pub fn endpoints(&self) -> &[NodeEndpoint] {
        &self.nodes
    }

    /// Every node once, starting at the next round-robin position, live nodes first;
    /// nodes marked down come last (soonest back first) so they are still tried when
    /// nothing else answers.
    pub fn read_order(&self) -> Vec<&NodeEndpoint> {
        self.rotated(&self.next_read)
    }

    fn rotated(&self, counter: &AtomicUsize) -> Vec<&NodeEndpoint> {
        let n = self.nodes.len();
        if n == 0 {
            return Vec::new();
        }
        let start = counter.fetch_add(1, Ordering::Relaxed) % n;
        let now = self.now_ms();
        let mut order: Vec<&NodeEndpoint> = (0..n).map(|i| &self.nodes[(start + i) % n]).collect();
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

    pub fn mark_failed(&self, base: &str) {
        let until = self.now_ms() + DOWN_FOR.as_millis() as u64;
        if let Some(node) = self.nodes.iter().find(|n| n.base == base) {
            node.down_until_ms.store(until, Ordering::Relaxed);
        }
        let mut leader = self.leader.write().unwrap_or_else(|p| p.into_inner());
        if leader.as_ref().is_some_and(|l| l.base == base) {
            *leader = None;
        }
    }

    pub fn mark_ok(&self, base: &str) {
        if let Some(node) = self.nodes.iter().find(|n| n.base == base) {
            node.down_until_ms.store(0, Ordering::Relaxed);
        }
    }

    pub fn is_down(&self, base: &str) -> bool {
        let now = self.now_ms();
        self.nodes
            .iter()
            .find(|n| n.base == base)
            .is_some_and(|n| n.down_until_ms.load(Ordering::Relaxed) > now)
    }

    pub fn leader(&self) -> Option<WriteTarget> {
        self.leader
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records the leader named by a not-leader answer or a `/cluster` view.
    pub fn set_leader(&self, id: Option<u64>, api: &str) {
        let base = base_url(api);
        let id = id.or_else(|| self.nodes.iter().find(|n| n.base == base).map(|n| n.id));
        *self.leader.write().unwrap_or_else(|p| p.into_inner()) = Some(WriteTarget { id, base });
    }

    /// Forgets the hint if it still points at `base` (that node said it is not leader).
    pub fn clear_leader(&self, base: &str) {
        let mut leader = self.leader.write().unwrap_or_else(|p| p.into_inner());
        if leader.as_ref().is_some_and(|l| l.base == base) {
            *leader = None;
        }
    }

    /// The next write target: the leader hint, else the configured nodes in turn.
    pub fn write_target(&self) -> Option<WriteTarget> {
        if let Some(leader) = self.leader() {
            return Some(leader);
        }
        self.rotated(&self.next_write).first().map(|n| WriteTarget {
            id: Some(n.id),
            base: n.base.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> NodePool {
        let nodes: Vec<NodeConfig> = (1..=3)
            .map(|i| NodeConfig {
                id: i,
                api: format!("127.0.0.1:900{i}"),
                raft: format!("127.0.0.1:910{i}"),
            })
            .collect();
        NodePool::new(&nodes)
    }

    #[test]
    fn reads_rotate_and_skip_failed_nodes() {
        let p = pool();
        let firsts: Vec<u64> = (0..3).map(|_| p.read_order()[0].id).collect();
        assert_eq!(firsts, vec![1, 2, 3]);
        p.mark_failed("http://127.0.0.1:9002");
        for _ in 0..6 {
            let order = p.read_order();
            assert_ne!(order[0].id, 2);
            assert_eq!(
                order.last().map(|n| n.id),
                Some(2),
                "failed node is tried last"
            );
        }
        p.mark_ok("http://127.0.0.1:9002");
        assert!(!p.is_down("http://127.0.0.1:9002"));
    }

    #[test]
    fn leader_hint_is_used_then_dropped_on_failure() {
        let p = pool();
        p.set_leader(None, "127.0.0.1:9003");
        let t = p.write_target().map(|t| (t.id, t.base));
        assert_eq!(t, Some((Some(3), "http://127.0.0.1:9003".to_string())));
        p.mark_failed("http://127.0.0.1:9003");
        assert_eq!(p.leader(), None);
        assert!(p.write_target().is_some_and(|t| t.id != Some(3)));
    }
}
