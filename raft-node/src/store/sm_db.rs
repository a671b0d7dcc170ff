//! The state machine's database, one generation at a time. `sm/<n>/` is a RocksDB with the
//! products, orders, idempotency records and the applied metadata; `sm/CURRENT` names the
//! generation in use. A snapshot install builds generation n+1 beside the current one and
//! switches by rewriting `CURRENT` atomically, so a crash at any point leaves either the old
//! state or the new one, never a mix; other generations are removed at start-up.

use bazaar_api::backup::kind;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
/// The applied metadata ([`KEY_META`]).
pub const CF_META: &str = "meta";
/// The one key of [`CF_META`].
pub const KEY_META: &[u8] = b"meta";

/// The column families a snapshot carries, with their ids in the snapshot stream.
pub const DATA_CFS: [(u8, &str); 4] = [
    (kind::PRODUCT, CF_PRODUCTS),
    (kind::ORDER, CF_ORDERS),
    (kind::IDEMPOTENCY, CF_DEDUPE),
    (kind::ALARM, CF_ALARMS),
];

const CURRENT: &str = "CURRENT";
const DB_MEMTABLES: usize = 40 << 20;
const DATA_WRITE_BUFFER: usize = 16 << 20;

/// Idempotency records first used below this log index are past their retention: apply
/// already ignores them, and compactions drop them.
#[derive(Debug, Default)]
pub struct ExpiryFloor(AtomicU64);

impl ExpiryFloor {
    pub fn set(&self, index: u64) {
        self.0.fetch_max(index, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One open generation of the state machine database.
pub struct SmDb {
    pub rocks: Rocks,
    pub generation: u64,
    pub expiry: Arc<ExpiryFloor>,
    path: PathBuf,
}

impl SmDb {
    pub fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        cf(&self.rocks, name)
    }

    pub fn path(&self) -> &Path {
        &self.path
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
                o.set_compaction_filter(
                    "bazaar-expired-idempotency",
                    move |_level, _key: &[u8], value: &[u8]| {
                        match decode::<DedupeRecord>(value) {
                            Ok(record) if record.index < floor.get() => Decision::Remove,
                            // Unreadable values are kept for apply to report, never dropped here.
                            _ => Decision::Keep,
                        }
                    },
                );
            }),
            cf_descriptor(CF_META, Access::Scans, 1 << 20, |_| {}),
            // Added after the others: an older database gets it empty when opened.
            cf_descriptor(CF_ALARMS, Access::Scans, 1 << 20, |_| {}),
        ];
        let rocks = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Self {
            rocks: Rocks::new(rocks),
            generation,
            expiry,
            path: path.to_owned(),
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
}
