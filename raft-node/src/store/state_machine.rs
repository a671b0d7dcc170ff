//! The shop state machine on RocksDB. Each apply call works on a copy of the applied
//! state, writes its data and `last_applied` in one atomic write batch, and only then
//! publishes the copy as the new view: memory never runs ahead of the database, and no
//! lock is shared with the readers.

use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bazaar_api::ChangeEvent;
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use rocksdb::IteratorMode;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::db::{Db, CF_PRODUCTS, CF_SM_META};
use super::error::{blocking, StoreError};
use super::sink::RocksSink;
use super::snapshot::{self, SmMeta, SnapshotFile, KEY_INSTALLING, KEY_META};
use super::view::{AppliedView, Published, StateReader};
use crate::codec::{decode, encode};
use crate::feed::ChangeFeed;
use crate::shop::{Changes, CommandResult, ProductRecord};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

pub struct StateMachine {
    db: Arc<Db>,
    /// The applied state; the same value readers see (published after every apply).
    state: Arc<AppliedView>,
    published: Published,
    feed: ChangeFeed,
    snapshots: Arc<SnapshotFile>,
    dedupe_retention: u64,
}

impl StateMachine {
    /// Loads the applied state; finishes a snapshot restore a crash interrupted.
    pub async fn open(
        db: Arc<Db>,
        snapshot_dir: &Path,
        dedupe_retention: u64,
    ) -> Result<Self, StoreError> {
        let snapshots = Arc::new(SnapshotFile::new(snapshot_dir));
        let files = snapshots.clone();
        let loaded_db = db.clone();
        let state = blocking(move || {
            let db = loaded_db;
            let meta_cf = db.cf(CF_SM_META)?;
            if db.rocks.get_cf(meta_cf, KEY_INSTALLING)?.is_some() {
                let (_, data) = files.load()?.ok_or_else(|| {
                    StoreError::Corrupt("interrupted snapshot install but no snapshot file".into())
                })?;
                snapshot::restore(&db, &data)?;
            }
            load_view(&db, dedupe_retention)
        })
        .await?;
        let feed = ChangeFeed::new(state.applied_index());
        let state = Arc::new(state);
        Ok(Self {
            db,
            published: Arc::new(ArcSwap::new(state.clone())),
            state,
            feed,
            snapshots,
            dedupe_retention,
        })
    }

    pub fn reader(&self) -> StateReader {
        StateReader::new(self.db.clone(), self.published.clone())
    }

    pub fn feed(&self) -> ChangeFeed {
        self.feed.clone()
    }

    fn publish(&mut self, state: AppliedView) {
        self.state = Arc::new(state);
        self.published.store(self.state.clone());
    }
}

/// The applied state as the database holds it.
fn load_view(db: &Db, dedupe_retention: u64) -> Result<AppliedView, StoreError> {
    let meta: SmMeta = match db.rocks.get_cf(db.cf(CF_SM_META)?, KEY_META)? {
        Some(bytes) => decode(&bytes)?,
        None => SmMeta::default(),
    };
    let mut products = Vec::new();
    for item in db
        .rocks
        .iterator_cf(db.cf(CF_PRODUCTS)?, IteratorMode::Start)
    {
        let (_, value) = item?;
        products.push(decode::<ProductRecord>(&value)?);
    }
    Ok(AppliedView::from_meta(meta, products, dedupe_retention))
}

