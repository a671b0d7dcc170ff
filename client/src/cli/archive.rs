//! `bazaar archive save|commit|inspect|get`: old orders moved out of the hot state in two
//! steps. `save` streams the orders up to N from a node into a new, checked file; the
//! operator keeps it safe; `commit` has the leader remove those orders from every replica
//! whose own copy matches the file's digest. `inspect` and `get` read a file offline (no
//! runtime, no cluster).

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bazaar_api::archive::{ArchiveCommitAnswer, ArchiveContents, ArchiveView};
use bazaar_api::OrderView;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::catalog::order_line;
use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use super::output::{progress_bar, Output};
use super::runtime::block_on;
use crate::api_client::ApiClient;
use crate::archive_file::{commit_request, find_order, inspect_archive, save_archive};

/// `archive save`'s default pace: the target is 200 k orders a second; faster,
/// the stream and its check take the CPU the order path needs on a small node.
const DEFAULT_SAVE_RATE: u64 = 300_000;

/// `bazaar archive`.
#[derive(Debug, Clone, Args)]
pub struct ArchiveArgs {
    /// Overrides BAZAAR_ADMIN_TOKEN and the config's admin token (save and commit).
    #[arg(long)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub action: ArchiveAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ArchiveAction {
    /// Step 1: save the orders after the last archive up to --upto into a new FILE.
    ///
    /// Streams them from a node (--url, or the first node of --config that answers; admin
    /// token), read at one linearizable index, and checks the file whole before it takes
    /// FILE's name; an existing file is never overwritten. Nothing is removed yet: keep
    /// FILE somewhere safe (off this machine), since after the commit it is the only copy
    /// of those orders, then run `bazaar archive commit FILE`.
    ///
    /// The node reads the orders on a low-priority thread. On a node's own machine, run the
    /// save under `nice` too (`nice -n 10 bazaar archive save ...`), so the orders arriving
    /// meanwhile keep the CPU; --max-rate bounds it further.
    Save {
        /// The last order number to archive.
        #[arg(long, value_name = "N")]
        upto: u64,
        /// The new archive file.
        file: PathBuf,
        /// Read at most this many orders a second (0: as fast as the node sends), so the
        /// node serving the stream keeps CPU for the orders arriving meanwhile.
        #[arg(long, value_name = "ORDERS_PER_SEC", default_value_t = DEFAULT_SAVE_RATE)]
        max_rate: u64,
    },
    /// Step 2: remove FILE's orders from the cluster, once FILE is kept safe.
    ///
    /// FILE is checked whole first; then the leader (admin token) removes its orders from
    /// every replica, each only if its own copy of them matches FILE's digest. Refused
    /// (409, with the reason) when the range is not the next one, a copy differs, or too
    /// many orders are still within the idempotency retention. A retry of a commit that
    /// went through says "already committed" and changes nothing.
    Commit {
        /// The archive file `archive save` wrote.
        file: PathBuf,
        /// Names the archive in the cluster's record (default: FILE's name).
        #[arg(long)]
        label: Option<String>,
    },
    /// Check FILE whole (offline) and print its range, count, digest and origin.
    Inspect {
        /// The archive file.
        file: PathBuf,
    },
    /// Print order N from FILE (offline, the whole file checked), with its request id.
    Get {
        /// The archive file.
        file: PathBuf,
        /// The order number.
        #[arg(value_name = "N")]
        number: u64,
    },
}

/// Runs one archive action; only `save` and `commit` start a runtime.
pub fn run(g: &Globals, args: ArchiveArgs) -> Result<Outcome, CliError> {
    match args.action {
        ArchiveAction::Inspect { file } => Ok(Outcome::printed(&archive_inspect(&file)?, g.json)),
        ArchiveAction::Get { file, number } => {
            Ok(Outcome::printed(&archive_get(&file, number)?, g.json))
        }
        ArchiveAction::Save {
            upto,
            file,
            max_rate,
        } => block_on(async {
            if file.exists() {
                return Err(CliError::Usage(format!(
                    "{} exists: choose a new file name (an archive never overwrites one)",
                    file.display()
                )));
            }
            let (target, _) = g.connect(args.token.as_deref())?;
            let node = g.node(&target).await?;
            let progress = !g.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
            let out = archive_save(&node, upto, &file, NonZeroU64::new(max_rate), progress).await?;
            Ok(Outcome::printed(&out, g.json))
        }),
        ArchiveAction::Commit { file, label } => {
            // Checked before anything is sent: only a whole file's digest is committed.
            let req = commit_request(&file, label.as_deref())?;
            block_on(async {
                let (target, _) = g.connect(args.token.as_deref())?;
                let node = g.node(&target).await?;
                let answer = node.archive_commit(&req).await?;
                Ok(Outcome::printed(&commit_output(&answer)?, g.json))
            })
        }
    }
}

