//! The state machine's database, one generation at a time. `sm/<n>/` is a RocksDB with the
//! products, orders, idempotency records and the applied metadata; `sm/CURRENT` names the
//! generation in use. A snapshot install builds generation n+1 beside the current one and
//! switches by rewriting `CURRENT` atomically, so a crash at any point leaves either the old
//! state or the new one, never a mix; other generations are removed at start-up.

use bazaar_api::archive::OrderDigest;
use bazaar_api::backup::kind;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rocksdb::compaction_filter::Decision;
use rocksdb::DB;

use super::error::StoreError;
use super::rocks::{cf, cf_descriptor, db_options, Access, Rocks};
use crate::codec::decode;
use crate::shop::DedupeRecord;

/// Products by name.
pub const CF_PRODUCTS: &str = "products";
/// Orders by big-endian number.
pub const CF_ORDERS: &str = "orders";
/// Request id -> first outcome (idempotency).
pub const CF_DEDUPE: &str = "dedupe";
/// Active alarms by kind and member (`shop::alarm_storage_key`).
pub const CF_ALARMS: &str = "alarms";
/// One record per archive commit, by big-endian `upto`.
pub const CF_ARCHIVES: &str = "archives";
/// The applied metadata ([`KEY_META`]).
pub const CF_META: &str = "meta";
/// The one key of [`CF_META`].
pub const KEY_META: &[u8] = b"meta";

/// The column families a snapshot carries, with their ids in the snapshot stream.
pub const DATA_CFS: [(u8, &str); 5] = [
    (kind::PRODUCT, CF_PRODUCTS),
    (kind::ORDER, CF_ORDERS),
    (kind::IDEMPOTENCY, CF_DEDUPE),
    (kind::ALARM, CF_ALARMS),
    (kind::ARCHIVE, CF_ARCHIVES),
];

const CURRENT: &str = "CURRENT";
const DB_MEMTABLES: usize = 40 << 20;
const DATA_WRITE_BUFFER: usize = 16 << 20;
/// How old an idempotency file may grow before a compaction rewrites it (and drops its
/// expired records).
const DEDUPE_REWRITE_SECS: u64 = 6 * 3600;

/// Where idempotency records expire. A record first used below `applied - retention` is
/// past its retention for every entry still to be applied: apply ignores it, compactions
/// drop it (the compaction filter reads [`ExpiryFloor::for_compactions`]) and dumps leave it
/// out. A dump in progress holds the floor where it was when the dump's RocksDB snapshot was
/// taken ([`ExpiryFloor::hold`]): compaction filters also run on keys a RocksDB snapshot
/// still sees, and a dump at an older index must keep what is unexpired at that index.
#[derive(Debug, Default)]
pub struct ExpiryFloor {
    /// `applied - retention` at the last publish.
    floor: AtomicU64,
    /// `dedupe_retention`, once the state machine has said (0: unknown, nothing expires).
    retention: AtomicU64,
    /// The floors held by dumps in progress, with how many hold each.
    holds: Mutex<BTreeMap<u64, usize>>,
    /// `min(floor, lowest hold)`: what compactions may drop below.
    effective: AtomicU64,
}

/// A dump's hold on the expiry floor; released when dropped.
pub struct FloorHold<'a> {
    expiry: &'a ExpiryFloor,
    at: u64,
}

impl ExpiryFloor {
    /// Notes that `applied` is applied with records kept for `retention` entries.
    pub fn set(&self, applied: u64, retention: u64) {
        self.retention.store(retention, Ordering::Relaxed);
        self.floor
            .fetch_max(applied.saturating_sub(retention), Ordering::Relaxed);
        self.recompute(&self.lock_holds());
    }

    /// The floor for a state whose applied index is `applied` (a dump's): 0 while the
    /// retention is not known, so nothing is left out.
    pub fn floor_at(&self, applied: u64) -> u64 {
        match self.retention.load(Ordering::Relaxed) {
            0 => 0,
            retention => applied.saturating_sub(retention),
        }
    }

    /// What compactions may drop below.
    pub fn for_compactions(&self) -> u64 {
        self.effective.load(Ordering::Relaxed)
    }

