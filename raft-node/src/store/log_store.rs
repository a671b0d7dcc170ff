//! The Raft log in RocksDB. Appends are acknowledged only once synced; one write batch per
//! append call, so entries openraft hands over together share one fsync.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bazaar_service::Step;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, OptionalSend, RaftLogReader};
use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::error::{blocking, StoreError};
use super::raft_db::{RaftDb, CF_LOG, CF_RAFT};
use super::rocks::{be64, read_be64, synced};
use crate::codec::{decode, encode};
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_PURGED: &[u8] = b"purged";

/// The log store; clones share the database (a clone is also the log reader).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<RaftDb>,
    /// Last committed index openraft told us about, for `/cluster` and metrics.
    committed: Arc<AtomicU64>,
    /// Where each synced append's duration goes, when the node keeps metrics.
    sync_timing: Option<Step>,
}

impl LogStore {
    pub fn new(db: Arc<RaftDb>) -> Self {
        Self {
            db,
            committed: Arc::new(AtomicU64::new(0)),
            sync_timing: None,
        }
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

    /// The commit index as last saved by openraft (a lower bound of the cluster's).
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
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
        let db = self.db.clone();
        blocking(move || Self::read_range(&db, start, end))
            .await
            .map_err(|e| e.raft(ErrorSubject::Logs, ErrorVerb::Read))
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
        .map_err(|e| e.raft(ErrorSubject::Logs, ErrorVerb::Read))
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
        .map_err(|e| e.raft(ErrorSubject::Vote, ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let db = self.db.clone();
        blocking(move || Self::read_meta(&db, KEY_VOTE))
            .await
            .map_err(|e| e.raft(ErrorSubject::Vote, ErrorVerb::Read))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        if let Some(c) = committed {
            self.committed.fetch_max(c.index, Ordering::Relaxed);
        }
        let db = self.db.clone();
        // Not synced: a lost commit mark only means re-learning it from the leader.
        blocking(move || {
            db.rocks
                .put_cf(db.cf(CF_RAFT)?, KEY_COMMITTED, encode(&committed)?)?;
            Ok(())
        })
        .await
        .map_err(|e| e.raft(ErrorSubject::Store, ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let db = self.db.clone();
        let committed: Option<LogId> =
            blocking(move || Ok(Self::read_meta::<Option<LogId>>(&db, KEY_COMMITTED)?.flatten()))
                .await
                .map_err(|e| e.raft(ErrorSubject::Store, ErrorVerb::Read))?;
        if let Some(c) = committed {
            self.committed.fetch_max(c.index, Ordering::Relaxed);
        }
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
        let started = Instant::now();
        let written = blocking(move || {
            let cf = db.cf(CF_LOG)?;
            let mut batch = WriteBatch::default();
            for entry in &entries {
                batch.put_cf(cf, be64(entry.log_id.index), encode(entry)?);
            }
            // Durable before openraft counts it: this is what makes an ack safe.
            db.rocks.write_opt(batch, &synced())?;
            Ok(())
        })
        .await;
        if let Some(step) = &self.sync_timing {
            step.record_since(started);
        }
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e.raft(ErrorSubject::Logs, ErrorVerb::Write))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = self.db.clone();
        blocking(move || {
            let mut batch = WriteBatch::default();
            batch.delete_range_cf(db.cf(CF_LOG)?, be64(log_id.index), be64(u64::MAX));
            db.rocks.write_opt(batch, &synced())?;
            Ok(())
        })
        .await
        .map_err(|e| e.raft(ErrorSubject::Logs, ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let db = self.db.clone();
        blocking(move || {
            let mut batch = WriteBatch::default();
            batch.put_cf(db.cf(CF_RAFT)?, KEY_PURGED, encode(&log_id)?);
            batch.delete_range_cf(db.cf(CF_LOG)?, be64(0), be64(log_id.index + 1));
            db.rocks.write_opt(batch, &synced())?;
            Ok(())
        })
        .await
        .map_err(|e| e.raft(ErrorSubject::Logs, ErrorVerb::Delete))
    }
}
