//! Giving the disk back after an archive commit: the commit's range delete hides the orders
//! at once, but their bytes stay in SST files until a compaction rewrites them. This
//! compacts the archived key range in slices, then the idempotency records (whose expired
//! ones the compaction filter drops: with time-ordered keys the old ones sit in files that
//! nothing else would rewrite), on one blocking thread, resting between slices so that
//! orders keep their latency, and stops early on shutdown (a restart resumes it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocksdb::{ColumnFamily, ReadOptions};
use tokio_util::sync::CancellationToken;

use super::error::StoreError;
use super::pool::blocking;
use super::rocks::{background_compaction, be64};
use super::sm_db::{SmDb, CF_DEDUPE, CF_ORDERS};

/// Order numbers compacted per slice.
const SLICE_ORDERS: u64 = 250_000;
/// Idempotency records compacted per slice.
const SLICE_KEYS: usize = 250_000;
/// Rest this many times a slice's duration after it: at most a quarter of one core.
const REST_FACTOR: u32 = 3;
/// Never rest longer than this between slices.
const MAX_REST: Duration = Duration::from_secs(5);

/// What a reclaim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reclaimed {
    /// Slices compacted, orders and idempotency records together.
    pub slices: u64,
    pub took: Duration,
    /// Stopped by shutdown before the end.
    pub interrupted: bool,
}

/// Compacts the orders `from..=upto` (archived: only tombstones and the bytes they hide
/// are left there), then the idempotency records, slice by slice, on the blocking pool
/// (through `pool::blocking`, like every RocksDB job).
pub async fn reclaim_archived(
    db: Arc<SmDb>,
    from: u64,
    upto: u64,
    stop: CancellationToken,
) -> Result<Reclaimed, StoreError> {
    blocking(move || {
        let orders = reclaim_orders(&db, from, upto, &stop)?;
        if orders.interrupted {
            return Ok(orders);
        }
        let records = reclaim_expired_idempotency(&db, &stop)?;
        Ok(Reclaimed {
            slices: orders.slices + records.slices,
            took: orders.took + records.took,
            interrupted: records.interrupted,
        })
    })
    .await
}

/// Compacts the orders `from..=upto`. Blocking.
fn reclaim_orders(
    db: &SmDb,
    from: u64,
    upto: u64,
    stop: &CancellationToken,
) -> Result<Reclaimed, StoreError> {
    let mut bounds = Vec::new();
    let mut start = from;
    while start <= upto {
        let end = start
            .saturating_add(SLICE_ORDERS)
            .min(upto.saturating_add(1));
        bounds.push((Some(be64(start).to_vec()), Some(be64(end).to_vec())));
        start = end;
    }
    compact_slices(db, db.cf(CF_ORDERS)?, &bounds, stop)
}

/// Compacts the whole idempotency column family, in slices of about [`SLICE_KEYS`]
/// records found by one pass over its keys. Blocking.
fn reclaim_expired_idempotency(
    db: &SmDb,
    stop: &CancellationToken,
) -> Result<Reclaimed, StoreError> {
    let cf = db.cf(CF_DEDUPE)?;
    let mut scan = ReadOptions::default();
    scan.fill_cache(false);
    let mut keys = db.rocks.raw_iterator_cf_opt(cf, scan);
    keys.seek_to_first();
    let mut cuts: Vec<Vec<u8>> = Vec::new();
    let mut seen = 0usize;
    while let Some(key) = keys.key() {
        seen += 1;
        if seen.is_multiple_of(SLICE_KEYS) {
            cuts.push(key.to_vec());
        }
        keys.next();
    }
    keys.status()?;
    drop(keys);
    let mut bounds = Vec::with_capacity(cuts.len() + 1);
    let mut start = None;
    for cut in cuts {
        bounds.push((start, Some(cut.clone())));
        start = Some(cut);
    }
    bounds.push((start, None));
    compact_slices(db, cf, &bounds, stop)
}

