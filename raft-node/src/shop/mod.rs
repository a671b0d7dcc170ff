//! The shop's replicated state machine logic: commands, their deterministic results, and the
//! in-memory view of the catalog. Storage-agnostic: RocksDB plugs in through [`ApplySink`].

mod alarms;
mod archive;
mod command;
mod digest;
mod state;

pub use alarms::{storage_key as alarm_storage_key, AlarmRecord, Alarms};
pub use archive::{
    ArchiveCommit, ArchiveOutcome, ArchiveRecord, ArchiveRejection, Archives, MAX_RETAINED_ORDERS,
};
pub use command::{
    Command, CommandResult, DedupeRecord, OrderRecord, OrderRejection, ProductRecord,
    ProductRejection, Remembered,
};
pub use digest::StateDigest;
pub use state::{ApplySink, Changes, ShopState, MAX_UNITS_PER_ORDER};
