//! Opening the node's RocksDB and naming its column families and keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, Options, WriteOptions, DB};

use super::error::{blocking, StoreError};

/// Raft log entries, keyed by big-endian index.
pub const CF_LOG: &str = "log";
/// Raft metadata: vote, committed, last purged.
pub const CF_RAFT: &str = "raft";
/// State machine: products by name.
pub const CF_PRODUCTS: &str = "products";
/// State machine: orders by big-endian number.
pub const CF_ORDERS: &str = "orders";
/// State machine: request id -> first outcome.
pub const CF_DEDUPE: &str = "dedupe";
/// State machine: big-endian index ++ request id, to expire dedupe entries in order.
pub const CF_DEDUPE_AGE: &str = "dedupe_age";
/// State machine metadata: last applied, membership, counters, digest.
pub const CF_SM_META: &str = "sm_meta";

const ALL_CFS: [&str; 7] = [
    CF_LOG,
    CF_RAFT,
    CF_PRODUCTS,
    CF_ORDERS,
    CF_DEDUPE,
    CF_DEDUPE_AGE,
    CF_SM_META,
];

/// Column families read by key on the hot path.
const POINT_LOOKUP_CFS: [&str; 2] = [CF_DEDUPE, CF_ORDERS];

/// The column families a snapshot carries (all state machine data).
pub const SNAPSHOT_CFS: [&str; 4] = [CF_PRODUCTS, CF_ORDERS, CF_DEDUPE, CF_DEDUPE_AGE];

/// The node's database, shared by the log store and the state machine.
pub struct Db {
    pub rocks: DB,
}

/// Opens (or creates) the node's database on the blocking pool: opening replays the WAL,
/// which can take a while after a crash.
pub async fn open_db(path: impl Into<PathBuf>) -> Result<Arc<Db>, StoreError> {
    let path = path.into();
    blocking(move || open_blocking(&path)).await
}

fn open_blocking(path: &Path) -> Result<Arc<Db>, StoreError> {
    std::fs::create_dir_all(path)?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_max_background_jobs(2);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    // Every append is a synced WAL write. Reusing old WAL files means most of those syncs
    // hit already-allocated blocks (tens of microseconds) instead of growing a file (ms).
    opts.set_recycle_log_file_num(4);
    let cfs = ALL_CFS.iter().map(|name| {
        let mut cf_opts = Options::default();
        cf_opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        if POINT_LOOKUP_CFS.contains(name) {
            // Nearly every dedupe lookup is a miss (a new request id): a bloom filter answers
            // it without reading each level's blocks, and the memtable one before that.
            let mut table = BlockBasedOptions::default();
            table.set_bloom_filter(10.0, false);
            cf_opts.set_block_based_table_factory(&table);
            cf_opts.set_memtable_prefix_bloom_ratio(0.05);
            cf_opts.set_memtable_whole_key_filtering(true);
        }
        ColumnFamilyDescriptor::new(*name, cf_opts)
    });
    let rocks = DB::open_cf_descriptors(&opts, path, cfs)?;
    Ok(Arc::new(Db { rocks }))
}

impl Db {
    pub fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.rocks
            .cf_handle(name)
            .ok_or_else(|| StoreError::Corrupt(format!("column family {name} is missing")))
    }
}

/// A write that returns only once it is on disk.
pub fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

pub fn be64(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub fn read_be64(bytes: &[u8]) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            StoreError::Corrupt(format!("key of {} bytes is not an index", bytes.len()))
        })?;
    Ok(u64::from_be_bytes(arr))
}
