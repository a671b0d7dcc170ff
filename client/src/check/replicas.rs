//! Replica convergence: every node reports the same `state_digest` once they have all
//! applied the same log index.

use std::time::{Duration, Instant};

use bazaar_api::ClusterInfo;
use futures::future::join_all;

use super::anomaly::Anomaly;
use crate::api_client::ApiClient;

/// What the replicas agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converged {
    pub applied_index: u64,
    pub digest: String,
    pub nodes: usize,
}

/// Polls `GET /cluster` on every node until their applied indexes are equal (then the
/// digests must be too) or `deadline` passes.
pub async fn await_convergence(
    nodes: &[ApiClient],
    deadline: Instant,
) -> Result<Converged, Anomaly> {
    loop {
        let answers = join_all(nodes.iter().map(|n| n.cluster())).await;
        let infos: Vec<ClusterInfo> = answers
            .iter()
            .filter_map(|a| a.as_ref().ok().cloned())
            .collect();
        if infos.len() == nodes.len() {
            if let Some(verdict) = compare(&infos) {
                return verdict;
            }
            let last = infos
                .iter()
                .map(|i| format!("node {} at {}", i.id, i.applied_index))
                .collect::<Vec<_>>()
                .join(", ");
            if Instant::now() >= deadline {
                return Err(timed_out(&last));
            }
        } else {
            let down: Vec<String> = nodes
                .iter()
                .zip(&answers)
                .filter(|(_, a)| a.is_err())
                .map(|(n, _)| n.base().to_owned())
                .collect();
            if Instant::now() >= deadline {
                return Err(timed_out(&format!("no answer from {}", down.join(", "))));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn timed_out(last: &str) -> Anomaly {
    Anomaly::ReplicasDiverged {
        detail: format!("applied indexes did not become equal in time ({last})"),
    }
}

/// `None` while the nodes are at different indexes.
fn compare(infos: &[ClusterInfo]) -> Option<Result<Converged, Anomaly>> {
    let first = infos.first()?;
    if infos.iter().any(|i| i.applied_index != first.applied_index) {
        return None;
    }
    if infos.iter().all(|i| i.state_digest == first.state_digest) {
        return Some(Ok(Converged {
            applied_index: first.applied_index,
            digest: first.state_digest.clone(),
            nodes: infos.len(),
        }));
    }
    let detail = infos
        .iter()
        .map(|i| format!("node {} digest {}", i.id, i.state_digest))
        .collect::<Vec<_>>()
        .join(", ");
    Some(Err(Anomaly::ReplicasDiverged {
        detail: format!("at applied index {}: {detail}", first.applied_index),
    }))
}

#[cfg(test)]
mod tests {
    use bazaar_api::NodeRole;

    use super::*;

    fn info(id: u64, applied_index: u64, digest: &str) -> ClusterInfo {
        ClusterInfo {
            cluster_name: "test".into(),
            id,
            role: NodeRole::Follower,
            leader: Some(1),
            leader_api: None,
            term: 1,
            commit_index: applied_index,
            applied_index,
            last_log_index: applied_index,
            snapshot_index: 0,
            purged_index: 0,
            members: vec![],
            orders: 0,
            state_digest: digest.into(),
            alarms: Vec::new(),
            archived_upto: 0,
            archives: Vec::new(),
        }
    }

    #[test]
    fn digests_are_compared_only_at_equal_indexes() {
        assert_eq!(compare(&[info(1, 5, "a"), info(2, 6, "b")]), None);
        assert!(matches!(
            compare(&[info(1, 6, "a"), info(2, 6, "a")]),
            Some(Ok(_))
        ));
        assert!(matches!(
            compare(&[info(1, 6, "a"), info(2, 6, "b")]),
            Some(Err(Anomaly::ReplicasDiverged { .. }))
        ));
    }
}
