//! The operator's commands, etcdctl style: `member list|add|promote|remove`,
//! `leader transfer`, `backup save|inspect` and `status --cluster`. They talk to nodes
//! (the frontend never forwards membership or backups) and follow a not-leader answer.

use std::path::Path;
use std::time::{Duration, Instant};

use bazaar_api::backup::BackupSummary;
use bazaar_api::{
    AlarmKind, AlarmView, ClusterInfo, DisarmRequest, MemberStatus, MembersView, MembershipChange,
    NodeRole,
};
use serde::Serialize;

use crate::api_client::{inspect_file, ApiClient};
use crate::commands::Output;
use crate::error::ClientError;
use crate::transport::Transport;

/// How often `member add --wait` asks for the learner's progress.
const CATCH_UP_POLL: Duration = Duration::from_millis(200);

fn output<T: Serialize>(human: String, data: &T) -> Result<Output, ClientError> {
    let json = serde_json::to_value(data)
        .map_err(|e| ClientError::Usage(format!("cannot encode output: {e}")))?;
    Ok(Output { human, json })
}

/// A client for the first of `urls` that answers `GET /cluster/members`: operator commands
/// need a node, and any node names the leader.
pub async fn first_node(
    urls: &[String],
    timeout: Duration,
    transport: &Transport,
) -> Result<ApiClient, ClientError> {
    let mut last = ClientError::Usage(
        "no node to ask: give --url (a node's API address) or --config with [[nodes]]".into(),
    );
    for url in urls {
        let client = ApiClient::new(url, timeout, transport)?;
        match client.members().await {
            Ok(_) => return Ok(client),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The members as the leader sees them (with progress), or as the node asked sees them
/// when no leader answers.
pub async fn members_view(c: &ApiClient) -> Result<MembersView, ClientError> {
    let view = c.members().await?;
    if view.leader == Some(view.answered_by) {
        return Ok(view);
    }
    match leader_client(c, &view)? {
        Some(leader) => leader.members().await.or(Ok(view)),
        None => Ok(view),
    }
}

fn leader_client(c: &ApiClient, view: &MembersView) -> Result<Option<ApiClient>, ClientError> {
    let Some(api) = &view.leader_api else {
        return Ok(None);
    };
    Ok(Some(c.sibling(api)?))
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The members as a table.
pub fn members_table(view: &MembersView) -> String {
    let mut out = format!(
        "{:<4} {:<22} {:<22} {:<8} {:>10} {:>8}  {}\n",
        "ID", "API", "RAFT", "ROLE", "MATCHED", "LAG", "VERSION"
    );
    for m in &view.members {
        out.push_str(&format!(
            "{:<4} {:<22} {:<22} {:<8} {:>10} {:>8}  {}\n",
            m.id,
            m.api,
            m.raft,
            role_of(m, view.leader),
            opt(m.matched_index),
            opt(m.lag),
            m.version.as_deref().unwrap_or("-"),
        ));
    }
    match view.leader {
        Some(l) if l == view.answered_by => out.push_str(&format!(
            "leader {l}, last log index {}",
            view.last_log_index
        )),
        Some(l) => out.push_str(&format!(
            "leader {l} (did not answer; progress unknown), asked node {}",
            view.answered_by
        )),
        None => out.push_str(&format!(
            "no leader known to node {}: progress unknown",
            view.answered_by
        )),
    }
    out
}

fn role_of(m: &MemberStatus, leader: Option<u64>) -> &'static str {
    if leader == Some(m.id) {
        "leader"
    } else if m.voter {
        "voter"
    } else {
        "learner"
    }
}

pub async fn member_list(c: &ApiClient) -> Result<Output, ClientError> {
    let view = members_view(c).await?;
    output(members_table(&view), &view)
}

/// Adds a learner; with `wait`, returns once it holds every entry the leader had when it
/// was added (or fails after `wait`).
pub async fn member_add(
    c: &ApiClient,
    change: MembershipChange,
    wait: Option<Duration>,
) -> Result<Output, ClientError> {
    let id = change.id;
    let view = c.add_learner(&change).await?;
    let Some(wait) = wait else {
        return output(
            format!(
                "added learner {id}; it catches up in the background\n{}",
                members_table(&view)
            ),
            &view,
        );
    };
    let target = view.last_log_index;
    let leader = match leader_client(c, &view)? {
        Some(l) => l,
        None => c.clone(),
    };
    let started = Instant::now();
    loop {
        let now = leader.members().await?;
        let matched = now
            .members
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.matched_index);
        if matched.is_some_and(|m| m >= target) {
            return output(
                format!(
                    "added learner {id}; caught up to index {target} in {:.1} s\n{}",
                    started.elapsed().as_secs_f64(),
                    members_table(&now)
                ),
                &now,
            );
        }
        if started.elapsed() >= wait {
            return Err(ClientError::Usage(format!(
                "learner {id} was added but has not caught up after {wait:?} (holds {}, needs {target}); \
                 check that it runs and that the leader reaches its raft address {}",
                opt(matched),
                change.raft
            )));
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
}

pub async fn member_promote(c: &ApiClient, id: u64) -> Result<Output, ClientError> {
    let view = c.promote(id).await?;
    output(
        format!("member {id} is a voter\n{}", members_table(&view)),
        &view,
    )
}

pub async fn member_remove(c: &ApiClient, id: u64) -> Result<Output, ClientError> {
    let view = c.remove_member(id).await?;
    output(
        format!("member {id} removed\n{}", members_table(&view)),
        &view,
    )
}

/// One line per alarm, or a line saying there is none.
pub fn alarm_lines(alarms: &[AlarmView]) -> String {
    if alarms.is_empty() {
        return "no active alarms".to_owned();
    }
    alarms
        .iter()
        .map(|a| {
            format!(
                "{} on node {} (raised at index {}): {}",
                a.kind, a.member, a.raised_at, a.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cluster's active alarms, as the answering node has applied them.
pub async fn alarm_list(c: &ApiClient) -> Result<Output, ClientError> {
    let info = c.cluster().await?;
    output(alarm_lines(&info.alarms), &info.alarms)
}

/// Ends alarms through the leader; refused (409, with the figures) while a voter is short.
pub async fn alarm_disarm(
    c: &ApiClient,
    kind: Option<AlarmKind>,
    force: bool,
) -> Result<Output, ClientError> {
    let answer = c.disarm_alarms(&DisarmRequest { kind, force }).await?;
    let human = if answer.disarmed.is_empty() {
        "no alarm was active".to_owned()
    } else {
        format!("disarmed:\n{}", alarm_lines(&answer.disarmed))
    };
    output(human, &answer)
}

pub async fn leader_transfer(c: &ApiClient, to: Option<u64>) -> Result<Output, ClientError> {
    let o = c.transfer_leader(to).await?;
    output(
        format!(
            "leadership moved from {} to {} in term {} (writes paused {} ms)",
            o.from, o.to, o.term, o.took_ms
        ),
        &o,
    )
}

pub fn summary_lines(s: &BackupSummary) -> String {
    format!(
        "index {} (term {}), {} products, {} orders, {} idempotency records, next order {}\n\
         digest {}, {} bytes, format version {}, id {}",
        s.index,
        s.term,
        s.products,
        s.orders,
        s.idempotency_records,
        s.next_order,
        s.digest,
        s.bytes,
        s.format_version,
        s.snapshot_id
    )
}

/// Saves a backup streamed from the node into `file`, with a progress bar on a terminal.
pub async fn backup_save(
    c: &ApiClient,
    file: &Path,
    progress: bool,
) -> Result<Output, ClientError> {
    if file.exists() {
        return Err(ClientError::Usage(format!(
            "{} exists: choose a new file name (a backup never overwrites one)",
            file.display()
        )));
    }
    let bar = if progress {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}, {eta} left",
        )
        .map_err(|e| ClientError::Usage(e.to_string()))?,
    );
    bar.set_message("dumping");
    let started = Instant::now();
    let summary = c
        .download_backup(file, |done, total| {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
        })
        .await;
    bar.finish_and_clear();
    let summary = summary?;
    output(
        format!(
            "saved {} in {:.1} s\n{}",
            file.display(),
            started.elapsed().as_secs_f64(),
            summary_lines(&summary)
        ),
        &summary,
    )
}

pub fn backup_inspect(file: &Path) -> Result<Output, ClientError> {
    let summary = inspect_file(file)?;
    output(
        format!("{}: intact\n{}", file.display(), summary_lines(&summary)),
        &summary,
    )
}

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
pub async fn cluster_status(c: &ApiClient) -> Result<Output, ClientError> {
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
    output(status_table(&rows), &rows)
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
            opt(r.term),
            opt(r.commit_index),
            opt(r.applied_index),
            opt(r.lag),
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