/// Applies entries to `state` (a copy) and one write batch, and writes the batch. On error
/// the copy is dropped, so the published state stays what the database holds.
fn apply_blocking(
    db: &Db,
    mut state: AppliedView,
    entries: Vec<Entry>,
) -> Result<(AppliedView, Vec<CommandResult>, Vec<ChangeEvent>), StoreError> {
    let mut sink = RocksSink::new(db);
    let mut results = Vec::with_capacity(entries.len());
    let mut events = Vec::new();
    let mut changed_products = BTreeSet::new();
    for entry in entries {
        let index = entry.log_id.index;
        state.last_applied = Some(entry.log_id);
        let result = match entry.payload {
            EntryPayload::Blank => CommandResult::Nothing,
            EntryPayload::Membership(m) => {
                state.membership = StoredMembership::new(Some(entry.log_id), m);
                CommandResult::Nothing
            }
            EntryPayload::Normal(command) => {
                let mut changes = Changes::default();
                let result = state.shop.apply(index, &command, &mut sink, &mut changes)?;
                changed_products.extend(changes.products.iter().cloned());
                if !changes.is_empty() {
                    events.push(ChangeEvent {
                        index,
                        products: changes.products.into_iter().collect(),
                        topics: changes.topics.into_iter().collect(),
                    });
                }
                result
            }
        };
        results.push(result);
    }
    sink.put_products(
        changed_products
            .iter()
            .filter_map(|name| state.shop.products.get(name)),
    )?;
    let mut batch = sink.batch;
    batch.put_cf(db.cf(CF_SM_META)?, KEY_META, encode(&state.meta())?);
    // Not synced: the log is, and every later synced log write flushes this WAL record too.
    db.rocks.write(batch)?;
    Ok((state, results, events))
}

/// Builds the snapshot whose RocksDB view was taken when the builder was made.
pub struct SnapshotBuilder {
    build: JoinHandle<Result<Snapshot, StoreError>>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let io = |e: StoreError| e.raft(ErrorSubject::Snapshot(None), ErrorVerb::Write);
        (&mut self.build)
            .await
            .map_err(|e| io(StoreError::Join(e.to_string())))?
            .map_err(io)
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let db = self.db.clone();
        let working = AppliedView::clone(&self.state);
        let (state, results, events) = blocking(move || apply_blocking(&db, working, entries))
            .await
            .map_err(|e| e.raft(ErrorSubject::StateMachine, ErrorVerb::Write))?;
        let applied = state.applied_index();
        self.publish(state);
        self.feed.publish(events, applied);
        Ok(results)
    }

    /// Takes the snapshot's RocksDB view before returning: openraft calls this between
    /// two apply calls, so the view matches `self.state` exactly. The dump itself runs on
    /// the blocking pool while apply goes on.
    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let db = self.db.clone();
        let files = self.snapshots.clone();
        let meta = self.state.meta();
        let (view_taken, taken) = oneshot::channel::<()>();
        let build = tokio::task::spawn_blocking(move || {
            let data = snapshot::dump(&db, meta.clone(), move || {
                let _ = view_taken.send(());
            })?;
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let snapshot_meta = SnapshotMeta {
                last_log_id: meta.last_applied,
                last_membership: meta.membership,
                snapshot_id: format!(
                    "{}-{}",
                    meta.last_applied.map(|l| l.index).unwrap_or(0),
                    now_ms
                ),
            };
            files.save(&snapshot_meta, &data)?;
            Ok(Snapshot {
                meta: snapshot_meta,
                snapshot: Box::new(Cursor::new(data)),
            })
        });
        // Err means the dump failed before taking its view; build_snapshot reports it.
        let _ = taken.await;
        SnapshotBuilder { build }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let db = self.db.clone();
        let files = self.snapshots.clone();
        let meta = meta.clone();
        let data = snapshot.into_inner();
        let retention = self.dedupe_retention;
        let state = blocking(move || {
            // The file first: it is what a crash in the middle of the restore resumes from.
            files.save(&meta, &data)?;
            snapshot::restore(&db, &data)?;
            load_view(&db, retention)
        })
        .await
        .map_err(|e| e.raft(ErrorSubject::Snapshot(None), ErrorVerb::Write))?;
        let applied = state.applied_index();
        self.publish(state);
        self.feed.reset(applied);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let files = self.snapshots.clone();
        let loaded = blocking(move || files.load())
            .await
            .map_err(|e| e.raft(ErrorSubject::Snapshot(None), ErrorVerb::Read))?;
        Ok(loaded.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
