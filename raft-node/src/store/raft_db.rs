//! The Raft database: the log and Raft's own metadata (vote, committed, purged), apart from
//! the state machine's database so a snapshot install can replace the latter whole (the
//! split TiKV makes between its raft and kv engines).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::DB;

use super::error::StoreError;
use super::pool::blocking;
use super::rocks::{cf, cf_descriptor, db_options, Access, Rocks};

/// Raft log entries, keyed by big-endian index.
pub const CF_LOG: &str = "log";
/// Raft metadata: vote, committed, last purged.
pub const CF_RAFT: &str = "raft";

/// Memtables of the log: the write-heavy column family.
const LOG_WRITE_BUFFER: usize = 16 << 20;
const DB_MEMTABLES: usize = 40 << 20;

pub struct RaftDb {
    pub rocks: Rocks,
}

impl RaftDb {
    pub fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        cf(&self.rocks, name)
    }
}

/// Opens (or creates) the Raft database on the blocking pool: opening replays the WAL,
/// which can take a while after a crash.
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
    Ok(Arc::new(RaftDb {
        rocks: Rocks::new(rocks),
    }))
}
