//! The Raft log in RocksDB. Appends are acknowledged only once synced; one write batch per
//! append call, so entries openraft hands over together share one fsync. The commit mark
//! rides along in that batch instead of costing a write of its own, and the newest entries
//! stay in memory for the leader's replication reads ([`RecentEntries`]).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bazaar_service::Step;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader};
use rocksdb::{Direction, IteratorMode, WriteBatch};

#[cfg(feature = "failpoints")]
use super::error::failpoint_io;
use super::error::StoreError;
use super::log_compaction::PurgedCompaction;
use super::log_volume::LogVolume;
use super::pool::blocking;
use super::raft_db::{RaftDb, CF_LOG, CF_RAFT};
use super::recent_entries::RecentEntries;
use super::rocks::{be64, read_be64, synced};
use crate::codec::{decode, encode};
use crate::fail_stop::{StorageHealth, StoragePart};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"purged";

/// The commit mark openraft last saved: in memory at once, on disk with the next append.
/// What a restart reads back may be a little older; any older commit mark is still a true one
/// (entries once committed stay committed), so openraft only re-learns the rest from the
/// leader.
#[derive(Debug, Default)]
pub struct CommitMark {
    latest: Mutex<Option<LogId>>,
    /// `latest`'s index, for `/cluster` and metrics to read without the lock.
    index: AtomicU64,
}

impl CommitMark {
    /// The highest commit index known on this node (0 before any).
    pub fn index(&self) -> u64 {
        self.index.load(Ordering::Relaxed)
    }

    fn latest(&self) -> Option<LogId> {
        *self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commit marks only move forward.
    fn raise(&self, committed: Option<LogId>) {
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        if committed > *latest {
            *latest = committed;
            if let Some(c) = committed {
                self.index.fetch_max(c.index, Ordering::Relaxed);
            }
        }
    }
}

/// The log store; clones share the database (a clone is also the log reader).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<RaftDb>,
    committed: Arc<CommitMark>,
    /// The log's newest entries, shared by every clone (the readers replication uses).
    recent: Arc<Mutex<RecentEntries>>,
    /// Where each synced append's duration goes, when the node keeps metrics.
    sync_timing: Option<Step>,
    /// Entries and bytes appended, shared by every clone.
    volume: Arc<LogVolume>,
    /// Where every error of this store is recorded: any of them fail-stops the node.
    health: StorageHealth,
    /// Compacts what each purge deleted, in the background.
    purged: PurgedCompaction,
}

impl LogStore {
    pub fn new(db: Arc<RaftDb>) -> Self {
        Self {
            db,
            committed: Arc::default(),
            recent: Arc::new(Mutex::new(RecentEntries::default())),
            sync_timing: None,
            volume: Arc::default(),
            health: StorageHealth::default(),
            purged: PurgedCompaction::default(),
        }
    }

    /// Records this store's errors in `health` (the node's), so any of them fail-stops it.
    pub fn with_health(mut self, health: StorageHealth) -> Self {
        self.health = health;
        self
    }

    /// Times every synced append into `step`.
    pub fn with_sync_timing(mut self, step: Step) -> Self {
        self.sync_timing = Some(step);
        self
    }

    /// Marks a pristine log as purged up to `log_id`: the log of a node seeded from a
    /// backup starts right after the state it was seeded with.
    pub async fn seed_purged(&self, log_id: LogId) -> Result<(), StoreError> {
        let db = self.db.clone();
        blocking(move || {
            if db
                .rocks
                .iterator_cf(db.cf(CF_LOG)?, IteratorMode::Start)
                .next()
                .is_some()
                || Self::read_meta::<Vote>(&db, KEY_VOTE)?.is_some()
            {
                return Err(StoreError::Refused(
                    "the Raft log is not empty: a restore needs a pristine node".into(),
                ));
            }
            db.rocks
                .put_cf_opt(db.cf(CF_RAFT)?, KEY_PURGED, encode(&log_id)?, &synced())?;
            Ok(())
        })
        .await
    }

    /// What this store has appended since it was opened.
    pub fn volume(&self) -> Arc<LogVolume> {
        self.volume.clone()
    }

    /// The commit mark as last saved by openraft (a lower bound of the cluster's).
    pub fn commit_mark(&self) -> Arc<CommitMark> {
        self.committed.clone()
    }

