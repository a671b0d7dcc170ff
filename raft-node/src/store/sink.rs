//! The state machine's writes for one apply call, gathered into one RocksDB write batch:
//! per order one order record and one idempotency record (which names the order rather
//! than copying it); each changed product once per call; alarms as they are raised and
//! disarmed.

use std::collections::{BTreeSet, HashMap};

use bazaar_api::archive::OrderDigest;
use bazaar_api::backup::kind;
use imbl::OrdMap;
use rocksdb::WriteBatch;

use super::archive_file::order_digest_on_disk;
use super::content::ContentSum;
use super::error::StoreError;
use super::rocks::be64;
use super::sm_db::{SmDb, CF_ALARMS, CF_ARCHIVES, CF_DEDUPE, CF_ORDERS, CF_PRODUCTS};
use crate::codec::{decode, encode};
use crate::shop::{
    AlarmRecord, ApplySink, ArchiveRecord, DedupeRecord, OrderRecord, ProductRecord,
};

pub struct RocksSink<'a> {
    db: &'a SmDb,
    pub batch: WriteBatch,
    /// The content sum, moved by every covered record this batch writes or replaces.
    pub content: ContentSum,
    /// Request ids first seen in this batch: not yet readable from the DB.
    pending_dedupe: HashMap<String, DedupeRecord>,
    /// Orders created in this batch, for retries inside the same batch.
    pending_orders: HashMap<u64, OrderRecord>,
    /// The catalog as last written (what the database holds before this batch's products).
    written: OrdMap<String, ProductRecord>,
    /// Products changed since then.
    changed: BTreeSet<String>,
}

impl<'a> RocksSink<'a> {
    /// A batch over `db`, whose content sum is `content` and catalog `catalog`.
    pub fn new(db: &'a SmDb, content: ContentSum, catalog: OrdMap<String, ProductRecord>) -> Self {
        Self {
            db,
            batch: WriteBatch::default(),
            content,
            pending_dedupe: HashMap::new(),
            pending_orders: HashMap::new(),
            written: catalog,
            changed: BTreeSet::new(),
        }
    }
}

impl RocksSink<'_> {
    /// Notes products an apply changed; they are written once each by `write_products`.
    pub fn changed_products(&mut self, names: impl IntoIterator<Item = String>) {
        self.changed.extend(names);
    }

    /// Writes the products changed since the last call as `catalog` now has them, once
    /// each, and moves the content sum from their old values to the new.
    pub fn write_products(
        &mut self,
        catalog: &OrdMap<String, ProductRecord>,
    ) -> Result<(), StoreError> {
        let cf = self.db.cf(CF_PRODUCTS)?;
        for name in std::mem::take(&mut self.changed) {
            let Some(product) = catalog.get(&name) else {
                continue;
            };
            let key = name.as_bytes();
            if let Some(old) = self.written.get(&name) {
                self.content.remove(kind::PRODUCT, key, &encode(old)?);
            }
            let value = encode(product)?;
            self.content.add(kind::PRODUCT, key, &value);
            self.batch.put_cf(cf, key, value);
        }
        self.written = catalog.clone();
        Ok(())
    }
}

impl ApplySink for RocksSink<'_> {
    type Error = StoreError;

    fn dedupe(&mut self, request_id: &str) -> Result<Option<DedupeRecord>, StoreError> {
        if let Some(r) = self.pending_dedupe.get(request_id) {
            return Ok(Some(r.clone()));
        }
        match self
            .db
            .rocks
            .get_cf(self.db.cf(CF_DEDUPE)?, request_id.as_bytes())?
        {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn put_dedupe(&mut self, request_id: &str, record: &DedupeRecord) -> Result<(), StoreError> {
        self.batch.put_cf(
            self.db.cf(CF_DEDUPE)?,
            request_id.as_bytes(),
            encode(record)?,
        );
        self.pending_dedupe
            .insert(request_id.to_owned(), record.clone());
        Ok(())
    }

    fn order(&mut self, number: u64) -> Result<Option<OrderRecord>, StoreError> {
        if let Some(order) = self.pending_orders.get(&number) {
            return Ok(Some(order.clone()));
        }
        match self.db.rocks.get_cf(self.db.cf(CF_ORDERS)?, be64(number))? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    fn missing_order(&self, number: u64) -> StoreError {
        StoreError::Corrupt(format!(
            "order {number}, which this replica must hold, is missing"
        ))
    }

    /// Reads the range from the database (checksums verified) and adds the orders this
    /// batch placed there, which the database does not hold yet. A digest computed for
    /// the same range before (the leader's check of the commit) is taken instead: orders
    /// never change once written.
    fn order_digest(&mut self, from: u64, upto: u64) -> Result<OrderDigest, StoreError> {
        let pending_in_range = self
            .pending_orders
            .keys()
            .any(|n| (from..=upto).contains(n));
        if !pending_in_range {
            if let Some(known) = self.db.known_digest(from, upto) {
                return Ok(known);
            }
        }
        let mut digest = order_digest_on_disk(self.db, from, upto)?;
        for (number, order) in &self.pending_orders {
            if (from..=upto).contains(number) {
                digest.add(*number, &encode(order)?);
            }
        }
        Ok(digest)
    }

    /// One range delete (a later put of this batch in the range is removed with it, as a
    /// write batch applies in order), the content sum moved by the orders' share, and the
    /// record stored in their place.
    fn archive_orders(
        &mut self,
        record: &ArchiveRecord,
        removed: OrderDigest,
    ) -> Result<(), StoreError> {
        let orders = self.db.cf(CF_ORDERS)?;
        self.batch
            .delete_range_cf(orders, be64(record.from), be64(record.upto + 1));
        self.pending_orders
            .retain(|n, _| !(record.from..=record.upto).contains(n));
        self.content.sum = self.content.sum.wrapping_sub(removed.sum);
        self.content.records = self.content.records.wrapping_sub(removed.count);
        let (key, value) = (record.storage_key(), encode(record)?);
        self.content.add(kind::ARCHIVE, &key, &value);
        self.batch.put_cf(self.db.cf(CF_ARCHIVES)?, key, value);
        Ok(())
    }

    fn put_order(&mut self, order: &OrderRecord) -> Result<(), StoreError> {
        let (key, value) = (be64(order.number), encode(order)?);
        self.content.add(kind::ORDER, &key, &value);
        self.batch.put_cf(self.db.cf(CF_ORDERS)?, key, value);
        self.pending_orders.insert(order.number, order.clone());
        Ok(())
    }

    fn put_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), StoreError> {
        let (key, value) = (alarm.storage_key(), encode(alarm)?);
        self.content.add(kind::ALARM, &key, &value);
        self.batch.put_cf(self.db.cf(CF_ALARMS)?, key, value);
        Ok(())
    }

    /// `alarm` is the record as stored (raised earlier), so its bytes are the stored ones.
    fn remove_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), StoreError> {
        let key = alarm.storage_key();
        self.content.remove(kind::ALARM, &key, &encode(alarm)?);
        self.batch.delete_cf(self.db.cf(CF_ALARMS)?, key);
        Ok(())
    }
}
