//! Backups and restores. A backup is a snapshot stream of the state machine at a known
//! applied index. A restore seeds a pristine node from one: the state machine becomes the
//! backup's (with the new cluster's membership), and the Raft log starts right after it, so
//! every node of a new cluster seeded from the same file holds the same state at the same
//! log position and elects a leader as usual, with no bootstrap.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::{CommittedLeaderId, Membership};
use serde::Serialize;

use super::error::{blocking, StoreError};
use super::log_store::LogStore;
use super::sm_db::{SmDirs, DATA_CFS};
use super::sm_meta::SmMeta;
use super::snapshot::{dump_to_file, install_generation, Dumped, SnapshotFiles, StreamReader};
use super::view::AppliedView;
use crate::types::{LogId, NodeAddr, NodeId, StoredMembership};

/// Present while a restore is under way: a crash in the middle is redone, never served.
const RESTORING: &str = "restoring";

/// What a backup holds, as `bazaar backup inspect` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackupSummary {
    pub format_version: u8,
    pub snapshot_id: String,
    /// The applied index it was taken at.
    pub index: u64,
    pub term: u64,
    pub products: u64,
    pub orders: u64,
    pub idempotency_records: u64,
    pub next_order: u64,
    /// The state digest at `index`: equal to every replica's at that index.
    pub digest: String,
    pub bytes: u64,
}

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

/// Reads a whole backup, checking its format version and checksum; counts what it holds.
pub fn inspect_backup(path: &Path) -> Result<BackupSummary, StoreError> {
    let file = File::open(path).map_err(|e| {
        StoreError::Refused(format!("cannot open the backup {}: {e}", path.display()))
    })?;
    let bytes = file.metadata()?.len();
    let mut reader = StreamReader::open(file)?;
    let header = reader.header().clone();
    let mut counts = [0u64; 3];
    while let Some(record) = reader.next_record()? {
        let slot = DATA_CFS
            .iter()
            .position(|(id, _)| *id == record.cf)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown column family {}", record.cf)))?;
        counts[slot] += 1;
    }
    Ok(BackupSummary {
        format_version: super::snapshot::STREAM_VERSION,
        snapshot_id: header.snapshot_id,
        index: header.meta.applied_index(),
        term: header
            .meta
            .last_applied
            .map(|l| l.leader_id.term)
            .unwrap_or(0),
        products: counts[0],
        orders: counts[1],
        idempotency_records: counts[2],
        next_order: header.meta.next_order,
        digest: header.meta.digest.hex(),
        bytes,
    })
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

/// Seeds the state machine, snapshot and log of the pristine node in `data_dir` from the
/// backup at `backup`, for a cluster of `members` (all voters). Refuses a damaged or
/// foreign-format backup, an empty one, and a data dir that already holds anything (but
/// what an interrupted restore left, which it redoes). Returns what was restored.
pub async fn seed_from_backup(
    data_dir: &Path,
    backup: &Path,
    members: BTreeMap<NodeId, NodeAddr>,
    log: &LogStore,
) -> Result<BackupSummary, StoreError> {
    let path = backup.to_owned();
    let summary = blocking(move || inspect_backup(&path)).await?;
    if summary.index == 0 {
        return Err(StoreError::Refused(
            "the backup holds no applied entry: nothing to restore".into(),
        ));
    }
    let marker = data_dir.join(RESTORING);
    if marker.exists() {
        tracing::warn!(data_dir = %data_dir.display(), "redoing an interrupted restore");
        for sub in ["sm", "snapshots"] {
            let _ = std::fs::remove_dir_all(data_dir.join(sub));
        }
    } else if !is_pristine(data_dir)? {
        return Err(StoreError::Refused(format!(
            "{} already holds data: restore only into a new, empty data dir",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&marker, summary.index.to_string())?;
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
    std::fs::remove_file(&marker)?;
    Ok(summary)
}
