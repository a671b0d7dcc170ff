//! `bazaar status`: the answering node's view of the cluster (and the frontend's cache,
//! feed and routing when a frontend answers), or with `--cluster` every member's own view.

use bazaar_api::ClusterInfo;
use clap::Args;

use super::cluster_status::cluster_status;
use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::Output;
use crate::api_client::ApiClient;

/// `bazaar status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Ask every member instead: one row per node with its role, term, commit and
    /// applied index, lag, readiness and version.
    #[arg(long)]
    pub cluster: bool,
}

/// One node's view, or with `--cluster` (asked of a node) every member's.
pub async fn run(g: &Globals, args: StatusArgs) -> Result<Outcome, CliError> {
    let (target, client) = g.connect(None)?;
    let out = if args.cluster {
        let node = g.node(&target).await?;
        cluster_status(&node).await?
    } else {
        node_view(&client).await?
    };
    Ok(Outcome::printed(&out, g.json))
}

fn cluster_lines(i: &ClusterInfo) -> String {
    let members: Vec<String> = i
        .members
        .iter()
        .map(|m| {
            format!(
                "{}{}@{}",
                m.id,
                if m.voter { "" } else { "(learner)" },
                m.api
            )
        })
        .collect();
    format!(
        "node {} ({:?}), leader {}, term {}\n  commit {} applied {} last log {} snapshot {} purged {}\n  members: {}\n  orders: {}, state digest {}",
        i.id,
        i.role,
        i.leader.map_or("none".into(), |l| format!("{l} at {}", i.leader_api.as_deref().unwrap_or("?"))),
        i.term,
        i.commit_index,
        i.applied_index,
        i.last_log_index,
        i.snapshot_index,
        i.purged_index,
        members.join(", "),
        i.orders,
        i.state_digest
    ) + &format!(
        "\n  alarms: {}",
        if i.alarms.is_empty() {
            "none".to_owned()
        } else {
            i.alarms
                .iter()
                .map(|a| format!("{} on node {}", a.kind, a.member))
                .collect::<Vec<_>>()
                .join(", ")
        }
    )
}

/// The answering node's view of the cluster, plus the frontend's cache, feed and routing
/// when a frontend answered.
async fn node_view(c: &ApiClient) -> Result<Output, CliError> {
    let answer = c.cluster_answer().await?;
    let mut human = cluster_lines(&answer.cluster);
    match &answer.frontend {
        None => human.push_str("\n  (answered by a node: no frontend cache)"),
        Some(f) => {
            human.push_str(&format!(
                "\n  frontend: cache {} ({} of {} entries, hit ratio {:.1} %, {} hits, {} misses), writes to {}",
                if !f.cache_enabled {
                    "off"
                } else if f.cache_serving {
                    "serving"
                } else {
                    "not serving (feed behind)"
                },
                f.cache_size,
                f.cache_capacity,
                f.hit_ratio * 100.0,
                f.hits,
                f.misses,
                f.leader_hint.as_deref().unwrap_or("no known leader"),
            ));
            human.push_str(&format!(
                "\n  change feed: {:?} from node {}, at index {}, {} entries behind",
                f.feed.state,
                f.feed.node.map_or("-".into(), |n| n.to_string()),
                f.feed.last_index,
                f.feed.lag_entries
            ));
        }
    }
    Output::new(human, &answer)
}
