//! The content sum: an order-independent hash of every product, order, alarm and archive
//! record as stored, kept up to date by each apply call and written in the same atomic batch
//! as the records. A scan of the database must give the sum it stores, so a record changed or
//! damaged behind the node's back is found at start-up (and by the periodic state check),
//! and replicas at the same applied index hold equal sums.
//!
//! Idempotency records are left out: compactions drop expired ones at different times on
//! each replica, so their set is not a function of the applied index.

use rocksdb::{ColumnFamily, DBRawIteratorWithThreadMode, ReadOptions, DB};
use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::sm_db::{SmDb, CF_ALARMS, CF_ARCHIVES, CF_META, CF_ORDERS, CF_PRODUCTS};
use bazaar_api::archive::record_hash;
use bazaar_api::backup::kind;

/// The key of the stored sum in the metadata column family.
pub const KEY_CONTENT: &[u8] = b"content";

/// The column families the sum covers, with their snapshot-stream ids.
pub const CONTENT_CFS: [(u8, &str); 4] = [
    (kind::PRODUCT, CF_PRODUCTS),
    (kind::ORDER, CF_ORDERS),
    (kind::ALARM, CF_ALARMS),
    (kind::ARCHIVE, CF_ARCHIVES),
];

/// Whether records of stream kind `cf` count in the sum.
pub fn covers(cf: u8) -> bool {
    CONTENT_CFS.iter().any(|(id, _)| *id == cf)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSum {
    /// The wrapping sum of every record's hash.
    pub sum: u64,
    /// How many records are summed.
    pub records: u64,
}

impl ContentSum {
    pub fn add(&mut self, cf: u8, key: &[u8], value: &[u8]) {
        self.sum = self.sum.wrapping_add(record_hash(cf, key, value));
        self.records = self.records.wrapping_add(1);
    }

    pub fn remove(&mut self, cf: u8, key: &[u8], value: &[u8]) {
        self.sum = self.sum.wrapping_sub(record_hash(cf, key, value));
        self.records = self.records.wrapping_sub(1);
    }

    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.sum.to_be_bytes());
        out[8..].copy_from_slice(&self.records.to_be_bytes());
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let fixed: [u8; 16] = bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("a content sum of {} bytes", bytes.len())))?;
        let (sum, records) = fixed.split_at(8);
        Ok(Self {
            sum: u64::from_be_bytes(sum.try_into().unwrap_or_default()),
            records: u64::from_be_bytes(records.try_into().unwrap_or_default()),
        })
    }
}

impl std::fmt::Display for ContentSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x} over {} records", self.sum, self.records)
    }
}

fn checked_scan() -> ReadOptions {
    let mut opts = ReadOptions::default();
    opts.set_verify_checksums(true);
    opts.fill_cache(false);
    opts.set_readahead_size(2 << 20);
    opts
}

/// Sums the covered records, each family read through the iterator `open` gives.
fn sum_families<'d, 'i>(
    db: &'d SmDb,
    mut open: impl FnMut(&'d ColumnFamily) -> DBRawIteratorWithThreadMode<'i, DB>,
) -> Result<ContentSum, StoreError> {
    let mut sum = ContentSum::default();
    for (id, name) in CONTENT_CFS {
        let mut records = open(db.cf(name)?);
        records.seek_to_first();
        while let (Some(key), Some(value)) = (records.key(), records.value()) {
            sum.add(id, key, value);
            records.next();
        }
        records.status()?;
    }
    Ok(sum)
}

/// Reads every covered record of `db` (block checksums verified, the block cache left
/// alone) and sums them. Blocking.
pub fn scan(db: &SmDb) -> Result<ContentSum, StoreError> {
    sum_families(db, |cf| db.rocks.raw_iterator_cf_opt(cf, checked_scan()))
}

/// Checks, at one consistent point (a RocksDB snapshot), that the covered records sum to
/// the sum stored beside them. `Err` only when the scan itself failed; `Ok(Err(why))` when
/// the records differ from what was applied. Blocking.
pub fn check_disk(db: &SmDb) -> Result<Result<(), String>, StoreError> {
    let view = db.rocks.snapshot();
    let Some(stored) = view.get_cf(db.cf(CF_META)?, KEY_CONTENT)? else {
        return Ok(Ok(()));
    };
    let stored = ContentSum::from_bytes(&stored)?;
    let sum = sum_families(db, |cf| view.raw_iterator_cf_opt(cf, checked_scan()))?;
    Ok(if sum == stored {
        Ok(())
    } else {
        Err(format!(
            "the state records on disk sum to {sum}, the applied state says {stored}"
        ))
    })
}

/// Reads every record of the families the sum leaves out (idempotency records, the
/// metadata), only for their block checksums. Blocking.
pub fn verify_rest(db: &SmDb, names: &[&str]) -> Result<u64, StoreError> {
    let mut count = 0;
    for name in names {
        let mut records = db.rocks.raw_iterator_cf_opt(db.cf(name)?, checked_scan());
        records.seek_to_first();
        while records.valid() {
            count += 1;
            records.next();
        }
        records.status()?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_ignores_order_and_undoes_a_removal() {
        let mut a = ContentSum::default();
        a.add(kind::ORDER, b"1", b"x");
        a.add(kind::PRODUCT, b"Tux", b"y");
        let mut b = ContentSum::default();
        b.add(kind::PRODUCT, b"Tux", b"y");
        b.add(kind::ORDER, b"1", b"x");
        assert_eq!(a, b);
        b.remove(kind::PRODUCT, b"Tux", b"y");
        b.add(kind::PRODUCT, b"Tux", b"z");
        assert_ne!(a, b, "a changed value changes the sum");
        b.remove(kind::PRODUCT, b"Tux", b"z");
        b.add(kind::PRODUCT, b"Tux", b"y");
        assert_eq!(a, b);
        assert_eq!(ContentSum::from_bytes(&a.to_bytes()).unwrap(), a);
        assert!(ContentSum::from_bytes(b"short").is_err());
    }

    #[test]
    fn family_key_and_value_boundaries_matter() {
        let mut a = ContentSum::default();
        a.add(kind::ORDER, b"ab", b"c");
        let mut b = ContentSum::default();
        b.add(kind::ORDER, b"a", b"bc");
        assert_ne!(a, b);
        let mut c = ContentSum::default();
        c.add(kind::PRODUCT, b"ab", b"c");
        assert_ne!(a, c);
    }
}
