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
/// A member that has not answered by then is asked again next round.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Member id to its version line; this node's own is filled in at start.
#[derive(Clone, Default)]
pub struct MemberVersions {
    known: Arc<RwLock<HashMap<NodeId, String>>>,
}

impl MemberVersions {
    pub fn new(my_id: NodeId) -> Self {
        let versions = Self::default();
        versions.set(my_id, bazaar_service::version::info().line());
        versions
    }

    pub fn get(&self, id: NodeId) -> Option<String> {
        self.known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn set(&self, id: NodeId, line: String) {
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
                            .map(|env| env.data.line())
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