    /// Keeps compactions from dropping records at or above today's floor until the hold is
    /// dropped. Taken before a dump's RocksDB snapshot, whose index is at least today's.
    pub fn hold(&self) -> FloorHold<'_> {
        let mut holds = self.lock_holds();
        let at = self.floor.load(Ordering::Relaxed);
        *holds.entry(at).or_insert(0) += 1;
        self.recompute(&holds);
        FloorHold { expiry: self, at }
    }

    fn lock_holds(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, usize>> {
        // The map is only counted up and down: a panic elsewhere cannot leave it half-done.
        self.holds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn recompute(&self, holds: &BTreeMap<u64, usize>) {
        let floor = self.floor.load(Ordering::Relaxed);
        let lowest = holds.keys().next().copied().unwrap_or(u64::MAX);
        self.effective.store(floor.min(lowest), Ordering::Relaxed);
    }
}

impl Drop for FloorHold<'_> {
    fn drop(&mut self) {
        let mut holds = self.expiry.lock_holds();
        if let Some(count) = holds.get_mut(&self.at) {
            *count -= 1;
            if *count == 0 {
                holds.remove(&self.at);
            }
        }
        self.expiry.recompute(&holds);
    }
}

/// One open generation of the state machine database.
pub struct SmDb {
    pub rocks: Rocks,
    pub generation: u64,
    pub expiry: Arc<ExpiryFloor>,
    path: PathBuf,
    /// The digest of one range of orders read from this database before it is needed
    /// (the leader's check of an archive commit), so the commit's apply need not read the
    /// range again: orders never change once written.
    known_digest: Mutex<Option<(u64, u64, OrderDigest)>>,
}

impl SmDb {
    pub fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        cf(&self.rocks, name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Notes the digest of orders `from..=upto` as read from this database.
    pub fn remember_digest(&self, from: u64, upto: u64, digest: OrderDigest) {
        if let Ok(mut known) = self.known_digest.lock() {
            *known = Some((from, upto, digest));
        }
    }

    /// The digest of orders `from..=upto`, if it was read before.
    pub fn known_digest(&self, from: u64, upto: u64) -> Option<OrderDigest> {
        let known = self.known_digest.lock().ok()?;
        known
            .filter(|(f, u, _)| (*f, *u) == (from, upto))
            .map(|(_, _, d)| d)
    }

    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path, generation: u64) -> Result<Self, StoreError> {
        fs::create_dir_all(path)?;
        let expiry = Arc::new(ExpiryFloor::default());
        let floor = expiry.clone();
        let opts = db_options(DB_MEMTABLES);
        let cfs = [
            cf_descriptor(CF_PRODUCTS, Access::Scans, 1 << 20, |_| {}),
            cf_descriptor(CF_ORDERS, Access::PointLookups, DATA_WRITE_BUFFER, |_| {}),
            cf_descriptor(CF_DEDUPE, Access::PointLookups, DATA_WRITE_BUFFER, |o| {
                // Keys are mostly time-ordered (UUID v7), so the files of old keys are never
                // rewritten by the compactions new keys cause: rewrite them now and then so
                // the filter below drops what expired there.
                o.set_periodic_compaction_seconds(DEDUPE_REWRITE_SECS);
                o.set_compaction_filter(
                    "bazaar-expired-idempotency",
                    move |_level, _key: &[u8], value: &[u8]| {
                        match decode::<DedupeRecord>(value) {
                            Ok(record) if record.index < floor.for_compactions() => {
                                Decision::Remove
                            }
                            // Unreadable values are kept for apply to report, never dropped here.
                            _ => Decision::Keep,
                        }
                    },
                );
            }),
            cf_descriptor(CF_META, Access::Scans, 1 << 20, |_| {}),
            // Added after the others: an older database gets it empty when opened.
            cf_descriptor(CF_ALARMS, Access::Scans, 1 << 20, |_| {}),
            cf_descriptor(CF_ARCHIVES, Access::Scans, 1 << 20, |_| {}),
        ];
        let rocks = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Self {
            rocks: Rocks::new(rocks),
            generation,
            expiry,
            path: path.to_owned(),
            known_digest: Mutex::new(None),
        })
    }
}

/// Where the generations live: `<data_dir>/sm`.
#[derive(Debug, Clone)]
pub struct SmDirs {
    root: PathBuf,
}

