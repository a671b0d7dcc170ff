//! The shop state machine on RocksDB: each apply call is one atomic write batch carrying its
//! data and `last_applied`; the catalog is mirrored in memory for fast reads.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use rocksdb::IteratorMode;

use super::db::{be64, Db, CF_ORDERS, CF_PRODUCTS, CF_SM_META};
use super::error::{blocking, StoreError};
use super::sink::RocksSink;
use super::snapshot::{self, SmMeta, SnapshotFile, KEY_INSTALLING, KEY_META};
use crate::api::ChangeEvent;
use crate::codec::{decode, encode};
use crate::feed::ChangeFeed;
use crate::shop::{Changes, CommandResult, OrderRecord, ProductRecord, ShopState};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// Everything applied so far that lives in memory.
#[derive(Debug, Clone)]
pub struct AppliedState {
    pub shop: ShopState,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

impl AppliedState {
    pub fn applied_index(&self) -> u64 {
        self.last_applied.map(|l| l.index).unwrap_or(0)
    }

    fn meta(&self) -> SmMeta {
        SmMeta {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            next_order: self.shop.next_order,
            seeded: self.shop.seeded,
            digest: self.shop.digest,
        }
    }

    fn from_meta(meta: SmMeta, products: BTreeMap<String, ProductRecord>, retention: u64) -> Self {
        let mut shop = ShopState::new(retention);
        shop.products = products;
        shop.next_order = meta.next_order.max(1);
        shop.seeded = meta.seeded;
        shop.digest = meta.digest;
        Self {
            shop,
            last_applied: meta.last_applied,
            membership: meta.membership,
        }
    }
}

type Shared = Arc<RwLock<AppliedState>>;

fn read(state: &Shared) -> RwLockReadGuard<'_, AppliedState> {
    state.read().unwrap_or_else(|p| p.into_inner())
}

fn write(state: &Shared) -> RwLockWriteGuard<'_, AppliedState> {
    state.write().unwrap_or_else(|p| p.into_inner())
}

/// Read access to applied state for the HTTP layer.
#[derive(Clone)]
pub struct StateReader {
    db: Arc<Db>,
    state: Shared,
}

impl StateReader {
    /// Runs `f` on the applied state; keep it short, apply waits for it.
    pub fn with<R>(&self, f: impl FnOnce(&AppliedState) -> R) -> R {
        f(&read(&self.state))
    }

    pub fn applied_index(&self) -> u64 {
        read(&self.state).applied_index()
    }

    /// Order `number`, if it exists.
    pub async fn order(&self, number: u64) -> Result<Option<OrderRecord>, StoreError> {
        let db = self.db.clone();
        blocking(
            move || match db.rocks.get_cf(db.cf(CF_ORDERS)?, be64(number))? {
                Some(bytes) => Ok(Some(decode(&bytes)?)),
                None => Ok(None),
            },
        )
        .await
    }
}

pub struct StateMachine {
    db: Arc<Db>,
    state: Shared,
    feed: ChangeFeed,
    snapshots: Arc<SnapshotFile>,
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
            let meta: SmMeta = match db.rocks.get_cf(meta_cf, KEY_META)? {
                Some(bytes) => decode(&bytes)?,
                None => SmMeta::default(),
            };
            let products = load_products(&db)?;
            Ok(AppliedState::from_meta(meta, products, dedupe_retention))
        })
        .await?;
        let feed = ChangeFeed::new(state.applied_index());
        Ok(Self {
            db,
            state: Arc::new(RwLock::new(state)),
            feed,
            snapshots,
        })
    }

    pub fn reader(&self) -> StateReader {
        StateReader {
            db: self.db.clone(),
            state: self.state.clone(),
        }
    }

    pub fn feed(&self) -> ChangeFeed {
        self.feed.clone()
    }
}

fn load_products(db: &Db) -> Result<BTreeMap<String, ProductRecord>, StoreError> {
    let mut products = BTreeMap::new();
    for item in db
        .rocks
        .iterator_cf(db.cf(CF_PRODUCTS)?, IteratorMode::Start)
    {
        let (_, value) = item?;
        let p: ProductRecord = decode(&value)?;
        products.insert(p.name.clone(), p);
    }
    Ok(products)
}

/// Applies entries to memory and one write batch; the batch is written before the lock is
/// released, so a reader never sees in memory what is not yet in the DB.
fn apply_blocking(
    db: &Db,
    state: &Shared,
    entries: Vec<Entry>,
) -> Result<(Vec<CommandResult>, Vec<ChangeEvent>, u64), StoreError> {
    let mut guard = write(state);
    let mut sink = RocksSink::new(db);
    let mut results = Vec::with_capacity(entries.len());
    let mut events = Vec::new();
    let mut changed_products = BTreeSet::new();
    for entry in entries {
        let index = entry.log_id.index;
        guard.last_applied = Some(entry.log_id);
        let result = match entry.payload {
            EntryPayload::Blank => CommandResult::Nothing,
            EntryPayload::Membership(m) => {
                guard.membership = StoredMembership::new(Some(entry.log_id), m);
                CommandResult::Nothing
            }
            EntryPayload::Normal(command) => {
                let mut changes = Changes::default();
                let result = guard.shop.apply(index, &command, &mut sink, &mut changes)?;
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
            .filter_map(|name| guard.shop.products.get(name)),
    )?;
    let mut batch = sink.batch;
    batch.put_cf(db.cf(CF_SM_META)?, KEY_META, encode(&guard.meta())?);
    // Not synced: the log is, and every later synced log write flushes this WAL record too.
    db.rocks.write(batch)?;
    Ok((results, events, guard.applied_index()))
}

/// Builds a snapshot of the state as of the moment `build_snapshot` runs.
pub struct SnapshotBuilder {
    db: Arc<Db>,
    state: Shared,
    snapshots: Arc<SnapshotFile>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let db = self.db.clone();
        let state = self.state.clone();
        let files = self.snapshots.clone();
        blocking(move || {
            // Hold off apply only while the RocksDB view is taken.
            let guard = read(&state);
            let meta = guard.meta();
            let data = snapshot::dump(&db, meta.clone(), move || drop(guard))?;
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
        })
        .await
        .map_err(|e| e.raft(ErrorSubject::Snapshot(None), ErrorVerb::Write))
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let guard = read(&self.state);
        Ok((guard.last_applied, guard.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let db = self.db.clone();
        let state = self.state.clone();
        let (results, events, applied) = blocking(move || apply_blocking(&db, &state, entries))
            .await
            .map_err(|e| e.raft(ErrorSubject::StateMachine, ErrorVerb::Write))?;
        self.feed.publish(events, applied);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.db.clone(),
            state: self.state.clone(),
            snapshots: self.snapshots.clone(),
        }
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
        let state = self.state.clone();
        let files = self.snapshots.clone();
        let meta = meta.clone();
        let data = snapshot.into_inner();
        let applied = blocking(move || {
            // The file first: it is what a crash in the middle of the restore resumes from.
            files.save(&meta, &data)?;
            let mut guard = write(&state);
            let sm_meta = snapshot::restore(&db, &data)?;
            let products = load_products(&db)?;
            let retention = guard.shop.dedupe_retention;
            *guard = AppliedState::from_meta(sm_meta, products, retention);
            Ok(guard.applied_index())
        })
        .await
        .map_err(|e| e.raft(ErrorSubject::Snapshot(None), ErrorVerb::Write))?;
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
