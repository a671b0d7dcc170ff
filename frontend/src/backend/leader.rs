//! The one owner of "where do writes go": learned from not-leader answers and from nodes'
//! status views, confirmed by writes that succeed, forgotten when that node fails or says
//! it does not lead. Only the backend writes it.

use std::sync::RwLock;

use bazaar_api::LeaderHint;

use super::nodes::{NodeAddress, NodePool};

/// Where a write goes: a configured node, or an address a not-leader answer named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    pub id: Option<u64>,
    pub address: NodeAddress,
}

#[derive(Debug, Default)]
pub struct LeaderTracker {
    current: RwLock<Option<WriteTarget>>,
}

impl LeaderTracker {
    pub fn get(&self) -> Option<WriteTarget> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, target: Option<WriteTarget>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = target;
    }

    /// Records the leader a hint names (a 421 answer, a node's `/cluster`). A hint whose
    /// address cannot be parsed is ignored rather than trusted.
    pub fn learn(&self, hint: &LeaderHint, pool: &NodePool) {
        let address = match pool.by_id(hint.id) {
            Some(node) if node.address.api == hint.api => node.address.clone(),
            _ => match NodeAddress::parse(pool.scheme(), &hint.api) {
                Ok(address) => address,
                Err(e) => {
                    tracing::warn!(leader = hint.id, api = %hint.api, cause = %e, "ignoring an unusable leader hint");
                    return;
                }
            },
        };
        self.set(Some(WriteTarget {
            id: Some(hint.id),
            address,
        }));
    }

    /// A write succeeded at `target`: it leads.
    pub fn confirm(&self, target: &WriteTarget) {
        if self.get().as_ref() != Some(target) {
            self.set(Some(target.clone()));
        }
    }

    /// Forgets the leader if it is still `api` (that node failed or denied leading).
    pub fn forget(&self, api: &str) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.as_ref().is_some_and(|t| t.address.api == api) {
            *current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::nodes::tests::pool;

    #[test]
    fn a_hint_is_kept_until_that_node_fails() {
        let pool = pool();
        let t = LeaderTracker::default();
        t.learn(&LeaderHint::new(3, "127.0.0.1:9003"), &pool);
        let target = t.get().expect("learned");
        assert_eq!(target.id, Some(3));
        assert_eq!(target.address.base(), "http://127.0.0.1:9003");
        t.forget("127.0.0.1:9002");
        assert!(t.get().is_some(), "another node's failure changes nothing");
        t.forget("127.0.0.1:9003");
        assert!(t.get().is_none());
    }

    #[test]
    fn a_hint_may_name_a_node_outside_the_file() {
        let pool = pool();
        let t = LeaderTracker::default();
        t.learn(&LeaderHint::new(9, "10.0.0.9:7001"), &pool);
        assert_eq!(
            t.get().map(|w| w.address.base().to_string()),
            Some("http://10.0.0.9:7001".into())
        );
        t.learn(&LeaderHint::new(8, "not an address"), &pool);
        assert_eq!(
            t.get().and_then(|w| w.id),
            Some(9),
            "an unusable hint is ignored"
        );
    }
}
