//! `bazaar member list|add|promote|remove`: cluster membership, etcdctl style. Talks to
//! a node (the frontend never forwards membership) and follows it to the leader.

use std::time::{Duration, Instant};

use bazaar_api::{MemberStatus, MembersView, MembershipChange};
use clap::{Args, Subcommand};

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::{dash, Output};
use crate::api_client::ApiClient;
use crate::error::ClientError;

/// How often `member add --wait` asks for the learner's progress.
const CATCH_UP_POLL: Duration = Duration::from_millis(200);

/// `bazaar member`.
#[derive(Debug, Clone, Args)]
pub struct MemberArgs {
    /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
    #[arg(long)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub action: MemberAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum MemberAction {
    /// Every member: id, addresses, voter or learner, match index, lag and version.
    List,
    /// Add node ID as a learner (start it first, with an empty data dir). It starts from a
    /// snapshot, which the leader first brings up to date when the log since it is long
    /// (this waits up to 5 s).
    Add {
        id: u64,
        /// Its public API address, host:port.
        #[arg(long)]
        api: String,
        /// Its peer (Raft) address, host:port.
        #[arg(long)]
        raft: String,
        /// Wait until it has caught up with the leader, at most this long (default 2m
        /// when given without a value).
        #[arg(long, num_args = 0..=1, default_missing_value = "2m", value_parser = humantime::parse_duration)]
        wait: Option<Duration>,
        /// Have the leader make it a voter as soon as it is within
        /// `raft.ready_max_lag_entries` of the leader's log (no separate `member promote`).
        /// With --wait, waits until it votes. If the leader changes first, promote it by hand.
        #[arg(long)]
        promote: bool,
    },
    /// Make a caught-up learner a voter.
    Promote { id: u64 },
    /// Remove a member, voter or learner. Refused if it would leave no quorum.
    Remove { id: u64 },
}

/// Runs one membership action against a node.
pub async fn run(g: &Globals, args: MemberArgs) -> Result<Outcome, CliError> {
    let (target, _) = g.connect(args.token.as_deref())?;
    let node = g.node(&target).await?;
    let out = match args.action {
        MemberAction::List => member_list(&node).await?,
        MemberAction::Add {
            id,
            api,
            raft,
            wait,
            promote,
        } => {
            let change = MembershipChange {
                id,
                api,
                raft,
                promote,
            };
            member_add(&node, change, wait).await?
        }
        MemberAction::Promote { id } => member_promote(&node, id).await?,
        MemberAction::Remove { id } => member_remove(&node, id).await?,
    };
    Ok(Outcome::printed(&out, g.json))
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
            dash(m.matched_index),
            dash(m.lag),
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

pub async fn member_list(c: &ApiClient) -> Result<Output, CliError> {
    let view = members_view(c).await?;
    Output::new(members_table(&view), &view)
}

/// Adds a learner; with `wait`, returns once it holds every entry the leader had when it
/// was added, and votes if it is to be promoted (or fails after `wait`).
pub async fn member_add(
    c: &ApiClient,
    change: MembershipChange,
    wait: Option<Duration>,
) -> Result<Output, CliError> {
    let id = change.id;
    let view = c.add_learner(&change).await?;
    let Some(wait) = wait else {
        let then = match change.promote {
            true => "; the leader promotes it to voter once it has caught up",
            false => "",
        };
        return Output::new(
            format!(
                "added learner {id}; it catches up in the background{then}\n{}",
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
        let member = now.members.iter().find(|m| m.id == id);
        let matched = member.and_then(|m| m.matched_index);
        let voter = member.is_some_and(|m| m.voter);
        if matched.is_some_and(|m| m >= target) && (voter || !change.promote) {
            let role = if voter { "voter" } else { "learner" };
            return Output::new(
                format!(
                    "added {role} {id}; caught up to index {target} in {:.1} s\n{}",
                    started.elapsed().as_secs_f64(),
                    members_table(&now)
                ),
                &now,
            );
        }
        if started.elapsed() >= wait && matched.is_some_and(|m| m >= target) {
            return Err(CliError::Usage(format!(
                "learner {id} has caught up but is not a voter after {wait:?}; the leader \
                 that was to promote it may have changed: `bazaar member promote {id}`"
            )));
        }
        if started.elapsed() >= wait {
            return Err(CliError::Usage(format!(
                "learner {id} was added but has not caught up after {wait:?} (holds {}, needs {target}); \
                 check that it runs and that the leader reaches its raft address {}",
                dash(matched),
                change.raft
            )));
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
}

pub async fn member_promote(c: &ApiClient, id: u64) -> Result<Output, CliError> {
    let view = c.promote(id).await?;
    Output::new(
        format!("member {id} is a voter\n{}", members_table(&view)),
        &view,
    )
}

pub async fn member_remove(c: &ApiClient, id: u64) -> Result<Output, CliError> {
    let view = c.remove_member(id).await?;
    Output::new(
        format!("member {id} removed\n{}", members_table(&view)),
        &view,
    )
}
