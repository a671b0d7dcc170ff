//! The in-memory part of the shop (catalog, order counter, digest) and the deterministic
//! apply function. Orders and the dedupe table live in storage, reached through [`ApplySink`].

use std::collections::BTreeSet;

use imbl::OrdMap;

use bazaar_api::archive::OrderDigest;
use bazaar_api::{AlarmKind, ArchivedRange};

use super::alarms::{AlarmRecord, Alarms};
use super::archive::{
    ArchiveCommit, ArchiveOutcome, ArchiveRecord, ArchiveRejection, Archives, MAX_RETAINED_ORDERS,
};
use super::command::{
    Command, CommandResult, DedupeRecord, OrderRecord, OrderRejection, ProductRecord,
    ProductRejection, Remembered,
};
use super::digest::StateDigest;

/// Identifies a command in the dedupe table; bincode of plain data cannot fail.
fn fingerprint(command: &Command) -> u64 {
    let mut digest = StateDigest::default();
    digest.absorb(&bincode::serialize(command).unwrap_or_default());
    digest.0
}

/// Most units one order may take. Part of the replicated rule: every replica must decide
/// an old entry the same way forever, so this is fixed here rather than shared with the
/// API's input limit (which may be lowered without touching the log's meaning).
pub const MAX_UNITS_PER_ORDER: u64 = 10_000;

/// Where apply sends what does not stay in memory. Implemented over a RocksDB write batch.
/// Products are not written here: every changed product is named in [`Changes`], and the
/// store writes each one once per apply call (a batch of orders touches one product many
/// times).
pub trait ApplySink {
    type Error;
    /// The remembered outcome of `request_id`, including ones written earlier in this batch.
    /// It may return a record past its retention: apply decides what has expired.
    fn dedupe(&mut self, request_id: &str) -> Result<Option<DedupeRecord>, Self::Error>;
    fn put_dedupe(&mut self, request_id: &str, record: &DedupeRecord) -> Result<(), Self::Error>;
    /// Order `number` (one from this batch included), if this replica holds it.
    fn order(&mut self, number: u64) -> Result<Option<OrderRecord>, Self::Error>;
    /// The error of a store that lost order `number`, which it must hold.
    fn missing_order(&self, number: u64) -> Self::Error;
    fn put_order(&mut self, order: &OrderRecord) -> Result<(), Self::Error>;
    /// The digest of orders `from..=upto` as this replica holds them (this batch's too).
    fn order_digest(&mut self, from: u64, upto: u64) -> Result<OrderDigest, Self::Error>;
    /// Removes orders `record.from..=record.upto`, whose digest is `removed`, and stores
    /// `record` in their place.
    fn archive_orders(
        &mut self,
        record: &ArchiveRecord,
        removed: OrderDigest,
    ) -> Result<(), Self::Error>;
    fn put_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), Self::Error>;
    fn remove_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), Self::Error>;
}

/// Which cached keys an apply invalidated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub products: BTreeSet<String>,
    pub topics: BTreeSet<String>,
    /// Orders an archive commit removed.
    pub archived: Option<ArchivedRange>,
}

impl Changes {
    fn touch(&mut self, product: &ProductRecord) {
        self.products.insert(product.name.clone());
        self.topics.insert(product.topic.clone());
    }
    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.topics.is_empty() && self.archived.is_none()
    }
}

/// The replicated state that is small enough to keep in memory. Cloning is cheap (the
/// catalog is a persistent map that shares its nodes), which lets apply work on a copy
/// and publish it only once the write batch is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopState {
    pub products: OrdMap<String, ProductRecord>,
    /// The number the next order gets; orders are numbered 1, 2, 3, ...
    pub next_order: u64,
    pub seeded: bool,
    pub digest: StateDigest,
    /// A request id is remembered for this many log indexes.
    pub dedupe_retention: u64,
    /// The active alarms; `nospace` refuses new orders and products.
    pub alarms: Alarms,
    /// The archive commits applied, oldest first.
    pub archives: Archives,
    /// Most archived orders still within retention one commit may take
    /// ([`MAX_RETAINED_ORDERS`]; lowered by tests).
    pub max_retained_orders: u64,
}

impl ShopState {
    pub fn new(dedupe_retention: u64) -> Self {
        Self {
            products: OrdMap::new(),
            next_order: 1,
            seeded: false,
            digest: StateDigest::default(),
            dedupe_retention,
            alarms: Alarms::default(),
            archives: Archives::default(),
            max_retained_orders: MAX_RETAINED_ORDERS,
        }
    }

    /// The highest archived order number (0: none).
    pub fn archived_upto(&self) -> u64 {
        self.archives.archived_upto()
    }

