//! `bazaar leader transfer`: moves leadership to a chosen voter, or to the most
//! up-to-date one, through a node and the admin token.

use clap::{Args, Subcommand};

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::Output;
use crate::api_client::ApiClient;

/// `bazaar leader`.
#[derive(Debug, Clone, Args)]
pub struct LeaderArgs {
    /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
    #[arg(long)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub action: LeaderAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum LeaderAction {
    /// Move leadership to voter ID, or to the most up-to-date voter. Writes pause until
    /// it leads (typically well under a second).
    Transfer { id: Option<u64> },
}

/// Runs the leadership action against a node.
pub async fn run(g: &Globals, args: LeaderArgs) -> Result<Outcome, CliError> {
    let (target, _) = g.connect(args.token.as_deref())?;
    let node = g.node(&target).await?;
    let out = match args.action {
        LeaderAction::Transfer { id } => leader_transfer(&node, id).await?,
    };
    Ok(Outcome::printed(&out, g.json))
}

/// Moves leadership and says from whom to whom, in which term, and how long writes paused.
async fn leader_transfer(c: &ApiClient, to: Option<u64>) -> Result<Output, CliError> {
    let o = c.transfer_leader(to).await?;
    Output::new(
        format!(
            "leadership moved from {} to {} in term {} (writes paused {} ms)",
            o.from, o.to, o.term, o.took_ms
        ),
        &o,
    )
}
