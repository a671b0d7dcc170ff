//! Backups and restores. A backup is a snapshot stream of the state machine at a known
//! applied index. A restore seeds a pristine node from one: the state machine becomes the
//! backup's (with the new cluster's membership), and the Raft log starts right after it, so
//! every node of a new cluster seeded from the same file holds the same state at the same
//! log position and elects a leader as usual, with no bootstrap.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use bazaar_api::backup::summarize;
pub use bazaar_api::backup::BackupSummary;
use openraft::{CommittedLeaderId, Membership};

use super::error::{blocking, StoreError};
use super::log_store::LogStore;
use super::sm_db::SmDirs;
use super::sm_meta::SmMeta;
use super::snapshot::{dump_to_file, install_generation, Dumped, SnapshotFiles, StreamReader};
use super::view::AppliedView;
use crate::types::{LogId, NodeAddr, NodeId, StoredMembership};

/// Present while a restore is under way: a crash in the middle is redone, never served.
const RESTORING: &str = "restoring";

/// Writes a backup of what `view`'s database holds (at least `view`'s index) to `path`.
pub async fn dump_backup(view: &AppliedView, path: &Path) -> Result<Dumped, StoreError> {
    let db = view.db.clone();
    let path = path.to_owned();
    blocking(move || {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        dump_to_file(&db, &path, |meta| {
            format!("backup-{}-{now}", meta.applied_index())
        })
    })
    .await
}

/// Reads a whole backup, checking its format version, framing and checksum, and that the
/// node's metadata in it is readable; counts what it holds.
pub fn inspect_backup(path: &Path) -> Result<BackupSummary, StoreError> {
    let open = || {
        File::open(path).map_err(|e| {
            StoreError::Refused(format!("cannot open the backup {}: {e}", path.display()))
        })
    };
    StreamReader::open(open()?)?;
    Ok(summarize(open()?)?)
}

fn is_pristine(data_dir: &Path) -> Result<bool, StoreError> {
    for sub in ["raft", "sm", "snapshots"] {
        let path = data_dir.join(sub);
        if path.exists() && std::fs::read_dir(&path)?.next().is_some() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// True when a restore into `data_dir` was interrupted: the node must not serve it.
pub fn restore_interrupted(data_dir: &Path) -> bool {
    data_dir.join(RESTORING).exists()
}

/// Reads the whole backup at `path` (format, framing, checksum, the node's metadata) and
/// refuses one that holds nothing to restore; runs on the blocking pool.
pub async fn check_backup(path: &Path) -> Result<BackupSummary, StoreError> {
    let path = path.to_owned();
    let summary = blocking(move || inspect_backup(&path)).await?;
    if summary.index == 0 {
        return Err(StoreError::Refused(
            "the backup holds no applied entry: nothing to restore".into(),
        ));
    }
    Ok(summary)
}

/// Checks that `data_dir` may be restored into, before anything is opened in it: it must be
/// new and empty, or hold what an interrupted restore left (which is cleared, to redo it).
/// Marks the restore as under way: the node refuses to serve until it completes.
pub async fn prepare_restore(data_dir: &Path) -> Result<(), StoreError> {
    let data_dir = data_dir.to_owned();
    blocking(move || prepare_restore_blocking(&data_dir)).await
}

fn prepare_restore_blocking(data_dir: &Path) -> Result<(), StoreError> {
    if restore_interrupted(data_dir) {
        tracing::warn!(data_dir = %data_dir.display(), "redoing an interrupted restore");
        for sub in ["sm", "snapshots"] {
            let path = data_dir.join(sub);
            if path.exists() {
                std::fs::remove_dir_all(path)?;
            }
        }
        return Ok(());
    }
    if !is_pristine(data_dir)? {
        return Err(StoreError::Refused(format!(
            "{} already holds data: restore only into a new, empty data dir",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(data_dir.join(RESTORING), b"restoring")?;
    Ok(())
}

/// Seeds the state machine, snapshot and log of the node in `data_dir` (passed by
/// [`prepare_restore`]) from the backup at `backup`, for a cluster of `members` (all
/// voters). `summary` is the backup as [`check_backup`] read it. Returns what was restored.
pub async fn seed_from_backup(
    data_dir: &Path,
    backup: &Path,
    summary: BackupSummary,
    members: BTreeMap<NodeId, NodeAddr>,
    log: &LogStore,
) -> Result<BackupSummary, StoreError> {
    let marker = data_dir.join(RESTORING);
    // The new cluster's first log position: the same on every node seeded from this file.
    let log_id = LogId::new(CommittedLeaderId::new(0, 0), summary.index);
    let voters: BTreeSet<NodeId> = members.keys().copied().collect();
    let membership = StoredMembership::new(Some(log_id), Membership::new(vec![voters], members));
    let dir = data_dir.to_owned();
    let backup = backup.to_owned();
    blocking(move || {
        let dirs = SmDirs::new(dir.join("sm"));
        std::fs::create_dir_all(dir.join("sm"))?;
        let installed = install_generation(&dirs, 1, &backup, None, |meta| SmMeta {
            last_applied: Some(log_id),
            membership,
            ..meta
        })?;
        // Its own snapshot, so it can catch up a learner added later.
        let snapshots = SnapshotFiles::open(&dir.join("snapshots"))?;
        let part = snapshots.part_path("restore");
        dump_to_file(&installed.db, &part, |meta| {
            format!("restore-{}", meta.applied_index())
        })?;
        snapshots.make_current(&part)?;
        Ok(())
    })
    .await?;
    log.seed_purged(log_id).await?;
    tokio::fs::remove_file(&marker).await?;
    Ok(summary)
}