    pub fn orders_created(&self) -> u64 {
        self.next_order - 1
    }

    /// Applies the command of the entry at `index`. Deterministic: the same state, index and
    /// command give the same result and writes on every replica.
    pub fn apply<S: ApplySink>(
        &mut self,
        index: u64,
        command: &Command,
        sink: &mut S,
        changes: &mut Changes,
    ) -> Result<CommandResult, S::Error> {
        let result = self.apply_one(index, command, sink, changes)?;
        self.digest.absorb(&index.to_be_bytes());
        // Results are plain data; bincode cannot fail on them.
        if let Ok(bytes) = bincode::serialize(&result) {
            self.digest.absorb(&bytes);
        }
        Ok(result)
    }

    /// Applies one command; a command whose request id was seen before answers with the
    /// first result and changes nothing.
    fn apply_one<S: ApplySink>(
        &mut self,
        index: u64,
        command: &Command,
        sink: &mut S,
        changes: &mut Changes,
    ) -> Result<CommandResult, S::Error> {
        let Some(request_id) = command.request_id() else {
            return self.execute(index, command, sink, changes);
        };
        let fingerprint = fingerprint(command);
        if let Some(first) = sink.dedupe(request_id)? {
            // Remembered for `dedupe_retention` entries after its first use; older records
            // are forgotten here (and dropped by compactions whenever they run), so every
            // replica decides the same way whatever its disk still holds.
            if index.saturating_sub(first.index) <= self.dedupe_retention {
                if first.fingerprint != fingerprint {
                    return Ok(command.key_reused());
                }
                return Ok(match first.outcome {
                    Remembered::Order(number) => match sink.order(number)? {
                        Some(order) => CommandResult::Order(Ok(order)),
                        // Archived while its record was past retention here, and the
                        // retention raised since: the answer is gone, the order is not lost.
                        None if number <= self.archived_upto() => {
                            CommandResult::Order(Err(OrderRejection::Archived { number }))
                        }
                        None => return Err(sink.missing_order(number)),
                    },
                    Remembered::Result(result) => result,
                });
            }
        }
        // After the lookup: a retry of an order placed before the alarm still gets its
        // first answer. Not remembered, so the same key works once the alarm is disarmed.
        if let Some(refused) = self.refused_for_space(command) {
            return Ok(refused);
        }
        let result = self.execute(index, command, sink, changes)?;
        let outcome = match &result {
            CommandResult::Order(Ok(order)) => Remembered::Order(order.number),
            other => Remembered::Result(other.clone()),
        };
        sink.put_dedupe(
            request_id,
            &DedupeRecord {
                index,
                fingerprint,
                outcome,
            },
        )?;
        Ok(result)
    }

    /// What `command` answers while the `nospace` alarm is active, if it is refused: new
    /// orders and new products take space; updates of existing products do not grow the
    /// state (beyond their idempotency record) and stay allowed, as etcd allows deletes.
    fn refused_for_space(&self, command: &Command) -> Option<CommandResult> {
        if !self.alarms.any(AlarmKind::NoSpace) {
            return None;
        }
        match command {
            Command::PlaceOrder { .. } => Some(CommandResult::Order(Err(OrderRejection::NoSpace))),
            Command::UpsertProduct { product, .. }
                if !self.products.contains_key(&product.name) =>
            {
                Some(CommandResult::Product(Err(ProductRejection::NoSpace)))
            }
            _ => None,
        }
    }

