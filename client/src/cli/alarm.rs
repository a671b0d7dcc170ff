//! `bazaar alarm list|disarm`: the cluster's alarms, etcdctl style. `list` asks any node;
//! `disarm` goes through the leader, which refuses (with the figures) while a voter is
//! still short of space.

use bazaar_api::{AlarmKind, AlarmView, DisarmRequest};
use clap::{Args, Subcommand};

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::Output;
use crate::api_client::ApiClient;

/// `bazaar alarm`.
#[derive(Debug, Clone, Args)]
pub struct AlarmArgs {
    /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
    #[arg(long)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub action: AlarmAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AlarmAction {
    /// The active alarms: kind, member, the index they were raised at, and why.
    List,
    /// End the active alarms (all kinds, or --kind). New orders flow again.
    Disarm {
        /// Only alarms of this kind: nospace or corrupt.
        #[arg(long)]
        kind: Option<AlarmKind>,
        /// Disarm nospace even if a voter cannot be asked for its space (one that answers
        /// and is still short refuses the disarm regardless).
        #[arg(long)]
        force: bool,
    },
}

/// Runs one alarm action against a node.
pub async fn run(g: &Globals, args: AlarmArgs) -> Result<Outcome, CliError> {
    let (target, _) = g.connect(args.token.as_deref())?;
    let node = g.node(&target).await?;
    let out = match args.action {
        AlarmAction::List => alarm_list(&node).await?,
        AlarmAction::Disarm { kind, force } => alarm_disarm(&node, kind, force).await?,
    };
    Ok(Outcome::printed(&out, g.json))
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
async fn alarm_list(c: &ApiClient) -> Result<Output, CliError> {
    let info = c.cluster().await?;
    Output::new(alarm_lines(&info.alarms), &info.alarms)
}

/// Ends alarms through the leader; refused (409, with the figures) while a voter is short.
async fn alarm_disarm(
    c: &ApiClient,
    kind: Option<AlarmKind>,
    force: bool,
) -> Result<Output, CliError> {
    let answer = c.disarm_alarms(&DisarmRequest { kind, force }).await?;
    let human = if answer.disarmed.is_empty() {
        "no alarm was active".to_owned()
    } else {
        format!("disarmed:\n{}", alarm_lines(&answer.disarmed))
    };
    Output::new(human, &answer)
}
