//! Backups and restores. A backup is a snapshot stream of the state machine at a known
//! applied index. A restore seeds a pristine node from one: the state machine becomes the
//! backup's (with the new cluster's membership), and the Raft log starts right after it, so
//! every node of a new cluster seeded from the same file holds the same state at the same
//! log position and elects a leader as usual, with no bootstrap.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use bazaar_api::backup::summarize;
pub use bazaar_api::backup::BackupSummary;
use openraft::{CommittedLeaderId, Membership};

use super::error::StoreError;
use super::log_store::LogStore;
use super::pool::blocking;
use super::rocks::closed;
use super::sm_db::{sync_dir, SmDirs};
use super::sm_meta::SmMeta;
use super::snapshot::{dump_to_file, install_generation, Dumped, SnapshotFiles, StreamReader};
use super::view::AppliedView;
use crate::types::{LogId, NodeAddr, NodeId, StoredMembership};

/// Present while a restore is under way: a crash in the middle is redone, never served.
/// Its creation is on disk (file and folder synced) before the restore writes anything,
/// and its removal only after everything the restore wrote is.
const RESTORING: &str = "restoring";

/// The steps of a restore after [`prepare_restore`] has left the marker, in order. A crash
/// after any of them but the last leaves the marker: the node refuses to start, and the
/// restore run again redoes every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The backup installed as the state machine's first generation (`sm/`).
    StateMachine,
    /// The node's own snapshot of it (`snapshots/`).
    Snapshot,
    /// The log set to start right after it (`raft/`).
    Log,
    /// The marker removed: the node may start.
    Done,
}