    fn execute<S: ApplySink>(
        &mut self,
        index: u64,
        command: &Command,
        sink: &mut S,
        changes: &mut Changes,
    ) -> Result<CommandResult, S::Error> {
        Ok(match command {
            Command::PlaceOrder {
                request_id,
                product,
                quantity,
            } => CommandResult::Order(
                self.place_order(index, request_id, product, *quantity, sink, changes)?,
            ),
            Command::UpsertProduct { product, .. } => {
                let mut record = product.clone();
                record.version = index;
                if let Some(old) = self.products.get(&record.name) {
                    changes.touch(old);
                }
                changes.touch(&record);
                self.products.insert(record.name.clone(), record.clone());
                CommandResult::Product(Ok(record))
            }
            Command::UpdateProduct {
                name, price, stock, ..
            } => CommandResult::Product(self.modify(index, name, changes, |p| {
                if let Some(price) = price {
                    p.price = *price;
                }
                if let Some(stock) = stock {
                    p.stock = *stock;
                }
                Ok(())
            })),
            Command::Restock { name, amount, .. } => {
                CommandResult::Product(self.modify(index, name, changes, |p| {
                    p.stock = p
                        .stock
                        .checked_add(*amount)
                        .ok_or(ProductRejection::StockOverflow)?;
                    Ok(())
                }))
            }
            Command::RestockLow { threshold, amount } => {
                let restocked: Vec<String> = self
                    .products
                    .values()
                    .filter(|p| p.stock <= *threshold && p.stock < *amount)
                    .map(|p| p.name.clone())
                    .collect();
                for name in &restocked {
                    if let Some(p) = self.products.get_mut(name) {
                        p.stock = *amount;
                        p.version = index;
                        changes.touch(p);
                    }
                }
                CommandResult::Restocked(restocked)
            }
            Command::SeedCatalog(records) => {
                if self.seeded {
                    CommandResult::Seeded(false)
                } else {
                    for record in records {
                        let mut record = record.clone();
                        record.version = index;
                        changes.touch(&record);
                        self.products.insert(record.name.clone(), record);
                    }
                    self.seeded = true;
                    CommandResult::Seeded(true)
                }
            }
            Command::Batch(commands) => {
                let mut results = Vec::with_capacity(commands.len());
                for c in commands {
                    results.push(self.apply_one(index, c, sink, changes)?);
                }
                CommandResult::Batch(results)
            }
            Command::RaiseAlarm(alarm) => {
                if self.alarms.contains(alarm.kind, alarm.member) {
                    CommandResult::Alarms(Vec::new())
                } else {
                    let record = AlarmRecord {
                        raised_at: index,
                        ..alarm.clone()
                    };
                    sink.put_alarm(&record)?;
                    self.alarms.insert(record.clone());
                    CommandResult::Alarms(vec![record])
                }
            }
            Command::DisarmAlarms { kind } => {
                let ended = self.alarms.remove(*kind);
                for alarm in &ended {
                    sink.remove_alarm(alarm)?;
                }
                CommandResult::Alarms(ended)
            }
            Command::CheckState => CommandResult::StateChecked(self.digest),
            Command::ArchiveOrders(commit) => {
                CommandResult::Archived(self.archive(index, commit, sink, changes)?)
            }
        })
    }

