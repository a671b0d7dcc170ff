//! `bazaar backup save|inspect`: `save` streams a consistent copy of the state from a
//! node into a new file, with a progress bar on a terminal; `inspect` checks a file
//! offline (no runtime, no cluster).

use std::path::{Path, PathBuf};
use std::time::Instant;

use bazaar_api::backup::BackupSummary;
use clap::{Args, Subcommand};

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::{progress_bar, Output};
use super::runtime::block_on;
use crate::api_client::ApiClient;
use crate::backup_save::{inspect_file, save_backup};

/// `bazaar backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token.
    #[arg(long)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub action: BackupAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BackupAction {
    /// Stream a consistent, checksummed copy of the state from a node into FILE.
    Save { file: PathBuf },
    /// Check FILE whole and print its index, counts and digest.
    Inspect { file: PathBuf },
}

/// Runs one backup action; only `save` starts a runtime, since `inspect` reads a file.
pub fn run(g: &Globals, args: BackupArgs) -> Result<Outcome, CliError> {
    match args.action {
        BackupAction::Inspect { file } => Ok(Outcome::printed(&backup_inspect(&file)?, g.json)),
        BackupAction::Save { file } => block_on(async {
            let (target, _) = g.connect(args.token.as_deref())?;
            let node = g.node(&target).await?;
            let progress = !g.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let out = backup_save(&node, &file, progress).await?;
            Ok(Outcome::printed(&out, g.json))
        }),
    }
}

/// A backup's summary: index, term, counts, digest, size, format and id.
pub fn summary_lines(s: &BackupSummary) -> String {
    // Alarms are named only when there are some, so older summaries read as before.
    let alarms = match s.alarms {
        0 => String::new(),
        1 => ", 1 active alarm".to_string(),
        n => format!(", {n} active alarms"),
    };
    format!(
        "index {} (term {}), {} products, {} orders, {} idempotency records{alarms}, next order {}\n\
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
async fn backup_save(c: &ApiClient, file: &Path, progress: bool) -> Result<Output, CliError> {
    if file.exists() {
        return Err(CliError::Usage(format!(
            "{} exists: choose a new file name (a backup never overwrites one)",
            file.display()
        )));
    }
    let bar = progress_bar(
        progress,
        "{spinner} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}, {eta} left",
    )?;
    bar.set_message("dumping");
    let started = Instant::now();
    let summary = save_backup(c, file, |done, total| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    })
    .await;
    bar.finish_and_clear();
    let summary = summary?;
    Output::new(
        format!(
            "saved {} in {:.1} s\n{}",
            file.display(),
            started.elapsed().as_secs_f64(),
            summary_lines(&summary)
        ),
        &summary,
    )
}

/// Checks a saved file whole and summarises it.
fn backup_inspect(file: &Path) -> Result<Output, CliError> {
    let summary = inspect_file(file)?;
    Output::new(
        format!("{}: intact\n{}", file.display(), summary_lines(&summary)),
        &summary,
    )
}
