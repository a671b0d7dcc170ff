//! The builds the other members run: each node asks every member's `GET /version` now and
//! then, so `/cluster` can show a mixed-version cluster during a rolling upgrade.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bazaar_api::{Envelope, VersionInfo};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::types::{NodeId, Raft};

/// How often the members are asked.
const EVERY: Duration = Duration::from_secs(10);
/// How soon a member that has not answered yet is asked again.
const RETRY: Duration = Duration::from_secs(1);
/// How long a request that needs every member's build waits for one not heard from yet.
pub const KNOWN_WITHIN: Duration = Duration::from_secs(3);
/// A member that has not answered by then is asked again next round.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Member id to its build; this node's own is filled in at start.
#[derive(Clone, Default)]
pub struct MemberVersions {
    known: Arc<RwLock<HashMap<NodeId, VersionInfo>>>,
}

impl MemberVersions {
    pub fn new(my_id: NodeId) -> Self {
        let versions = Self::default();
        versions.set(my_id, bazaar_service::version::info());
        versions
    }

    /// Member `id`'s version line, once it answered.
    pub fn get(&self, id: NodeId) -> Option<String> {
        self.known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .map(VersionInfo::line)
    }

    /// Which of `members` are not known to run a build with `feature` (not asked yet,
    /// or an older build), each with what is known of it.
    pub fn lacking(&self, members: &[NodeId], feature: &str) -> Vec<(NodeId, String)> {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        members
            .iter()
            .filter_map(|id| match known.get(id) {
                Some(v) if v.features.iter().any(|f| f == feature) => None,
                Some(v) => Some((*id, v.line())),
                None => Some((*id, "build not known yet".to_owned())),
            })
            .collect()
    }

    /// Waits up to `within` until every one of `members` has answered once (the refresh
    /// asks an unknown member every second): a leader elected a moment ago has not heard
    /// from its followers yet. Returns whether all are known.
    pub async fn wait_known(&self, members: &[NodeId], within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let all = {
                let known = self.known.read().unwrap_or_else(|p| p.into_inner());
                members.iter().all(|id| known.contains_key(id))
            };
            if all {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn set(&self, id: NodeId, line: VersionInfo) {
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, line);
    }

    /// Asks every other member for its version every ten seconds (every second while one
    /// has not answered yet) until `stop`.
    pub fn spawn_refresh(
        &self,
        raft: Raft,
        my_id: NodeId,
        http: reqwest::Client,
        scheme: &'static str,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) {
        let versions = self.clone();
        tasks.spawn(async move {
            loop {
                let members: Vec<(NodeId, String)> = {
                    let m = raft.metrics();
                    let m = m.borrow();
                    m.membership_config
                        .membership()
                        .nodes()
                        .filter(|(id, _)| **id != my_id)
                        .map(|(id, n)| (*id, n.api.clone()))
                        .collect()
                };
                // Before the first membership is known there is nobody to ask yet.
                let mut all_known = !members.is_empty();
                for (id, api) in members {
                    let url = format!("{scheme}://{api}/version");
                    let asked = http.get(url).timeout(ASK_TIMEOUT).send().await;
                    let line = match asked {
                        Ok(resp) => resp
                            .json::<Envelope<VersionInfo>>()
                            .await
                            .map(|env| env.data)
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match line {
                        Ok(line) => versions.set(id, line),
                        Err(cause) => {
                            all_known &= versions.get(id).is_some();
                            tracing::debug!(member = id, %cause, "member's version not known");
                        }
                    }
                }
                let pause = if all_known { EVERY } else { RETRY };
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_for_members_ends_once_each_has_answered_or_at_the_limit() {
        let versions = MemberVersions::new(1);
        assert!(
            versions.wait_known(&[1], Duration::ZERO).await,
            "its own build"
        );
        assert!(
            !versions
                .wait_known(&[1, 2], Duration::from_millis(100))
                .await
        );
        let later = versions.clone();
        let answer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            later.set(2, bazaar_service::version::info());
        });
        assert!(versions.wait_known(&[1, 2], Duration::from_secs(10)).await);
        answer.await.unwrap();
        assert!(versions.lacking(&[1, 2], "no-such-feature").len() == 2);
    }
}