    /// Applies an archive commit: checks the range, finds the orders still within
    /// retention (their first answers move into their idempotency records, so a retry
    /// still gets it), checks this replica's orders against the file's digest, and only
    /// then removes them.
    fn archive<S: ApplySink>(
        &mut self,
        index: u64,
        commit: &ArchiveCommit,
        sink: &mut S,
        changes: &mut Changes,
    ) -> Result<Result<ArchiveOutcome, ArchiveRejection>, S::Error> {
        if let Some(done) = self.archives.with_upto(commit.upto) {
            if done.made_by(commit) {
                return Ok(Ok(ArchiveOutcome {
                    record: done.clone(),
                    already: true,
                }));
            }
        }
        let (from, upto) = (commit.from, commit.upto);
        let archived_upto = self.archived_upto();
        if from != archived_upto + 1
            || upto < from
            || upto >= self.next_order
            || commit.count != upto - from + 1
        {
            return Ok(Err(ArchiveRejection::Range {
                archived_upto,
                next_order: self.next_order,
            }));
        }
        // Orders are numbered as they are placed, so their log indexes rise with their
        // numbers: the ones still within retention are a tail of the range.
        let floor = index.saturating_sub(self.dedupe_retention);
        let (mut low, mut high) = (from, upto + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            let order = sink.order(mid)?.ok_or_else(|| sink.missing_order(mid))?;
            if order.index >= floor {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        let retained_from = low;
        let retained = upto + 1 - retained_from;
        if retained > self.max_retained_orders {
            return Ok(Err(ArchiveRejection::TooRecent {
                retained,
                cap: self.max_retained_orders,
                fits: retained_from + self.max_retained_orders - 1,
            }));
        }
        let have = sink.order_digest(from, upto)?;
        if have != commit.digest() {
            return Ok(Err(ArchiveRejection::DigestMismatch {
                have_sum: have.sum,
                have_count: have.count,
            }));
        }
        for number in retained_from..=upto {
            let order = sink
                .order(number)?
                .ok_or_else(|| sink.missing_order(number))?;
            let Some(first) = sink.dedupe(&order.request_id)? else {
                continue;
            };
            // The key may have been used again after its first record expired.
            if first.outcome == Remembered::Order(number) {
                let kept = DedupeRecord {
                    outcome: Remembered::Result(CommandResult::Order(Ok(order.clone()))),
                    ..first
                };
                sink.put_dedupe(&order.request_id, &kept)?;
            }
        }
        let record = ArchiveRecord {
            from,
            upto,
            count: commit.count,
            digest_sum: commit.digest_sum,
            committed_index: index,
            committed_at_ms: commit.proposed_at_ms,
            label: commit.label.clone(),
        };
        sink.archive_orders(&record, have)?;
        self.archives.push(record.clone());
        changes.archived = Some(record.range());
        Ok(Ok(ArchiveOutcome {
            record,
            already: false,
        }))
    }

    fn place_order<S: ApplySink>(
        &mut self,
        index: u64,
        request_id: &str,
        product: &str,
        quantity: u64,
        sink: &mut S,
        changes: &mut Changes,
    ) -> Result<Result<OrderRecord, OrderRejection>, S::Error> {
        let outcome = match self.products.get_mut(product) {
            _ if quantity == 0 || quantity > MAX_UNITS_PER_ORDER => {
                Err(OrderRejection::BadQuantity)
            }
            None => Err(OrderRejection::UnknownProduct),
            Some(p) if p.stock < quantity => {
                Err(OrderRejection::InsufficientStock { available: p.stock })
            }
            Some(p) => {
                p.stock -= quantity;
                p.version = index;
                let order = OrderRecord {
                    number: self.next_order,
                    product: product.to_owned(),
                    quantity,
                    unit_price: p.price,
                    total: p.price.saturating_mul(quantity),
                    index,
                    request_id: request_id.to_owned(),
                };
                self.next_order += 1;
                sink.put_order(&order)?;
                changes.touch(p);
                Ok(order)
            }
        };
        Ok(outcome)
    }

    fn modify(
        &mut self,
        index: u64,
        name: &str,
        changes: &mut Changes,
        change: impl FnOnce(&mut ProductRecord) -> Result<(), ProductRejection>,
    ) -> Result<ProductRecord, ProductRejection> {
        let Some(p) = self.products.get_mut(name) else {
            return Err(ProductRejection::UnknownProduct);
        };
        let mut updated = p.clone();
        change(&mut updated)?;
        updated.version = index;
        changes.touch(&updated);
        *p = updated.clone();
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[derive(Default)]
    struct MemorySink {
        dedupe: HashMap<String, DedupeRecord>,
        orders: Vec<OrderRecord>,
        alarms: HashMap<String, AlarmRecord>,
        archives: Vec<ArchiveRecord>,
    }

    impl MemorySink {
        fn stored(order: &OrderRecord) -> Vec<u8> {
            bincode::serialize(order).unwrap()
        }
    }

    #[derive(Debug, PartialEq)]
    struct MissingOrder(u64);

    impl ApplySink for MemorySink {
        type Error = MissingOrder;
        fn dedupe(&mut self, id: &str) -> Result<Option<DedupeRecord>, MissingOrder> {
            Ok(self.dedupe.get(id).cloned())
        }
        fn put_dedupe(&mut self, id: &str, r: &DedupeRecord) -> Result<(), MissingOrder> {
            self.dedupe.insert(id.to_owned(), r.clone());
            Ok(())
        }
        fn order(&mut self, number: u64) -> Result<Option<OrderRecord>, MissingOrder> {
            Ok(self.orders.iter().find(|o| o.number == number).cloned())
        }
        fn missing_order(&self, number: u64) -> MissingOrder {
            MissingOrder(number)
        }
        fn put_order(&mut self, o: &OrderRecord) -> Result<(), MissingOrder> {
            self.orders.push(o.clone());
            Ok(())
        }
        fn order_digest(&mut self, from: u64, upto: u64) -> Result<OrderDigest, MissingOrder> {
            let mut digest = OrderDigest::default();
            for o in self
                .orders
                .iter()
                .filter(|o| (from..=upto).contains(&o.number))
            {
                digest.add(o.number, &Self::stored(o));
            }
            Ok(digest)
        }
        fn archive_orders(
            &mut self,
            record: &ArchiveRecord,
            _removed: OrderDigest,
        ) -> Result<(), MissingOrder> {
            self.orders
                .retain(|o| !(record.from..=record.upto).contains(&o.number));
            self.archives.push(record.clone());
            Ok(())
        }
        fn put_alarm(&mut self, a: &AlarmRecord) -> Result<(), MissingOrder> {
            self.alarms
                .insert(a.kind.to_string() + &a.member.to_string(), a.clone());
            Ok(())
        }
        fn remove_alarm(&mut self, a: &AlarmRecord) -> Result<(), MissingOrder> {
            self.alarms
                .remove(&(a.kind.to_string() + &a.member.to_string()));
            Ok(())
        }
    }

    fn tux(stock: u64) -> ProductRecord {
        ProductRecord {
            name: "Tux".into(),
            title: "Tux".into(),
            topic: "toys".into(),
            price: 2599,
            stock,
            version: 0,
        }
    }

    fn order(id: &str, qty: u64) -> Command {
        Command::PlaceOrder {
            request_id: id.into(),
            product: "Tux".into(),
            quantity: qty,
        }
    }

    fn seeded(stock: u64) -> (ShopState, MemorySink) {
        seeded_with_retention(stock, 5000)
    }

    /// A state whose catalog is Tux with `stock`, remembering keys for `retention` entries.
    fn seeded_with_retention(stock: u64, retention: u64) -> (ShopState, MemorySink) {
        let mut s = ShopState::new(retention);
        let mut sink = MemorySink::default();
        let r = s
            .apply(
                1,
                &Command::SeedCatalog(vec![tux(stock)]),
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        assert_eq!(r, CommandResult::Seeded(true));
        (s, sink)
    }

    #[test]
    fn orders_are_numbered_densely_and_decrement_stock() {
        let (mut s, mut sink) = seeded(10);
        let mut changes = Changes::default();
        let a = s.apply(2, &order("a", 3), &mut sink, &mut changes).unwrap();
        let b = s.apply(3, &order("b", 2), &mut sink, &mut changes).unwrap();
        let (CommandResult::Order(Ok(a)), CommandResult::Order(Ok(b))) = (a, b) else {
            panic!("orders failed");
        };
        assert_eq!((a.number, b.number), (1, 2));
        assert_eq!(a.total, 3 * 2599);
        assert_eq!(s.products["Tux"].stock, 5);
        assert_eq!(s.products["Tux"].version, 3);
        assert!(changes.products.contains("Tux") && changes.topics.contains("toys"));
    }

    #[test]
    fn never_oversells() {
        let (mut s, mut sink) = seeded(2);
        let r = s
            .apply(2, &order("a", 3), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(
            r,
            CommandResult::Order(Err(OrderRejection::InsufficientStock { available: 2 }))
        );
        assert_eq!(s.products["Tux"].stock, 2);
        assert!(sink.orders.is_empty());
    }

    #[test]
    fn a_retry_returns_the_first_result_and_creates_nothing() {
        let (mut s, mut sink) = seeded(10);
        let first = s
            .apply(2, &order("k", 1), &mut sink, &mut Changes::default())
            .unwrap();
        let retry = s
            .apply(3, &order("k", 1), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(first, retry);
        assert_eq!(sink.orders.len(), 1);
        assert_eq!(s.products["Tux"].stock, 9);
        let reused = s
            .apply(4, &order("k", 2), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(reused, CommandResult::Order(Err(OrderRejection::KeyReused)));
    }

    #[test]
    fn batches_apply_in_order_with_their_own_results() {
        let (mut s, mut sink) = seeded(3);
        let batch = Command::Batch(vec![order("a", 2), order("b", 2), order("a", 2)]);
        let r = s
            .apply(2, &batch, &mut sink, &mut Changes::default())
            .unwrap();
        let CommandResult::Batch(results) = r else {
            panic!("not a batch result")
        };
        assert!(matches!(results[0], CommandResult::Order(Ok(_))));
        assert!(matches!(
            results[1],
            CommandResult::Order(Err(OrderRejection::InsufficientStock { available: 1 }))
        ));
        assert_eq!(
            results[2], results[0],
            "a duplicate inside one batch is deduplicated"
        );
    }

    #[test]
    fn bad_quantity_and_unknown_product_are_results() {
        let (mut s, mut sink) = seeded(3);
        let zero = s
            .apply(2, &order("z", 0), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(zero, CommandResult::Order(Err(OrderRejection::BadQuantity)));
        let unknown = Command::PlaceOrder {
            request_id: "u".into(),
            product: "Nope".into(),
            quantity: 1,
        };
        let r = s
            .apply(3, &unknown, &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(r, CommandResult::Order(Err(OrderRejection::UnknownProduct)));
    }

    #[test]
    fn restock_low_only_touches_low_products_and_seed_happens_once() {
        let (mut s, mut sink) = seeded(5);
        let r = s
            .apply(
                2,
                &Command::RestockLow {
                    threshold: 10,
                    amount: 100,
                },
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        assert_eq!(r, CommandResult::Restocked(vec!["Tux".into()]));
        assert_eq!(s.products["Tux"].stock, 100);
        let again = s
            .apply(
                3,
                &Command::RestockLow {
                    threshold: 10,
                    amount: 100,
                },
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        assert_eq!(again, CommandResult::Restocked(vec![]));
        let reseed = s
            .apply(
                4,
                &Command::SeedCatalog(vec![tux(1)]),
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        assert_eq!(reseed, CommandResult::Seeded(false));
        assert_eq!(s.products["Tux"].stock, 100);
    }

    #[test]
    fn restock_overflow_is_rejected_and_updates_set_fields() {
        let (mut s, mut sink) = seeded(5);
        let r = s
            .apply(
                2,
                &Command::Restock {
                    request_id: "r".into(),
                    name: "Tux".into(),
                    amount: u64::MAX,
                },
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        assert_eq!(
            r,
            CommandResult::Product(Err(ProductRejection::StockOverflow))
        );
        let r = s
            .apply(
                3,
                &Command::UpdateProduct {
                    request_id: "u".into(),
                    name: "Tux".into(),
                    price: Some(100),
                    stock: None,
                },
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        let CommandResult::Product(Ok(p)) = r else {
            panic!("update failed")
        };
        assert_eq!((p.price, p.stock, p.version), (100, 5, 3));
    }

    #[test]
    fn a_retried_restock_applies_once_and_a_reused_key_is_refused() {
        let (mut s, mut sink) = seeded(5);
        let restock = |id: &str, amount| Command::Restock {
            request_id: id.into(),
            name: "Tux".into(),
            amount,
        };
        let first = s
            .apply(2, &restock("k", 3), &mut sink, &mut Changes::default())
            .unwrap();
        let retry = s
            .apply(3, &restock("k", 3), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(first, retry);
        assert_eq!(s.products["Tux"].stock, 8);
        let reused = s
            .apply(4, &restock("k", 4), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(
            reused,
            CommandResult::Product(Err(ProductRejection::KeyReused))
        );
        assert_eq!(s.products["Tux"].stock, 8);
        let order_key_reuse = s
            .apply(5, &order("k", 1), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(
            order_key_reuse,
            CommandResult::Order(Err(OrderRejection::KeyReused))
        );
    }

    #[test]
    fn a_key_is_remembered_for_the_retention_then_forgotten() {
        let (mut s, mut sink) = seeded_with_retention(100, 1000);
        let first = s
            .apply(2, &order("k", 1), &mut sink, &mut Changes::default())
            .unwrap();
        let within = s
            .apply(1002, &order("k", 1), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(within, first, "still remembered 1000 entries later");
        assert_eq!(sink.orders.len(), 1);
        let after = s
            .apply(1003, &order("k", 1), &mut sink, &mut Changes::default())
            .unwrap();
        let CommandResult::Order(Ok(again)) = after else {
            panic!("a forgotten key orders anew")
        };
        assert_eq!(again.number, 2);
    }

    #[test]
    fn a_remembered_order_that_is_missing_is_the_stores_error() {
        let (mut s, mut sink) = seeded(10);
        s.apply(2, &order("k", 1), &mut sink, &mut Changes::default())
            .unwrap();
        sink.orders.clear();
        assert_eq!(
            s.apply(3, &order("k", 1), &mut sink, &mut Changes::default()),
            Err(MissingOrder(1))
        );
    }

    #[test]
    fn equal_histories_give_equal_digests() {
        let (mut a, mut sa) = seeded(10);
        let (mut b, mut sb) = seeded(10);
        a.apply(2, &order("x", 1), &mut sa, &mut Changes::default())
            .unwrap();
        b.apply(2, &order("x", 1), &mut sb, &mut Changes::default())
            .unwrap();
        assert_eq!(a.digest, b.digest);
        b.apply(3, &order("y", 1), &mut sb, &mut Changes::default())
            .unwrap();
        assert_ne!(a.digest, b.digest);
    }

    fn raise(member: u64) -> Command {
        Command::RaiseAlarm(AlarmRecord {
            kind: AlarmKind::NoSpace,
            member,
            raised_at: 0,
            detail: "disk free 1 MiB".into(),
        })
    }

    #[test]
    fn nospace_refuses_new_orders_and_products_until_disarmed_and_forgets_the_refusal() {
        let (mut s, mut sink) = seeded(10);
        let placed = s
            .apply(2, &order("before", 1), &mut sink, &mut Changes::default())
            .unwrap();
        let raised = s
            .apply(3, &raise(2), &mut sink, &mut Changes::default())
            .unwrap();
        let CommandResult::Alarms(added) = raised else {
            panic!("a raise answers with the alarms it added")
        };
        assert_eq!(added[0].raised_at, 3);
        assert_eq!(sink.alarms.len(), 1);
        let again = s
            .apply(4, &raise(2), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(again, CommandResult::Alarms(vec![]), "already active");

        let refused = s
            .apply(5, &order("during", 1), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(refused, CommandResult::Order(Err(OrderRejection::NoSpace)));
        let retry_of_placed = s
            .apply(6, &order("before", 1), &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(
            retry_of_placed, placed,
            "a retry still gets its first answer"
        );
        let new_product = Command::UpsertProduct {
            request_id: "p".into(),
            product: ProductRecord {
                name: "Gnu".into(),
                ..tux(1)
            },
        };
        assert_eq!(
            s.apply(7, &new_product, &mut sink, &mut Changes::default())
                .unwrap(),
            CommandResult::Product(Err(ProductRejection::NoSpace))
        );
        let restock = Command::Restock {
            request_id: "r".into(),
            name: "Tux".into(),
            amount: 5,
        };
        assert!(matches!(
            s.apply(8, &restock, &mut sink, &mut Changes::default())
                .unwrap(),
            CommandResult::Product(Ok(_))
        ));

        let disarmed = s
            .apply(
                9,
                &Command::DisarmAlarms { kind: None },
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        assert!(matches!(disarmed, CommandResult::Alarms(ended) if ended.len() == 1));
        assert!(sink.alarms.is_empty());
        let after = s
            .apply(10, &order("during", 1), &mut sink, &mut Changes::default())
            .unwrap();
        assert!(
            matches!(after, CommandResult::Order(Ok(_))),
            "the refused key places the order once the alarm is gone"
        );
        assert_eq!(sink.orders.len(), 2);
    }

    fn commit_for(sink: &mut MemorySink, from: u64, upto: u64) -> Command {
        let digest = sink.order_digest(from, upto).unwrap();
        Command::ArchiveOrders(ArchiveCommit {
            from,
            upto,
            count: upto - from + 1,
            digest_sum: digest.sum,
            proposed_at_ms: 77,
            label: "file".into(),
        })
    }

    fn place(s: &mut ShopState, sink: &mut MemorySink, index: u64, key: &str) -> CommandResult {
        s.apply(index, &order(key, 1), sink, &mut Changes::default())
            .unwrap()
    }

    #[test]
    fn an_archive_removes_matching_orders_and_numbering_goes_on() {
        let (mut s, mut sink) = seeded(100);
        for i in 0..10 {
            place(&mut s, &mut sink, 2 + i, &format!("k{i}"));
        }
        let commit = commit_for(&mut sink, 1, 6);
        let mut changes = Changes::default();
        let r = s.apply(20, &commit, &mut sink, &mut changes).unwrap();
        let CommandResult::Archived(Ok(outcome)) = r else {
            panic!("refused: {r:?}")
        };
        assert!(!outcome.already);
        assert_eq!(outcome.record.committed_index, 20);
        assert_eq!(outcome.record.committed_at_ms, 77);
        assert_eq!(changes.archived, Some(ArchivedRange { from: 1, upto: 6 }));
        assert_eq!(s.archived_upto(), 6);
        assert_eq!(sink.orders.len(), 4);
        assert_eq!(sink.archives.len(), 1);
        // A retry of the commit changes nothing.
        let again = s
            .apply(21, &commit, &mut sink, &mut Changes::default())
            .unwrap();
        assert!(matches!(
            again,
            CommandResult::Archived(Ok(ArchiveOutcome { already: true, .. }))
        ));
        assert_eq!(s.archives.len(), 1);
        let CommandResult::Order(Ok(next)) = place(&mut s, &mut sink, 22, "new") else {
            panic!("no order")
        };
        assert_eq!(next.number, 11, "numbers are never reused");
    }

    #[test]
    fn a_range_that_does_not_follow_the_mark_or_reaches_unplaced_orders_is_refused() {
        let (mut s, mut sink) = seeded(100);
        for i in 0..5 {
            place(&mut s, &mut sink, 2 + i, &format!("k{i}"));
        }
        for (from, upto) in [(2, 3), (1, 5 + 1), (3, 2)] {
            let digest = sink.order_digest(from, upto).unwrap();
            let commit = Command::ArchiveOrders(ArchiveCommit {
                from,
                upto,
                count: upto.saturating_sub(from) + 1,
                digest_sum: digest.sum,
                proposed_at_ms: 0,
                label: String::new(),
            });
            let r = s
                .apply(10, &commit, &mut sink, &mut Changes::default())
                .unwrap();
            assert_eq!(
                r,
                CommandResult::Archived(Err(ArchiveRejection::Range {
                    archived_upto: 0,
                    next_order: 6
                })),
                "{from}..={upto}"
            );
        }
        assert_eq!(sink.orders.len(), 5);
    }

    #[test]
    fn a_replica_whose_orders_differ_from_the_file_keeps_them() {
        let (mut s, mut sink) = seeded(100);
        for i in 0..5 {
            place(&mut s, &mut sink, 2 + i, &format!("k{i}"));
        }
        let Command::ArchiveOrders(mut commit) = commit_for(&mut sink, 1, 3) else {
            unreachable!()
        };
        commit.digest_sum ^= 1;
        let r = s
            .apply(
                10,
                &Command::ArchiveOrders(commit),
                &mut sink,
                &mut Changes::default(),
            )
            .unwrap();
        assert!(matches!(
            r,
            CommandResult::Archived(Err(ArchiveRejection::DigestMismatch { have_count: 3, .. }))
        ));
        assert_eq!(sink.orders.len(), 5);
        assert_eq!(s.archived_upto(), 0);
    }

    #[test]
    fn a_retried_key_of_an_archived_order_gets_its_first_answer_within_retention() {
        let (mut s, mut sink) = seeded_with_retention(100, 100);
        let old = place(&mut s, &mut sink, 2, "old");
        let recent = place(&mut s, &mut sink, 150, "recent");
        let commit = commit_for(&mut sink, 1, 2);
        let r = s
            .apply(200, &commit, &mut sink, &mut Changes::default())
            .unwrap();
        assert!(matches!(r, CommandResult::Archived(Ok(_))), "{r:?}");
        assert!(sink.orders.is_empty());
        // Within retention: the first answer, nothing new placed.
        let retry = place(&mut s, &mut sink, 210, "recent");
        assert_eq!(retry, recent);
        assert!(sink.orders.is_empty());
        // Past retention (first used at 2, now 210): a new order, as before archiving.
        let CommandResult::Order(Ok(anew)) = place(&mut s, &mut sink, 211, "old") else {
            panic!("an expired key orders anew")
        };
        assert_ne!(CommandResult::Order(Ok(anew.clone())), old);
        assert_eq!(anew.number, 3);
    }

    #[test]
    fn too_many_orders_within_retention_refuse_the_commit_and_say_what_fits() {
        let mut s = ShopState::new(100);
        s.max_retained_orders = 2;
        let mut sink = MemorySink::default();
        s.apply(
            1,
            &Command::SeedCatalog(vec![tux(100)]),
            &mut sink,
            &mut Changes::default(),
        )
        .unwrap();
        place(&mut s, &mut sink, 2, "a");
        place(&mut s, &mut sink, 3, "b");
        for (i, key) in ["c", "d", "e"].iter().enumerate() {
            place(&mut s, &mut sink, 150 + i as u64, key);
        }
        let commit = commit_for(&mut sink, 1, 5);
        let r = s
            .apply(200, &commit, &mut sink, &mut Changes::default())
            .unwrap();
        assert_eq!(
            r,
            CommandResult::Archived(Err(ArchiveRejection::TooRecent {
                retained: 3,
                cap: 2,
                fits: 4
            }))
        );
        let fits = commit_for(&mut sink, 1, 4);
        let r = s
            .apply(201, &fits, &mut sink, &mut Changes::default())
            .unwrap();
        assert!(matches!(r, CommandResult::Archived(Ok(_))), "{r:?}");
    }

    #[test]
    fn an_archived_order_whose_answer_was_not_kept_is_refused_not_lost() {
        let (mut s, mut sink) = seeded_with_retention(100, 100);
        place(&mut s, &mut sink, 2, "k");
        let commit = commit_for(&mut sink, 1, 1);
        s.apply(500, &commit, &mut sink, &mut Changes::default())
            .unwrap();
        // Retention raised after the archive: the record counts again, its order is gone.
        s.dedupe_retention = 1000;
        let r = place(&mut s, &mut sink, 501, "k");
        assert_eq!(
            r,
            CommandResult::Order(Err(OrderRejection::Archived { number: 1 }))
        );
    }

    #[test]
    fn a_state_check_answers_the_digest_of_every_replica_alike() {
        let (mut a, mut sa) = seeded(10);
        let (mut b, mut sb) = seeded(10);
        let before = a.digest;
        let ca = a
            .apply(2, &Command::CheckState, &mut sa, &mut Changes::default())
            .unwrap();
        let cb = b
            .apply(2, &Command::CheckState, &mut sb, &mut Changes::default())
            .unwrap();
        assert_eq!(ca, CommandResult::StateChecked(before));
        assert_eq!(ca, cb);
        b.apply(3, &order("x", 1), &mut sb, &mut Changes::default())
            .unwrap();
        let later = b
            .apply(4, &Command::CheckState, &mut sb, &mut Changes::default())
            .unwrap();
        assert_ne!(later, ca, "the digest moved with the order");
    }
}