impl SmDirs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn generation_path(&self, generation: u64) -> PathBuf {
        self.root.join(generation.to_string())
    }

    pub fn staging_path(&self, generation: u64) -> PathBuf {
        self.root.join(format!("staging-{generation}"))
    }

    /// The generation `CURRENT` names, if any.
    pub fn current(&self) -> Result<Option<u64>, StoreError> {
        match fs::read_to_string(self.root.join(CURRENT)) {
            Ok(text) => text.trim().parse().map(Some).map_err(|_| {
                StoreError::Corrupt(format!("{}/{CURRENT} holds {text:?}", self.root.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the current generation, creating generation 1 on a pristine node, and removes
    /// every other (a staging area a crash left, a generation a switch replaced).
    pub fn open_current(&self) -> Result<SmDb, StoreError> {
        fs::create_dir_all(&self.root)?;
        let generation = match self.current()? {
            Some(generation) => generation,
            None => {
                self.make_current(1)?;
                1
            }
        };
        self.remove_all_but(generation)?;
        SmDb::open(&self.generation_path(generation), generation)
    }

    /// Makes the finished staging area `generation` the current generation: rename it into
    /// place, then rewrite `CURRENT` (temp file, fsync, rename, fsync the folder).
    pub fn promote(&self, generation: u64) -> Result<(), StoreError> {
        let target = self.generation_path(generation);
        if target.exists() {
            fs::remove_dir_all(&target)?;
        }
        fs::rename(self.staging_path(generation), &target)?;
        sync_dir(&self.root)?;
        self.make_current(generation)
    }

    fn make_current(&self, generation: u64) -> Result<(), StoreError> {
        let tmp = self.root.join(format!("{CURRENT}.tmp"));
        let mut f = File::create(&tmp)?;
        writeln!(f, "{generation}")?;
        f.sync_all()?;
        fs::rename(&tmp, self.root.join(CURRENT))?;
        sync_dir(&self.root)
    }

    /// Removes every generation and staging area but `keep` (never the current one).
    pub fn remove_all_but(&self, keep: u64) -> Result<(), StoreError> {
        let current = self.current()?;
        for entry in fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let generation = name
                .strip_prefix("staging-")
                .unwrap_or(&name)
                .parse::<u64>()
                .ok();
            let Some(generation) = generation else {
                continue;
            };
            let is_staging = name.starts_with("staging-");
            if is_staging || (generation != keep && Some(generation) != current) {
                tracing::info!(path = %entry.path().display(), "removing an old state machine generation");
                fs::remove_dir_all(entry.path())?;
            }
        }
        Ok(())
    }
}

pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promoted_generation_becomes_current_and_leftovers_go() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = SmDirs::new(dir.path().join("sm"));
        let first = dirs.open_current().unwrap();
        assert_eq!(first.generation, 1);
        drop(first);
        // A crash left a half-built staging area: the next start removes it.
        fs::create_dir_all(dirs.staging_path(2)).unwrap();
        let again = dirs.open_current().unwrap();
        assert_eq!(again.generation, 1);
        assert!(!dirs.staging_path(2).exists());
        drop(again);
        SmDb::open(&dirs.staging_path(2), 2).unwrap();
        dirs.promote(2).unwrap();
        assert_eq!(dirs.current().unwrap(), Some(2));
        let second = dirs.open_current().unwrap();
        assert_eq!(second.generation, 2);
        assert!(
            !dirs.generation_path(1).exists(),
            "the replaced generation is removed"
        );
    }

    #[test]
    fn a_dump_in_progress_holds_the_floor_compactions_drop_below() {
        let expiry = ExpiryFloor::default();
        assert_eq!(expiry.for_compactions(), 0);
        assert_eq!(expiry.floor_at(9_000), 0, "retention not known yet");
        expiry.set(5_000, 1_000);
        let hold = expiry.hold();
        expiry.set(9_000, 1_000);
        assert_eq!(expiry.floor_at(9_000), 8_000);
        assert_eq!(expiry.for_compactions(), 4_000, "held where the dump began");
        let second = expiry.hold();
        drop(hold);
        assert_eq!(
            expiry.for_compactions(),
            8_000,
            "the second hold began at 8,000"
        );
        expiry.set(12_000, 1_000);
        assert_eq!(expiry.for_compactions(), 8_000);
        drop(second);
        assert_eq!(expiry.for_compactions(), 11_000);
    }

    #[test]
    fn compactions_drop_expired_idempotency_records_but_not_held_ones() {
        use crate::codec::encode;
        use crate::shop::Remembered;

        let dir = tempfile::tempdir().unwrap();
        let db = SmDb::open(&dir.path().join("sm"), 1).unwrap();
        let cf = db.cf(CF_DEDUPE).unwrap();
        for index in [100u64, 2_500] {
            let record = DedupeRecord {
                index,
                fingerprint: 7,
                outcome: Remembered::Order(index),
            };
            db.rocks
                .put_cf(cf, format!("key-{index}"), encode(&record).unwrap())
                .unwrap();
        }
        let compact = || {
            db.rocks.flush_cf(cf).unwrap();
            db.rocks.compact_range_cf(cf, None::<&[u8]>, None::<&[u8]>);
        };
        let held = |key: &str| db.rocks.get_cf(cf, key).unwrap().is_some();
        db.expiry.set(1_000, 1_000);
        let hold = db.expiry.hold();
        db.expiry.set(3_000, 1_000);
        compact();
        assert!(held("key-100"), "the hold began at floor 0");
        drop(hold);
        compact();
        assert!(!held("key-100"), "expired at floor 2,000");
        assert!(held("key-2500"));
    }
}