/// One slice of a key range: `[start, end)`, `None` for the family's edge.
type Slice = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Compacts each `[start, end)` of `cf` (an open end runs to the family's edge), resting
/// after each slice but the last. Blocking.
fn compact_slices(
    db: &SmDb,
    cf: &ColumnFamily,
    bounds: &[Slice],
    stop: &CancellationToken,
) -> Result<Reclaimed, StoreError> {
    let started = Instant::now();
    // Automatic compactions (of the orders still arriving) go on beside this one.
    let opts = background_compaction();
    let mut slices = 0;
    for (n, (start, end)) in bounds.iter().enumerate() {
        if stop.is_cancelled() {
            return Ok(Reclaimed {
                slices,
                took: started.elapsed(),
                interrupted: true,
            });
        }
        let slice = Instant::now();
        // A test holds a node here to kill it with its reclaim under way.
        fail::fail_point!("reclaim.slice");
        db.rocks
            .compact_range_cf_opt(cf, start.as_deref(), end.as_deref(), &opts);
        slices += 1;
        if n + 1 < bounds.len() {
            std::thread::sleep((slice.elapsed() * REST_FACTOR).min(MAX_REST));
        }
    }
    Ok(Reclaimed {
        slices,
        took: started.elapsed(),
        interrupted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::rocks::{fill_incompressible, sst_bytes};

    #[test]
    fn a_range_deleted_orders_bytes_leave_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let db = SmDb::open(&dir.path().join("sm"), 1).unwrap();
        let cf = db.cf(CF_ORDERS).unwrap();
        fill_incompressible(&db.rocks, cf, 20_000);
        let before = sst_bytes(&db.rocks, cf);
        assert!(before > 8 << 20, "{before} bytes written");
        db.rocks.delete_range_cf(cf, be64(1), be64(19_001)).unwrap();
        assert!(
            sst_bytes(&db.rocks, cf) >= before,
            "a range delete alone frees nothing"
        );
        let done = reclaim_orders(&db, 1, 19_000, &CancellationToken::new()).unwrap();
        assert_eq!(done.slices, 1);
        assert!(!done.interrupted);
        let after = sst_bytes(&db.rocks, cf);
        assert!(
            after < before / 10,
            "{after} bytes left of {before} after the reclaim"
        );
        assert!(db.rocks.get_cf(cf, be64(19_500)).unwrap().is_some());

        let stopped = CancellationToken::new();
        stopped.cancel();
        let cut = reclaim_orders(&db, 1, 19_000, &stopped).unwrap();
        assert!(cut.interrupted && cut.slices == 0);
    }

    #[test]
    fn the_reclaim_drops_expired_idempotency_records_from_every_slice() {
        use crate::codec::encode;
        use crate::shop::{DedupeRecord, Remembered};

        let dir = tempfile::tempdir().unwrap();
        let db = SmDb::open(&dir.path().join("sm"), 1).unwrap();
        let cf = db.cf(CF_DEDUPE).unwrap();
        // More than two slices' worth, over several flushed files; the even-numbered are
        // first used below the floor.
        let total = (2 * SLICE_KEYS + 1_000) as u64;
        for n in 0..total {
            let record = DedupeRecord {
                index: if n % 2 == 0 { 10 } else { 5_000 },
                fingerprint: n,
                outcome: Remembered::Order(n),
            };
            db.rocks
                .put_cf(cf, format!("key-{n:08}"), encode(&record).unwrap())
                .unwrap();
            if n % 100_000 == 99_999 {
                db.rocks.flush_cf(cf).unwrap();
            }
        }
        db.rocks.flush_cf(cf).unwrap();
        db.expiry.set(2_000, 1_000);
        let done = reclaim_expired_idempotency(&db, &CancellationToken::new()).unwrap();
        assert_eq!(done.slices, 3);
        assert!(!done.interrupted);
        let left = db
            .rocks
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .count() as u64;
        assert_eq!(left, total / 2, "only the unexpired half is left");
    }
}
