//! The Raft database: the log and Raft's own metadata (vote, committed, purged), apart from
//! the state machine's database so a snapshot install can replace the latter whole (the
//! split TiKV makes between its raft and kv engines).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::DB;

use super::error::{blocking, StoreError};
use super::rocks::{cf, cf_descriptor, db_options, Access};
use super::wal_warmup::warm_wal;

/// Raft log entries, keyed by big-endian index.
pub const CF_LOG: &str = "log";
/// Raft metadata: vote, committed, last purged.
pub const CF_RAFT: &str = "raft";

/// Memtables of the log: the write-heavy column family.
const LOG_WRITE_BUFFER: usize = 16 << 20;
const DB_MEMTABLES: usize = 40 << 20;
/// Written and deleted by the WAL's warm-up, never read.
const KEY_WAL_WARMUP: &[u8] = b"wal_warmup";

pub struct RaftDb {
    pub rocks: DB,
}

impl RaftDb {
    pub fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        cf(&self.rocks, name)
    }
}

/// Opens (or creates) the Raft database on the blocking pool: opening replays the WAL,
/// which can take a while after a crash, then readies the WAL for fast synced appends
/// (`wal_warmup`: writes and retires two files of filler, ~0.2 s).
pub async fn open_raft_db(path: impl Into<PathBuf>) -> Result<Arc<RaftDb>, StoreError> {
    let path = path.into();
    blocking(move || open_blocking(&path)).await
}

fn open_blocking(path: &Path) -> Result<Arc<RaftDb>, StoreError> {
    std::fs::create_dir_all(path)?;
    let opts = db_options(DB_MEMTABLES);
    let cfs = [
        cf_descriptor(CF_LOG, Access::Scans, LOG_WRITE_BUFFER, |_| {}),
        cf_descriptor(CF_RAFT, Access::Scans, 1 << 20, |_| {}),
    ];
    let rocks = DB::open_cf_descriptors(&opts, path, cfs)?;
    // One WAL file takes about a log memtable's worth before the log's flush retires it.
    let started = std::time::Instant::now();
    warm_wal(&rocks, LOG_WRITE_BUFFER, CF_RAFT, KEY_WAL_WARMUP)?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "write-ahead log readied for synced appends"
    );
    Ok(Arc::new(RaftDb { rocks }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wal_warmup::wal_files;

    #[tokio::test]
    async fn a_new_raft_database_writes_its_log_into_a_reused_wal_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raft");
        let _db = open_raft_db(&path).await.expect("open");
        let files = wal_files(&path);
        let &(live, len) = files.last().expect("a WAL file");
        assert!(
            len >= LOG_WRITE_BUFFER as u64,
            "the log's first appends should go to a reused WAL file of a memtable's size, \
             but {live}.log holds {len} bytes (files: {files:?})"
        );
    }
}