    /// The in-memory tail, unless a panic while it was held left it unusable: then nothing
    /// is cached or served from it, and every read goes to disk.
    fn recent(&self) -> Option<MutexGuard<'_, RecentEntries>> {
        self.recent.lock().ok()
    }

    fn read_meta<T: serde::de::DeserializeOwned>(
        db: &RaftDb,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match db.rocks.get_cf(db.cf(CF_RAFT)?, key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn read_range(db: &RaftDb, start: u64, end: Bound<u64>) -> Result<Vec<Entry>, StoreError> {
        let cf = db.cf(CF_LOG)?;
        let mut out = Vec::new();
        let iter = db
            .rocks
            .iterator_cf(cf, IteratorMode::From(&be64(start), Direction::Forward));
        for item in iter {
            let (key, value) = item?;
            let index = read_be64(&key)?;
            let inside = match end {
                Bound::Included(e) => index <= e,
                Bound::Excluded(e) => index < e,
                Bound::Unbounded => true,
            };
            if !inside {
                break;
            }
            out.push(decode::<Entry>(&value)?);
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = range.end_bound().cloned();
        let end_exclusive = match end {
            Bound::Included(e) => Some(e.saturating_add(1)),
            Bound::Excluded(e) => Some(e),
            Bound::Unbounded => None,
        };
        if let Some(entries) = self
            .recent()
            .and_then(|recent| recent.get(start, end_exclusive))
        {
            return Ok(entries);
        }
        let db = self.db.clone();
        blocking(move || Self::read_range(&db, start, end))
            .await
            .map_err(StoreError::failing(
                &self.health,
                StoragePart::Log,
                ErrorSubject::Logs,
                ErrorVerb::Read,
            ))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let db = self.db.clone();
        blocking(move || {
            let purged: Option<LogId> = Self::read_meta(&db, KEY_PURGED)?;
            let last = match db
                .rocks
                .iterator_cf(db.cf(CF_LOG)?, IteratorMode::End)
                .next()
            {
                Some(item) => Some(decode::<Entry>(&item?.1)?.log_id),
                None => purged,
            };
            Ok(LogState {
                last_purged_log_id: purged,
                last_log_id: last,
            })
        })
        .await
        .map_err(StoreError::failing(
            &self.health,
            StoragePart::Log,
            ErrorSubject::Logs,
            ErrorVerb::Read,
        ))
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let db = self.db.clone();
        let vote = *vote;
        blocking(move || {
            db.rocks
                .put_cf_opt(db.cf(CF_RAFT)?, KEY_VOTE, encode(&vote)?, &synced())?;
            Ok(())
        })
        .await
        .map_err(StoreError::failing(
            &self.health,
            StoragePart::Vote,
            ErrorSubject::Vote,
            ErrorVerb::Write,
        ))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let db = self.db.clone();
        blocking(move || Self::read_meta(&db, KEY_VOTE))
            .await
            .map_err(StoreError::failing(
                &self.health,
                StoragePart::Vote,
                ErrorSubject::Vote,
                ErrorVerb::Read,
            ))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // No I/O here: this runs between commit and apply on every entry, and a write of its
        // own would cost a trip through the blocking pool there. The next append saves it.
        self.committed.raise(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let in_memory = self.committed.latest();
        if in_memory.is_some() {
            return Ok(in_memory);
        }
        let db = self.db.clone();
        let committed: Option<LogId> =
            blocking(move || Ok(Self::read_meta::<Option<LogId>>(&db, KEY_COMMITTED)?.flatten()))
                .await
                .map_err(StoreError::failing(
                    &self.health,
                    StoragePart::Log,
                    ErrorSubject::Store,
                    ErrorVerb::Read,
                ))?;
        self.committed.raise(committed);
        Ok(committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let db = self.db.clone();
        let committed = self.committed.latest();
        let started = Instant::now();
        let written = blocking(move || {
            let cf = db.cf(CF_LOG)?;
            let mut batch = WriteBatch::default();
            let mut sized = Vec::with_capacity(entries.len());
            for entry in entries {
                let bytes = encode(&entry)?;
                let size = bytes.len();
                batch.put_cf(cf, be64(entry.log_id.index), bytes);
                sized.push((entry, size));
            }
            if committed.is_some() {
                batch.put_cf(db.cf(CF_RAFT)?, KEY_COMMITTED, encode(&committed)?);
            }
            // Durable before openraft counts it: this is what makes an ack safe.
            fail::fail_point!("log.append.sync", |_| Err(failpoint_io("log.append.sync")));
            db.rocks.write_opt(batch, &synced())?;
            Ok(sized)
        })
        .await;
        if let Some(step) = &self.sync_timing {
            step.record_since(started);
        }
        match written {
            Ok(sized) => {
                let bytes = sized.iter().map(|(_, size)| *size as u64).sum();
                self.volume.appended(sized.len() as u64, bytes);
                // Cached before openraft hears of it, so the replication it starts next
                // finds the entries in memory.
                if let Some(mut recent) = self.recent() {
                    recent.appended(sized);
                }
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                // Final for this process: a failed sync is never retried (see `fail_stop`).
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e.fail_stop(
                    &self.health,
                    StoragePart::Log,
                    ErrorSubject::Logs,
                    ErrorVerb::Write,
                ))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // The cache first: no read may see an entry the log is about to lose.
        if let Some(mut recent) = self.recent() {
            recent.truncate_from(log_id.index);
        }
        let db = self.db.clone();
        blocking(move || {
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(db.cf(CF_LOG)?, be64(log_id.index), be64(u64::MAX));
            db.rocks.write_opt(batch, &synced())?;
            Ok(())
        })
        .await
        .map_err(StoreError::failing(
            &self.health,
            StoragePart::Log,
            ErrorSubject::Logs,
            ErrorVerb::Delete,
        ))?;
        self.purged.after_purge(self.db.clone(), log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        if let Some(mut recent) = self.recent() {
            recent.purge_through(log_id.index);
        }
        let db = self.db.clone();
        blocking(move || {
            let mut batch = WriteBatch::default();
            batch.put_cf(db.cf(CF_RAFT)?, KEY_PURGED, encode(&log_id)?);
            batch.delete_range_cf(db.cf(CF_LOG)?, be64(0), be64(log_id.index + 1));
            db.rocks.write_opt(batch, &synced())?;
            Ok(())
        })
        .await
        .map_err(StoreError::failing(
            &self.health,
            StoragePart::Log,
            ErrorSubject::Logs,
            ErrorVerb::Delete,
        ))
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftLogStorageExt;

    use super::*;
    use crate::store::open_raft_db;
    use crate::store::recent_entries::blank_entry;

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index).collect()
    }

    /// A fresh log holding entries 1..=`last` of term 1, and its database for a second store.
    async fn log_with(last: u64) -> (tempfile::TempDir, Arc<RaftDb>, LogStore) {
        let dir = tempfile::tempdir().unwrap();
        let db = open_raft_db(dir.path().join("raft")).await.unwrap();
        let mut log = LogStore::new(db.clone());
        log.blocking_append((1..=last).map(|i| blank_entry(1, i)))
            .await
            .unwrap();
        (dir, db, log)
    }

    #[tokio::test]
    async fn appends_are_counted_for_the_snapshot_schedule() {
        let (_dir, _db, log) = log_with(3).await;
        let entry_bytes = encode(&blank_entry(1, 1)).unwrap().len() as u64;
        assert_eq!(log.volume().mean_entry_bytes(), Some(entry_bytes));
    }

    #[tokio::test]
    async fn replication_reads_the_newest_entries_from_memory() {
        let (_dir, db, mut log) = log_with(3).await;
        // Remove the rows behind the store's back: what is still read came from memory.
        db.rocks
            .delete_range_cf(db.cf(CF_LOG).unwrap(), be64(0), be64(u64::MAX))
            .unwrap();
        let mut reader = log.get_log_reader().await;
        assert_eq!(
            indexes(&reader.try_get_log_entries(2..4).await.unwrap()),
            vec![2, 3]
        );
        assert_eq!(
            indexes(&reader.try_get_log_entries(1..).await.unwrap()),
            vec![1, 2, 3]
        );
        // A truncate reaches the readers' shared tail, not only the disk.
        log.truncate(blank_entry(1, 2).log_id).await.unwrap();
        assert_eq!(
            indexes(&reader.try_get_log_entries(1..=3).await.unwrap()),
            vec![1]
        );
        // A store with an empty tail reads the disk, which no longer has them.
        let mut cold = LogStore::new(db);
        assert!(cold.try_get_log_entries(1..4).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn the_commit_mark_reaches_disk_with_the_next_append() {
        let (_dir, db, mut log) = log_with(2).await;
        let mark = Some(blank_entry(1, 2).log_id);
        log.save_committed(mark).await.unwrap();
        assert_eq!(log.read_committed().await.unwrap(), mark);
        assert_eq!(log.commit_mark().index(), 2);
        // Not yet on disk: a restarted store (a new one on the same database) reads nothing.
        assert_eq!(
            LogStore::new(db.clone()).read_committed().await.unwrap(),
            None
        );
        log.blocking_append([blank_entry(1, 3)]).await.unwrap();
        let mut restarted = LogStore::new(db);
        assert_eq!(restarted.read_committed().await.unwrap(), mark);
        assert_eq!(restarted.commit_mark().index(), 2);
        // Marks only move forward.
        log.save_committed(Some(blank_entry(1, 1).log_id))
            .await
            .unwrap();
        assert_eq!(log.read_committed().await.unwrap(), mark);
    }
}
