//! The state machine's writes for one apply call, gathered into one RocksDB write batch.

use std::collections::HashMap;

use rocksdb::{Direction, IteratorMode, WriteBatch};

use super::db::{be64, read_be64, Db, CF_DEDUPE, CF_DEDUPE_AGE, CF_ORDERS, CF_PRODUCTS};
use super::error::StoreError;
use crate::codec::{decode, encode};
use crate::shop::{ApplySink, DedupeRecord, OrderRecord, ProductRecord};

pub struct RocksSink<'a> {
    db: &'a Db,
    pub batch: WriteBatch,
    /// Request ids first seen in this batch: not yet readable from the DB.
    pending_dedupe: HashMap<String, DedupeRecord>,
}

impl<'a> RocksSink<'a> {
    pub fn new(db: &'a Db) -> Self {
        Self {
            db,
            batch: WriteBatch::default(),
            pending_dedupe: HashMap::new(),
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
        let mut age_key = be64(record.index).to_vec();
        age_key.extend_from_slice(request_id.as_bytes());
        self.batch.put_cf(self.db.cf(CF_DEDUPE_AGE)?, age_key, []);
        self.pending_dedupe
            .insert(request_id.to_owned(), record.clone());
        Ok(())
    }

    fn purge_dedupe_up_to(&mut self, index: u64) -> Result<(), StoreError> {
        let age = self.db.cf(CF_DEDUPE_AGE)?;
        let dedupe = self.db.cf(CF_DEDUPE)?;
        let iter = self
            .db
            .rocks
            .iterator_cf(age, IteratorMode::From(&be64(0), Direction::Forward));
        for item in iter {
            let (key, _) = item?;
            if read_be64(&key)? > index {
                break;
            }
            self.batch.delete_cf(dedupe, &key[8..]);
            self.batch.delete_cf(age, &key);
        }
        Ok(())
    }

    fn put_order(&mut self, order: &OrderRecord) -> Result<(), StoreError> {
        self.batch
            .put_cf(self.db.cf(CF_ORDERS)?, be64(order.number), encode(order)?);
        Ok(())
    }
}
