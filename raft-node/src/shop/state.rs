//! The in-memory part of the shop (catalog, order counter, digest) and the deterministic
//! apply function. Orders and the dedupe table live in storage, reached through [`ApplySink`].

use std::collections::BTreeSet;

use imbl::OrdMap;

use bazaar_api::AlarmKind;

use super::alarms::{AlarmRecord, Alarms};
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
    /// Order `number`, which a remembered outcome names (one from this batch included);
    /// a missing one is an error of the store.
    fn order(&mut self, number: u64) -> Result<OrderRecord, Self::Error>;
    fn put_order(&mut self, order: &OrderRecord) -> Result<(), Self::Error>;
    fn put_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), Self::Error>;
    fn remove_alarm(&mut self, alarm: &AlarmRecord) -> Result<(), Self::Error>;
}

/// Which cached keys an apply invalidated.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    pub products: BTreeSet<String>,
    pub topics: BTreeSet<String>,
}

impl Changes {
    fn touch(&mut self, product: &ProductRecord) {
        self.products.insert(product.name.clone());
        self.topics.insert(product.topic.clone());
    }
    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.topics.is_empty()
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
        }
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
                    Remembered::Order(number) => CommandResult::Order(Ok(sink.order(number)?)),
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
        })
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
        fn order(&mut self, number: u64) -> Result<OrderRecord, MissingOrder> {
            self.orders
                .iter()
                .find(|o| o.number == number)
                .cloned()
                .ok_or(MissingOrder(number))
        }
        fn put_order(&mut self, o: &OrderRecord) -> Result<(), MissingOrder> {
            self.orders.push(o.clone());
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
        let mut s = ShopState::new(5000);
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
        let mut s = ShopState::new(1000);
        let mut sink = MemorySink::default();
        s.apply(
            1,
            &Command::SeedCatalog(vec![tux(100)]),
            &mut sink,
            &mut Changes::default(),
        )
        .unwrap();
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
