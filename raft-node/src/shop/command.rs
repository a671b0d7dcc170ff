//! Log entry payloads and their results. Failure outcomes (unknown product, insufficient
//! stock, ...) are results, not errors: every replica computes the same ones.

use serde::{Deserialize, Serialize};

use bazaar_api::{AlarmKind, Cents, ProductSpec, ProductView};

use super::alarms::AlarmRecord;
use super::archive::{ArchiveCommit, ArchiveOutcome, ArchiveRejection};
use super::digest::StateDigest;

/// A command in the replicated log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    PlaceOrder {
        request_id: String,
        product: String,
        quantity: u64,
    },
    UpsertProduct {
        request_id: String,
        product: ProductRecord,
    },
    UpdateProduct {
        request_id: String,
        name: String,
        price: Option<Cents>,
        stock: Option<u64>,
    },
    Restock {
        request_id: String,
        name: String,
        amount: u64,
    },
    /// Proposed by the leader's timer: every product at or below `threshold` goes to `amount`.
    RestockLow { threshold: u64, amount: u64 },
    /// The initial catalog; applied only if no catalog was seeded before.
    SeedCatalog(Vec<ProductRecord>),
    /// Commands packed into one entry by the proposal batcher; applied in order.
    Batch(Vec<Command>),
    /// Raises an alarm (kept until disarmed; raising an active one again changes nothing).
    /// Appended after the older variants: a variant's number is its encoding in the log.
    RaiseAlarm(AlarmRecord),
    /// Ends the active alarms of `kind`, or all of them.
    DisarmAlarms { kind: Option<AlarmKind> },
    /// The leader's periodic consistency check: every replica notes its state digest at
    /// this entry's index and checks what its disk holds at that point against it.
    CheckState,
    /// An operator's archive commit: orders `from..=upto` leave the hot state on every
    /// replica whose copy matches the archive file's digest.
    ArchiveOrders(ArchiveCommit),
}

impl Command {
    /// The client's idempotency key, for the commands a client can retry.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Command::PlaceOrder { request_id, .. }
            | Command::UpsertProduct { request_id, .. }
            | Command::UpdateProduct { request_id, .. }
            | Command::Restock { request_id, .. } => Some(request_id),
            Command::RestockLow { .. }
            | Command::SeedCatalog(_)
            | Command::Batch(_)
            | Command::RaiseAlarm(_)
            | Command::DisarmAlarms { .. }
            | Command::CheckState
            | Command::ArchiveOrders(_) => None,
        }
    }

    /// How many commands this one carries when applied: a batch its commands, the catalog
    /// seed one per product, any other one.
    pub fn commands_carried(&self) -> usize {
        match self {
            Command::Batch(commands) => commands.len(),
            Command::SeedCatalog(products) => products.len(),
            _ => 1,
        }
    }

    /// What a command answers when its key was first used for a different command.
    pub fn key_reused(&self) -> CommandResult {
        match self {
            Command::PlaceOrder { .. } => CommandResult::Order(Err(OrderRejection::KeyReused)),
            _ => CommandResult::Product(Err(ProductRejection::KeyReused)),
        }
    }
}

/// A product as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRecord {
    pub name: String,
    pub title: String,
    pub topic: String,
    pub price: Cents,
    pub stock: u64,
    /// Log index of the last change.
    pub version: u64,
}

impl ProductRecord {
    pub fn from_spec(spec: &ProductSpec) -> Self {
        Self {
            name: spec.name.clone(),
            title: spec.title.clone(),
            topic: spec.topic.clone(),
            price: spec.price,
            stock: spec.quantity,
            version: 0,
        }
    }

    pub fn view(&self) -> ProductView {
        ProductView {
            name: self.name.clone(),
            title: self.title.clone(),
            topic: self.topic.clone(),
            price: self.price,
            quantity: self.stock,
            version: self.version,
        }
    }
}

/// An order as stored: one type with the offline archive readers (`bazaar_api`), so a file's
/// orders are read as the node wrote them.
pub use bazaar_api::OrderRecord;

/// Why an order was not placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderRejection {
    UnknownProduct,
    InsufficientStock {
        available: u64,
    },
    BadQuantity,
    /// The request id was first used for a different product or quantity.
    KeyReused,
    /// The `nospace` alarm is active. Not remembered under the request id: a retry with
    /// the same key after the alarm is disarmed places the order.
    NoSpace,
    /// A retry of a key whose order was archived and whose first answer is no longer
    /// held (its retention was raised after the archive).
    Archived {
        number: u64,
    },
}

/// Why an admin change to a product was not made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductRejection {
    UnknownProduct,
    StockOverflow,
    /// The request id was first used for a different change.
    KeyReused,
    /// A new product while the `nospace` alarm is active (not remembered, as for orders).
    NoSpace,
}

/// What the dedupe table remembers of a request id: enough to answer a retry exactly as
/// the first attempt was answered, and to spot a key reused for another command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DedupeRecord {
    /// Log index of the first use.
    pub index: u64,
    /// Digest of the first command (key included), to tell a retry from a reuse.
    pub fingerprint: u64,
    pub outcome: Remembered,
}

/// The first outcome of a request id, as small as it can be kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Remembered {
    /// The order it created (the order itself is stored once, under its number).
    Order(u64),
    /// Any other result, kept whole (rejections, catalog changes: few and small).
    Result(CommandResult),
}

/// The result of applying one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Order(Result<OrderRecord, OrderRejection>),
    Product(Result<ProductRecord, ProductRejection>),
    Restocked(Vec<String>),
    Seeded(bool),
    Batch(Vec<CommandResult>),
    /// Entries without a command (blank and membership entries).
    Nothing,
    /// The alarms a raise added or a disarm ended (empty: nothing changed).
    Alarms(Vec<AlarmRecord>),
    /// The state digest at a `CheckState` entry.
    StateChecked(StateDigest),
    /// What an archive commit did.
    Archived(Result<ArchiveOutcome, ArchiveRejection>),
}
