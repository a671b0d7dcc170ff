//! The state machine's writes for one apply call, gathered into one RocksDB write batch:
//! per order one order record and one idempotency record (which names the order rather
//! than copying it); each changed product once per call.

use std::collections::HashMap;

use rocksdb::WriteBatch;

use super::error::StoreError;
use super::rocks::be64;
use super::sm_db::{SmDb, CF_DEDUPE, CF_ORDERS, CF_PRODUCTS};
use crate::codec::{decode, encode};
use crate::shop::{ApplySink, DedupeRecord, OrderRecord, ProductRecord};

pub struct RocksSink<'a> {
    db: &'a SmDb,
    pub batch: WriteBatch,
    /// Request ids first seen in this batch: not yet readable from the DB.
    pending_dedupe: HashMap<String, DedupeRecord>,
    /// Orders created in this batch, for retries inside the same batch.
    pending_orders: HashMap<u64, OrderRecord>,
}

impl<'a> RocksSink<'a> {
    pub fn new(db: &'a SmDb) -> Self {
        Self {
            db,
            batch: WriteBatch::default(),
            pending_dedupe: HashMap::new(),
            pending_orders: HashMap::new(),
        }
    }
}

impl RocksSink<'_> {
    /// Writes the final state of products changed by this apply call, once each.
    pub fn put_products<'p>(
        &mut self,
        products: impl Iterator<Item = &'p ProductRecord>,
    ) -> Result<(), StoreError> {
        let cf = self.db.cf(CF_PRODUCTS)?;
        for product in products {
            self.batch
                .put_cf(cf, product.name.as_bytes(), encode(product)?);
        }
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

    fn order(&mut self, number: u64) -> Result<OrderRecord, StoreError> {
        if let Some(order) = self.pending_orders.get(&number) {
            return Ok(order.clone());
        }
        match self.db.rocks.get_cf(self.db.cf(CF_ORDERS)?, be64(number))? {
            Some(bytes) => Ok(decode(&bytes)?),
            None => Err(StoreError::Corrupt(format!(
                "order {number}, which an idempotency record names, is missing"
            ))),
        }
    }

    fn put_order(&mut self, order: &OrderRecord) -> Result<(), StoreError> {
        self.batch
            .put_cf(self.db.cf(CF_ORDERS)?, be64(order.number), encode(order)?);
        self.pending_orders.insert(order.number, order.clone());
        Ok(())
    }
}
