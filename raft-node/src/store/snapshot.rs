//! Snapshots: a dump of every state machine column family plus its metadata, taken from a
//! RocksDB snapshot, kept on disk as one file, and restored in place on a follower.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use rocksdb::{IteratorMode, WriteBatch};
use serde::{Deserialize, Serialize};

use super::db::{synced, Db, CF_SM_META, SNAPSHOT_CFS};
use super::error::StoreError;
use crate::codec::{decode, encode};
use crate::shop::StateDigest;
use crate::types::{LogId, SnapshotMeta, StoredMembership};

pub const KEY_META: &[u8] = b"meta";
/// Set while a snapshot is being restored; on open, a set marker means "restore again".
pub const KEY_INSTALLING: &[u8] = b"installing";
const FILE_NAME: &str = "current.snap";
/// Writes per batch while restoring, so a large snapshot does not build one huge batch.
const RESTORE_BATCH: usize = 10_000;
/// Above every key we write: keys are shorter than this and never all 0xFF.
const KEY_SPACE_END: [u8; 256] = [0xFF; 256];

/// State machine metadata, written atomically with every apply batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmMeta {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub next_order: u64,
    pub seeded: bool,
    pub digest: StateDigest,
}

type CfDump = (String, Vec<(Vec<u8>, Vec<u8>)>);

#[derive(Serialize, Deserialize)]
struct Payload {
    meta: SmMeta,
    cfs: Vec<CfDump>,
}

/// Dumps the state machine as of `meta`. Call with apply held off, so that the RocksDB
/// snapshot taken here matches `meta`; the iteration itself runs after that.
pub fn dump(db: &Db, meta: SmMeta, take_view: impl FnOnce()) -> Result<Vec<u8>, StoreError> {
    let view = db.rocks.snapshot();
    take_view();
    let mut cfs = Vec::with_capacity(SNAPSHOT_CFS.len());
    for name in SNAPSHOT_CFS {
        let cf = db.cf(name)?;
        let mut rows = Vec::new();
        for item in view.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item?;
            rows.push((k.to_vec(), v.to_vec()));
        }
        cfs.push((name.to_owned(), rows));
    }
    Ok(encode(&Payload { meta, cfs })?)
}

/// Replaces the state machine's column families with the snapshot's; returns its metadata.
/// Crash-safe: the `installing` marker makes the next open restore again from the file.
pub fn restore(db: &Db, data: &[u8]) -> Result<SmMeta, StoreError> {
    let payload: Payload = decode(data)?;
    let meta_cf = db.cf(CF_SM_META)?;
    db.rocks
        .put_cf_opt(meta_cf, KEY_INSTALLING, [1u8], &synced())?;
    let mut batch = WriteBatch::default();
    for name in SNAPSHOT_CFS {
        batch.delete_range_cf(db.cf(name)?, &[][..], &KEY_SPACE_END[..]);
    }
    db.rocks.write(batch)?;
    for (name, rows) in &payload.cfs {
        let cf = db.cf(name)?;
        for chunk in rows.chunks(RESTORE_BATCH) {
            let mut batch = WriteBatch::default();
            for (k, v) in chunk {
                batch.put_cf(cf, k, v);
            }
            db.rocks.write(batch)?;
        }
    }
    let mut batch = WriteBatch::default();
    batch.put_cf(meta_cf, KEY_META, encode(&payload.meta)?);
    batch.delete_cf(meta_cf, KEY_INSTALLING);
    db.rocks.write_opt(batch, &synced())?;
    Ok(payload.meta)
}

/// The node's current snapshot on disk.
pub struct SnapshotFile {
    dir: PathBuf,
}

impl SnapshotFile {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
        }
    }

    /// Writes atomically: temp file, fsync, rename, fsync the folder.
    pub fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir)?;
        let header = encode(meta)?;
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(&(header.len() as u64).to_be_bytes())?;
        f.write_all(&header)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(FILE_NAME))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    pub fn load(&self) -> Result<Option<(SnapshotMeta, Vec<u8>)>, StoreError> {
        let path = self.dir.join(FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let corrupt =
            || StoreError::Corrupt(format!("snapshot file {} is truncated", path.display()));
        let len_bytes: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(corrupt)?;
        let header_len = usize::try_from(u64::from_be_bytes(len_bytes)).map_err(|_| corrupt())?;
        let header = bytes.get(8..8 + header_len).ok_or_else(corrupt)?;
        let meta: SnapshotMeta = decode(header)?;
        Ok(Some((meta, bytes[8 + header_len..].to_vec())))
    }
}