/// An archive file as `save` and `inspect` print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveSummary {
    pub file: String,
    pub from: u64,
    pub upto: u64,
    pub count: u64,
    /// The orders' digest, 16 hex digits.
    pub digest: String,
    pub bytes: u64,
    /// The applied log index the orders were read at, and the node that read them.
    pub index: u64,
    pub node: u64,
    pub saved_at_ms: u64,
}

impl ArchiveSummary {
    pub fn new(file: &Path, c: &ArchiveContents) -> Self {
        ArchiveSummary {
            file: file.display().to_string(),
            from: c.header.from,
            upto: c.header.upto,
            count: c.digest.count,
            digest: c.digest.hex(),
            bytes: c.bytes,
            index: c.header.index,
            node: c.header.node,
            saved_at_ms: c.header.saved_at_ms,
        }
    }

    /// Range, count, digest and size; then index, node and time.
    pub fn lines(&self) -> String {
        format!(
            "orders {}..={} ({} orders), digest {}, {} bytes\n\
             read at index {} on node {}, saved {}",
            self.from,
            self.upto,
            self.count,
            self.digest,
            self.bytes,
            self.index,
            self.node,
            timestamp(self.saved_at_ms)
        )
    }
}

/// An archive commit as the cluster keeps it, on one line.
pub fn view_line(v: &ArchiveView) -> String {
    format!(
        "orders {}..={} ({} orders), digest {}, label {:?}, committed at index {} ({})",
        v.from,
        v.upto,
        v.count,
        v.digest,
        v.label,
        v.committed_index,
        timestamp(v.committed_at_ms)
    )
}

