//! What both of the node's RocksDB instances share: tuned options (bounded memory, bloom
//! filters where reads are by key), synced writes, big-endian integer keys, and a handle
//! that closes its database on the blocking pool.

use std::ops::Deref;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use rocksdb::{
    BlockBasedOptions, BottommostLevelCompaction, Cache, ColumnFamilyDescriptor, CompactOptions,
    Options, WriteOptions, DB,
};

use super::error::StoreError;
use super::pool::on_pool_thread;

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

/// An open RocksDB database that is closed on the blocking pool, whichever thread lets go of
/// it last. Closing waits for RocksDB's background flushes and compactions to stop and joins
/// its threads, which can take long enough to stall heartbeats on an async worker (a node
/// may have only one); the last `Arc` of a database can be dropped anywhere (a state machine
/// replacing its generation, a reader that outlived it, a task ending at shutdown), so the
/// handle moves the close itself.
pub struct Rocks {
    /// `None` only while the handle is being dropped.
    db: Option<DB>,
    /// Alive until the close has finished: RocksDB releases its lock on the folder only
    /// then, and a node restarting in the same process waits for that ([`Rocks::open_mark`]).
    open: Option<Arc<()>>,
    /// Runs on the thread that closed the database, after it did.
    #[cfg(test)]
    on_close: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Rocks {
    pub fn new(db: DB) -> Self {
        Self {
            db: Some(db),
            open: Some(Arc::new(())),
            #[cfg(test)]
            on_close: None,
        }
    }

    /// Dead once the database is closed.
    pub fn open_mark(&self) -> Weak<()> {
        self.open.as_ref().map(Arc::downgrade).unwrap_or_default()
    }
}

impl Deref for Rocks {
    type Target = DB;

    fn deref(&self) -> &DB {
        self.db
            .as_ref()
            .expect("a database is taken out of its handle only when the handle is dropped")
    }
}

impl Drop for Rocks {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else {
            return;
        };
        let open = self.open.take();
        #[cfg(test)]
        let on_close = self.on_close.take();
        let close = move || {
            let path = db.path().to_owned();
            // A slow close (a large memtable, a compaction to cancel), for the test that an
            // exiting node waits for its databases to close.
            fail::fail_point!("rocks.close");
            drop(db);
            #[cfg(test)]
            if let Some(hook) = on_close {
                hook();
            }
            drop(open);
            tracing::debug!(path = %path.display(), "database closed");
        };
        // On the blocking pool already, or outside any runtime, it closes right here, before
        // the code that let go goes on (it may reopen or move the folder). Anywhere else in a
        // runtime it goes to the pool; a runtime that is shutting down drops the job, which
        // closes the database where it is dropped.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !on_pool_thread() => {
                drop(runtime.spawn_blocking(close));
            }
            _ => close(),
        }
    }
}

/// Returns once the database whose open mark (`Rocks::open_mark`) this is has closed.
pub async fn closed(open: Weak<()>) {
    while open.strong_count() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A column family handle, or the error that the database is not what it should be.
pub fn cf<'a>(db: &'a rocksdb::DB, name: &str) -> Result<&'a rocksdb::ColumnFamily, StoreError> {
    db.cf_handle(name)
        .ok_or_else(|| StoreError::Corrupt(format!("column family {name} is missing")))
}

/// A manual compaction that rewrites its range down to the last level (where deleted keys
/// and their bytes finally go) while writes and automatic compactions go on beside it.
pub fn background_compaction() -> CompactOptions {
    let mut opts = CompactOptions::default();
    opts.set_exclusive_manual_compaction(false);
    opts.set_bottommost_level_compaction(BottommostLevelCompaction::Force);
    opts
}

/// The bytes of `cf`'s SST files (for the space tests).
#[cfg(test)]
pub fn sst_bytes(db: &DB, cf: &rocksdb::ColumnFamily) -> u64 {
    db.property_int_value_cf(cf, "rocksdb.total-sst-files-size")
        .unwrap()
        .unwrap_or(0)
}

/// Test data for the space tests: keys `1..=count` (big-endian) in `cf`, each with 512
/// incompressible bytes (so the figures are the bytes written), flushed to SST files.
#[cfg(test)]
pub fn fill_incompressible(db: &DB, cf: &rocksdb::ColumnFamily, count: u64) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for n in 1..=count {
        let value: Vec<u8> = (0..64)
            .flat_map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()
            })
            .collect();
        db.put_cf(cf, be64(n), value).unwrap();
    }
    db.flush_cf(cf).unwrap();
}

#[cfg(test)]
mod tests {
    use std::thread::ThreadId;
    use std::time::Duration;

    use super::*;

    fn open(path: &std::path::Path, on_close: impl FnOnce() + Send + Sync + 'static) -> Rocks {
        let mut rocks = Rocks::new(DB::open(&db_options(1 << 20), path).unwrap());
        rocks.on_close = Some(Box::new(on_close));
        rocks
    }

    /// Waits until `mark` is dead, with a deadline.
    async fn closed_in_time(mark: &Weak<()>) {
        tokio::time::timeout(Duration::from_secs(10), closed(mark.clone()))
            .await
            .expect("the database closes within the deadline");
    }

    /// On a current-thread runtime every task runs on the test's own thread: a close that
    /// happened in `drop` would run there too.
    #[tokio::test(flavor = "current_thread")]
    async fn the_last_handle_dropped_on_an_async_task_closes_on_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<ThreadId>();
        let rocks = Arc::new(open(dir.path(), move || {
            let _ = tx.send(std::thread::current().id());
        }));
        let mark = rocks.open_mark();
        let runtime_thread = std::thread::current().id();
        drop(rocks);
        closed_in_time(&mark).await;
        let closed_on = rx
            .try_recv()
            .expect("the close hook ran before the mark died");
        assert_ne!(closed_on, runtime_thread, "closed on the runtime's thread");
        // Closed for real: RocksDB's lock on the folder is free again.
        drop(open(dir.path(), || {}));
    }

    #[test]
    fn outside_a_runtime_the_close_happens_in_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<ThreadId>();
        let rocks = open(dir.path(), move || {
            let _ = tx.send(std::thread::current().id());
        });
        let mark = rocks.open_mark();
        drop(rocks);
        assert_eq!(mark.strong_count(), 0);
        assert_eq!(rx.try_recv().ok(), Some(std::thread::current().id()));
    }

    /// Code on the pool that lets go of a database and then reopens its folder finds it
    /// closed (an install reopens a generation it has just built).
    #[tokio::test(flavor = "current_thread")]
    async fn on_the_blocking_pool_the_close_happens_in_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        super::super::pool::blocking(move || {
            let rocks = open(&path, || {});
            let mark = rocks.open_mark();
            drop(rocks);
            assert_eq!(mark.strong_count(), 0);
            drop(open(&path, || {}));
            Ok(())
        })
        .await
        .unwrap();
    }
}
