//! Storage-layer errors, and their conversion into openraft's `StorageError`.

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};

use crate::codec::CodecError;
use crate::fail_stop::{StorageHealth, StoragePart};
use crate::types::{NodeId, StorageError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("codec: {0}")]
    Codec(#[from] CodecError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("storage task failed: {0}")]
    Join(String),
    #[error("corrupt store: {0}")]
    Corrupt(String),
    #[error("format version {found} is not one this build reads (it reads {expected})")]
    Version { found: u8, expected: u8 },
    #[error("{0}")]
    Refused(String),
}

impl StoreError {
    /// Wraps this error for openraft, naming what was being done.
    pub fn raft(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb) -> StorageError {
        StorageIOError::new(subject, verb, AnyError::new(&self)).into()
    }

    /// Records this error as the node's storage failure (fail-stop: openraft stops its core
    /// on the error returned, and the node exits) and wraps it for openraft.
    pub fn fail_stop(
        self,
        health: &StorageHealth,
        part: StoragePart,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> StorageError {
        health.record(part, &self);
        self.raft(subject, verb)
    }

    /// [`StoreError::fail_stop`] as a `map_err` argument, so each store call names only
    /// what failed.
    pub fn failing(
        health: &StorageHealth,
        part: StoragePart,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> impl FnOnce(StoreError) -> StorageError + '_ {
        move |e| e.fail_stop(health, part, subject, verb)
    }
}

/// The error an armed failpoint makes a store call fail with: the I/O error a failed write
/// or fsync gives.
#[cfg(feature = "failpoints")]
pub fn failpoint_io(name: &str) -> StoreError {
    StoreError::Io(std::io::Error::other(format!(
        "failpoint {name}: input/output error"
    )))
}