/// Milliseconds since the Unix epoch as RFC 3339, to the second.
fn timestamp(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// Saves the archive streamed from the node into `file`, with a progress bar on a terminal.
async fn archive_save(
    c: &ApiClient,
    upto: u64,
    file: &Path,
    max_rate: Option<NonZeroU64>,
    progress: bool,
) -> Result<Output, CliError> {
    let bar = progress_bar(
        progress,
        "{spinner} {pos}/{len} orders [{bar:30}] {msg}, {eta} left",
    )?;
    let started = Instant::now();
    let contents = save_archive(c, upto, file, max_rate, |p| {
        if let Some(total) = p.total_orders {
            bar.set_length(total);
        }
        bar.set_position(p.orders);
        bar.set_message(indicatif::HumanBytes(p.bytes).to_string());
    })
    .await;
    bar.finish_and_clear();
    let summary = ArchiveSummary::new(file, &contents?);
    Output::new(
        format!(
            "saved {} in {:.1} s\n{}\nnothing is removed yet: keep {} somewhere safe, then run \
             `bazaar archive commit {}`",
            file.display(),
            started.elapsed().as_secs_f64(),
            summary.lines(),
            file.display(),
            file.display()
        ),
        &summary,
    )
}

/// The commit's answer: what the cluster now records, and whether it was a retry.
fn commit_output(answer: &ArchiveCommitAnswer) -> Result<Output, CliError> {
    let human = if answer.already {
        format!(
            "already committed (nothing changed): {}",
            view_line(&answer.archive)
        )
    } else {
        format!("committed: {}", view_line(&answer.archive))
    };
    Output::new(human, answer)
}

/// Checks a saved file whole and summarises it.
fn archive_inspect(file: &Path) -> Result<Output, CliError> {
    let summary = ArchiveSummary::new(file, &inspect_archive(file)?);
    Output::new(
        format!("{}: intact\n{}", file.display(), summary.lines()),
        &summary,
    )
}

/// An archived order as `get --json` prints it: the order as `order-status` shows one, and
/// the request id it was placed under.
#[derive(Debug, Clone, Serialize)]
struct ArchivedOrderOutput {
    #[serde(flatten)]
    order: OrderView,
    request_id: String,
}

/// One order from a checked file; an error saying the file's range when it is not there.
fn archive_get(file: &Path, number: u64) -> Result<Output, CliError> {
    let (contents, found) = find_order(file, number)?;
    let order = found.ok_or_else(|| {
        CliError::NotFound(format!(
            "order {number} is not in {} (it holds orders {}..={})",
            file.display(),
            contents.header.from,
            contents.header.upto
        ))
    })?;
    let out = ArchivedOrderOutput {
        order: order.view(),
        request_id: order.request_id,
    };
    Output::new(
        format!(
            "{}\nrequest id {:?}, from {} (orders {}..={}, digest {})",
            order_line(&out.order),
            out.request_id,
            file.display(),
            contents.header.from,
            contents.header.upto,
            contents.digest.hex()
        ),
        &out,
    )
}

#[cfg(test)]
mod tests {
    use bazaar_api::archive::{ArchiveHeader, ArchiveWriter};

    use super::*;

    fn stored(number: u64) -> Vec<u8> {
        crate::archive_file::stored_order(number, 3, 2599, 50 + number)
    }

    fn write_archive(path: &Path, from: u64, upto: u64) {
        let header = ArchiveHeader {
            from,
            upto,
            index: 77,
            node: 3,
            saved_at_ms: 0,
        };
        let mut w = ArchiveWriter::new(Vec::new(), &header).unwrap();
        for n in from..=upto {
            w.order(n, &stored(n)).unwrap();
        }
        std::fs::write(path, w.finish().unwrap().0).unwrap();
    }

    #[test]
    fn get_prints_the_order_with_its_request_id_or_says_the_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.archive");
        write_archive(&path, 4, 6);
        let out = archive_get(&path, 5).unwrap();
        assert!(out
            .human
            .starts_with("order #5: 3 x Tux at 25.99 = 77.97 (log index 55)"));
        assert!(out.human.contains("request id \"key-5\""), "{}", out.human);
        assert_eq!(out.json["number"], 5);
        assert_eq!(out.json["name"], "Tux");
        assert_eq!(out.json["request_id"], "key-5");
        assert_eq!(out.json["total"], 77.97);

        let err = archive_get(&path, 7).err().expect("7 is not in 4..=6");
        assert!(matches!(err, CliError::NotFound(_)), "{err:?}");
        assert!(err.to_string().contains("holds orders 4..=6"), "{err}");
    }

    #[test]
    fn inspect_names_range_count_origin_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.archive");
        write_archive(&path, 1, 3);
        let out = archive_inspect(&path).unwrap();
        assert!(out.human.contains("intact"), "{}", out.human);
        assert!(
            out.human.contains("orders 1..=3 (3 orders)"),
            "{}",
            out.human
        );
        assert!(
            out.human
                .contains("read at index 77 on node 3, saved 1970-01-01T00:00:00Z"),
            "{}",
            out.human
        );
        assert_eq!(out.json["count"], 3);
        assert_eq!(out.json["digest"].as_str().map(str::len), Some(16));
    }

    #[test]
    fn a_retried_commit_says_already_committed() {
        let view = ArchiveView {
            from: 1,
            upto: 500,
            count: 500,
            digest: "00000000000000ff".into(),
            committed_index: 900,
            committed_at_ms: 0,
            label: "march".into(),
        };
        let mut answer = ArchiveCommitAnswer {
            archive: view,
            already: false,
        };
        let first = commit_output(&answer).unwrap().human;
        assert!(first.starts_with("committed: orders 1..=500"), "{first}");
        answer.already = true;
        let again = commit_output(&answer).unwrap();
        assert!(
            again.human.starts_with("already committed"),
            "{}",
            again.human
        );
        assert_eq!(again.json["already"], true);
    }
}
