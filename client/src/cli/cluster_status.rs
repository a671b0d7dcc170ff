//! `bazaar status --cluster`: every member asked for its own view, side by side: role,
//! term, commit and applied index, lag behind the leader, readiness and version.

use bazaar_api::{ClusterInfo, MemberStatus, NodeRole};
use serde::Serialize;

use super::error::CliError;
use super::members::members_view;
use super::output::{dash, Output};
use crate::api_client::ApiClient;
use crate::error::ClientError;

/// One row of `status --cluster`.
#[derive(Debug, Serialize)]
pub struct NodeRow {
    pub id: u64,
    pub api: String,
    pub voter: bool,
    pub up: bool,
    pub role: Option<NodeRole>,
    pub term: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    /// Entries behind the leader's commit index.
    pub lag: Option<u64>,
    pub ready: Option<bool>,
    pub not_ready_because: Option<String>,
    pub version: Option<String>,
    pub error: Option<String>,
}

/// A member, its `/cluster` answer, its readiness and its version.
type Probed<'a> = (
    &'a MemberStatus,
    Result<ClusterInfo, ClientError>,
    Result<(), String>,
    Option<String>,
);

/// Every member's own view, side by side: role, term, indexes, lag, readiness, version.
pub async fn cluster_status(c: &ApiClient) -> Result<Output, CliError> {
    let view = members_view(c).await?;
    let probes = view.members.iter().map(|m| async move {
        let node = c.sibling(&m.api)?;
        let info = node.cluster().await;
        let ready = node.readiness().await;
        let version = node.version().await.ok().map(|v| v.version);
        Ok::<_, ClientError>((m, info, ready, version))
    });
    let probed = futures::future::join_all(probes).await;
    let mut infos: Vec<Probed<'_>> = Vec::new();
    for p in probed {
        let (m, info, ready, version) = p?;
        let ready = match ready {
            Ok(_) => Ok(()),
            Err(ClientError::Api(e)) => Err(e.message),
            Err(e) => Err(e.to_string()),
        };
        infos.push((m, info, ready, version));
    }
    let leader_commit = infos
        .iter()
        .filter_map(|(_, i, _, _)| i.as_ref().ok())
        .find(|i| i.role == NodeRole::Leader)
        .map(|i| i.commit_index);
    let rows: Vec<NodeRow> = infos
        .into_iter()
        .map(|(m, info, ready, version)| match info {
            Ok(i) => NodeRow {
                id: m.id,
                api: m.api.clone(),
                voter: m.voter,
                up: true,
                role: Some(i.role),
                term: Some(i.term),
                commit_index: Some(i.commit_index),
                applied_index: Some(i.applied_index),
                lag: leader_commit.map(|c| c.saturating_sub(i.applied_index)),
                ready: Some(ready.is_ok()),
                not_ready_because: ready.err(),
                version,
                error: None,
            },
            Err(e) => NodeRow {
                id: m.id,
                api: m.api.clone(),
                voter: m.voter,
                up: false,
                role: None,
                term: None,
                commit_index: None,
                applied_index: None,
                lag: None,
                ready: None,
                not_ready_because: None,
                version: None,
                error: Some(e.to_string()),
            },
        })
        .collect();
    Output::new(status_table(&rows), &rows)
}

fn status_table(rows: &[NodeRow]) -> String {
    let mut out = format!(
        "{:<4} {:<22} {:<9} {:>6} {:>10} {:>10} {:>6} {:<6} {}\n",
        "ID", "API", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "READY", "VERSION"
    );
    for r in rows {
        let role = match (&r.role, r.voter) {
            (Some(NodeRole::Leader), _) => "leader",
            // Its storage failed: it is about to exit, whatever its membership says.
            (Some(NodeRole::Failed), _) => "failed",
            (Some(NodeRole::Learner), _) | (Some(_), false) => "learner",
            (Some(NodeRole::Candidate), _) => "candidate",
            (Some(_), true) => "follower",
            (None, _) => "down",
        };
        out.push_str(&format!(
            "{:<4} {:<22} {:<9} {:>6} {:>10} {:>10} {:>6} {:<6} {}\n",
            r.id,
            r.api,
            role,
            dash(r.term),
            dash(r.commit_index),
            dash(r.applied_index),
            dash(r.lag),
            match r.ready {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            },
            r.version.as_deref().unwrap_or("-"),
        ));
        if let Some(why) = &r.not_ready_because {
            out.push_str(&format!("     not ready: {why}\n"));
        }
        if let Some(e) = &r.error {
            out.push_str(&format!("     unreachable: {e}\n"));
        }
    }
    out.trim_end().to_string()
}
