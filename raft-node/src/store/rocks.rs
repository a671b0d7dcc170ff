//! What both of the node's RocksDB instances share: tuned options (bounded memory, bloom
//! filters where reads are by key), synced writes, and big-endian integer keys.

use std::sync::OnceLock;

use rocksdb::{BlockBasedOptions, Cache, ColumnFamilyDescriptor, Options, WriteOptions};

use super::error::StoreError;

/// One block cache for both databases of a process: reads are mostly served from memory
/// (the catalog, recent orders), and a shared cache bounds what they can take.
const BLOCK_CACHE_BYTES: usize = 16 << 20;

fn block_cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Cache::new_lru_cache(BLOCK_CACHE_BYTES))
}

/// How a column family is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read by key, mostly for keys that do not exist (a bloom filter answers those).
    PointLookups,
    /// Read in ranges or rarely.
    Scans,
}

/// Options of a database whose memtables together take at most `memtable_bytes`.
pub fn db_options(memtable_bytes: usize) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    opts.set_max_background_jobs(2);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    // Reuse retired WAL files rather than grow new ones. On this project's machines an
    // fdatasync after an overwrite is cheaper than after an append when measured alone, but
    // a node writing into reused files from its first append measured no faster end to end
    // (BENCHMARKS.md, "Synced appends into reused WAL files, tried and taken out").
    opts.set_recycle_log_file_num(4);
    opts.set_db_write_buffer_size(memtable_bytes);
    opts
}

/// A column family's descriptor: memtables of `write_buffer` bytes, the shared cache.
pub fn cf_descriptor(
    name: &str,
    access: Access,
    write_buffer: usize,
    tweak: impl FnOnce(&mut Options),
) -> ColumnFamilyDescriptor {
    let mut opts = Options::default();
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    opts.set_write_buffer_size(write_buffer);
    opts.set_max_write_buffer_number(2);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(block_cache());
    if access == Access::PointLookups {
        table.set_bloom_filter(10.0, false);
        opts.set_memtable_prefix_bloom_ratio(0.05);
        opts.set_memtable_whole_key_filtering(true);
    }
    opts.set_block_based_table_factory(&table);
    tweak(&mut opts);
    ColumnFamilyDescriptor::new(name, opts)
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

/// A column family handle, or the error that the database is not what it should be.
pub fn cf<'a>(db: &'a rocksdb::DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Corrupt(format!("column family {name} is missing")))
}