/// Writes the marker and makes it durable: the file, then its folder, then the folder's
/// parent (which may just have gained `data_dir`).
fn write_marker(data_dir: &Path) -> Result<(), StoreError> {
    let mut file = File::create(data_dir.join(RESTORING))?;
    file.write_all(b"restoring")?;
    file.sync_all()?;
    sync_dir(data_dir)?;
    if let Some(parent) = data_dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Removes the marker once what the restore wrote is on disk: the entries of `sm/`,
/// `snapshots/` and `raft/` in `data_dir` are synced first (each step synced its own
/// folder's contents), then the removal itself.
fn remove_marker(data_dir: &Path) -> Result<(), StoreError> {
    sync_dir(data_dir)?;
    std::fs::remove_file(data_dir.join(RESTORING))?;
    sync_dir(data_dir)
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
        // The marker is still there; nothing here decides a restart.
        return Ok(());
    }
    if !is_pristine(data_dir)? {
        return Err(StoreError::Refused(format!(
            "{} already holds data: restore only into a new, empty data dir",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir)?;
    write_marker(data_dir)
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
    seed_steps(data_dir, backup, &summary, members, log, |_| true).await?;
    Ok(summary)
}

/// The restore's steps; after each, `go_on` says whether to take the next (a test stops
/// there, as a crash would). Returns whether every step was taken.
async fn seed_steps(
    data_dir: &Path,
    backup: &Path,
    summary: &BackupSummary,
    members: BTreeMap<NodeId, NodeAddr>,
    log: &LogStore,
    mut go_on: impl FnMut(Step) -> bool,
) -> Result<bool, StoreError> {
    // The new cluster's first log position: the same on every node seeded from this file.
    let log_id = LogId::new(CommittedLeaderId::new(0, 0), summary.index);
    let voters: BTreeSet<NodeId> = members.keys().copied().collect();
    let membership = StoredMembership::new(Some(log_id), Membership::new(vec![voters], members));
    let dir = data_dir.to_owned();
    let backup = backup.to_owned();
    let sm_dir = dir.join("sm");
    let installed = blocking(move || {
        std::fs::create_dir_all(&sm_dir)?;
        let dirs = SmDirs::new(sm_dir);
        install_generation(&dirs, 1, &backup, None, |meta| SmMeta {
            last_applied: Some(log_id),
            membership,
            ..meta
        })
    })
    .await?;
    if !go_on(Step::StateMachine) {
        // As when a process stops: the database is closed before anything else runs.
        let open = installed.db.rocks.open_mark();
        drop(installed);
        closed(open).await;
        return Ok(false);
    }
    // Its own snapshot, so it can catch up a learner added later.
    let snapshot_dir = dir.join("snapshots");
    blocking(move || {
        let snapshots = SnapshotFiles::open(&snapshot_dir)?;
        let part = snapshots.part_path("restore");
        dump_to_file(&installed.db, &part, |meta| {
            format!("restore-{}", meta.applied_index())
        })?;
        snapshots.make_current(&part)?;
        // Closed here, on the pool, before the node that follows opens it.
        drop(installed);
        Ok(())
    })
    .await?;
    if !go_on(Step::Snapshot) {
        return Ok(false);
    }
    log.seed_purged(log_id).await?;
    if !go_on(Step::Log) {
        return Ok(false);
    }
    blocking(move || remove_marker(&dir)).await?;
    Ok(go_on(Step::Done))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use openraft::storage::RaftLogStorage;

    use super::*;
    use crate::codec::{decode, encode};
    use crate::store::raft_db::{open_raft_db, RaftDb};
    use crate::store::sm_db::{SmDb, CF_META, KEY_META};

    const INDEX: u64 = 5;

    /// A backup of a state machine that has applied up to [`INDEX`].
    fn backup_in(dir: &Path) -> PathBuf {
        let db = SmDb::open(&dir.join("source"), 1).unwrap();
        let meta = SmMeta {
            last_applied: Some(LogId::new(CommittedLeaderId::new(3, 1), INDEX)),
            next_order: 9,
            ..SmMeta::default()
        };
        db.rocks
            .put_cf(db.cf(CF_META).unwrap(), KEY_META, encode(&meta).unwrap())
            .unwrap();
        let path = dir.join("backup");
        dump_to_file(&db, &path, |_| "backup-test".into()).unwrap();
        path
    }

    fn members() -> BTreeMap<NodeId, NodeAddr> {
        let addr = NodeAddr {
            api: "127.0.0.1:1".into(),
            raft: "127.0.0.1:2".into(),
        };
        BTreeMap::from([(1, addr)])
    }

    /// Lets go of the Raft database and waits until it is closed (on the blocking pool), as
    /// a process that stops does, so the next run can open it.
    async fn close(log: LogStore, db: Arc<RaftDb>) {
        let open = db.rocks.open_mark();
        drop(log);
        drop(db);
        tokio::time::timeout(std::time::Duration::from_secs(10), closed(open))
            .await
            .expect("the database closes within the deadline");
    }

    /// One run of the restore's steps after `prepare_restore`, stopping where `go_on` says.
    async fn run_steps(
        data_dir: &Path,
        backup: &Path,
        summary: &BackupSummary,
        go_on: impl FnMut(Step) -> bool,
    ) -> bool {
        let db = open_raft_db(data_dir.join("raft")).await.unwrap();
        let log = LogStore::new(db.clone());
        let done = seed_steps(data_dir, backup, summary, members(), &log, go_on)
            .await
            .unwrap();
        close(log, db).await;
        done
    }

    /// What a finished restore leaves: the state machine, its snapshot and the log, all at
    /// the backup's index.
    async fn assert_restored(data_dir: &Path) {
        let sm = blocking({
            let dirs = SmDirs::new(data_dir.join("sm"));
            move || {
                let db = dirs.open_current()?;
                let bytes = db.rocks.get_cf(db.cf(CF_META)?, KEY_META)?;
                let meta: SmMeta = decode(&bytes.unwrap_or_default())?;
                Ok(meta)
            }
        })
        .await
        .unwrap();
        assert_eq!(sm.applied_index(), INDEX);
        assert_eq!(sm.next_order, 9);
        assert!(sm.membership.membership().voter_ids().eq([1]));
        let snapshot = SnapshotFiles::open(&data_dir.join("snapshots"))
            .unwrap()
            .current_header()
            .unwrap()
            .expect("the node's own snapshot");
        assert_eq!(snapshot.meta.applied_index(), INDEX);
        let db = open_raft_db(data_dir.join("raft")).await.unwrap();
        let mut log = LogStore::new(db.clone());
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(INDEX));
        close(log, db).await;
    }

    /// A crash between any two steps of a restore: the marker is still there, so the node
    /// refuses to start on what is there, and the restore run again completes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restore_stopped_after_any_step_is_refused_at_start_and_then_redone() {
        let tmp = tempfile::tempdir().unwrap();
        let backup = backup_in(tmp.path());
        let summary = check_backup(&backup).await.unwrap();
        // None: stopped right after `prepare_restore` wrote the marker.
        let stops = [
            None,
            Some(Step::StateMachine),
            Some(Step::Snapshot),
            Some(Step::Log),
        ];
        for stop in stops {
            let data_dir = tmp.path().join(format!("node-{stop:?}"));
            prepare_restore(&data_dir).await.unwrap();
            if let Some(stop) = stop {
                let mut taken = Vec::new();
                let done = run_steps(&data_dir, &backup, &summary, |step| {
                    taken.push(step);
                    step != stop
                })
                .await;
                assert!(!done);
                assert_eq!(taken.last(), Some(&stop));
            }
            assert!(
                restore_interrupted(&data_dir),
                "stopped after {stop:?}: the start-up check must refuse this data dir"
            );
            // A data dir with a restore's leftovers is not taken for a new one...
            assert!(!is_pristine(&data_dir).unwrap() || stop.is_none());
            // ...but the restore run again redoes it.
            prepare_restore(&data_dir).await.unwrap();
            let mut taken = Vec::new();
            let done = run_steps(&data_dir, &backup, &summary, |step| {
                taken.push(step);
                true
            })
            .await;
            assert!(done);
            assert_eq!(
                taken,
                [Step::StateMachine, Step::Snapshot, Step::Log, Step::Done]
            );
            assert!(
                !restore_interrupted(&data_dir),
                "after {stop:?} and a redo the node may start"
            );
            assert_restored(&data_dir).await;
        }
    }

    #[tokio::test]
    async fn a_data_dir_that_holds_data_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("node");
        std::fs::create_dir_all(data_dir.join("sm").join("1")).unwrap();
        assert!(matches!(
            prepare_restore(&data_dir).await,
            Err(StoreError::Refused(_))
        ));
        assert!(!restore_interrupted(&data_dir));
    }
}
