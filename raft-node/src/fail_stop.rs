//! Fail-stop on storage errors: the one place a node records that its storage failed.
//!
//! The stores record every error of the log, the vote, the state machine and the snapshots
//! here (and a watcher records openraft's core stopping on its own); the HTTP layer reads
//! it to answer `/readyz`, `/cluster`, writes and linearizable reads; `node::run` waits for
//! it to trip, lets `/readyz` be seen for a moment and then exits with
//! [`STORAGE_FAILED_EXIT_CODE`], for the node's supervisor to restart it.
//!
//! A storage error is never retried in this process: after a failed fsync the kernel may
//! already have dropped the dirty pages it could not write, so a later fsync that succeeds
//! proves nothing ("fsyncgate"). Only a restart, which reads back what is really on disk
//! and catches up from the leader, is safe.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// The exit code of a node that stopped because its storage failed (sysexits' `EX_IOERR`),
/// both on a failure while serving and when it cannot open or write its data at start.
/// Distinct from 1 (any other error), so a supervisor or an operator can tell them apart.
pub const STORAGE_FAILED_EXIT_CODE: i32 = 74;

/// The exit code of a node that refused its own data at start (sysexits' `EX_DATAERR`): a
/// block checksum that does not match, or state records that do not sum to what was
/// applied. A restart finds the same damage; the data dir must be replaced.
pub const DAMAGED_DATA_EXIT_CODE: i32 = 65;

/// Which part of the node's storage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoragePart {
    /// The Raft log: append (and its sync), truncate, purge, reads.
    Log,
    /// The saved vote.
    Vote,
    /// The state machine: apply and its reads.
    StateMachine,
    /// Snapshot build, receive and install.
    Snapshot,
    /// openraft stopped its core (it does so on any storage error it sees) or refused a
    /// proposal as fatal, whatever the error it reported.
    Raft,
}

impl StoragePart {
    pub fn as_str(self) -> &'static str {
        match self {
            StoragePart::Log => "log",
            StoragePart::Vote => "vote",
            StoragePart::StateMachine => "state_machine",
            StoragePart::Snapshot => "snapshot",
            StoragePart::Raft => "raft",
        }
    }
}

impl fmt::Display for StoragePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first storage failure of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFailure {
    pub part: StoragePart,
    pub cause: String,
}

impl fmt::Display for StorageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage failed ({}): {}", self.part, self.cause)
    }
}

#[derive(Debug, Default)]
struct Inner {
    first: OnceLock<StorageFailure>,
    errors: AtomicU64,
    tripped: CancellationToken,
}

/// Shared by the stores, the watcher, the HTTP layer and `node::run`; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StorageHealth {
    inner: Arc<Inner>,
}

impl StorageHealth {
    /// Records a storage error. The first one trips the node and is logged at ERROR; every
    /// later one is only counted, so a failing disk cannot flood the log.
    pub fn record(&self, part: StoragePart, cause: &dyn fmt::Display) {
        self.inner.errors.fetch_add(1, Ordering::Relaxed);
        let failure = StorageFailure {
            part,
            cause: cause.to_string(),
        };
        if self.inner.first.set(failure).is_ok() {
            tracing::error!(
                part = part.as_str(),
                cause = %cause,
                exit_code = STORAGE_FAILED_EXIT_CODE,
                "storage failed: this node stops serving and exits (fail-stop); later \
                 storage errors are only counted in storage_errors_total"
            );
            self.inner.tripped.cancel();
        }
    }

    /// The first failure, once there is one.
    pub fn failure(&self) -> Option<StorageFailure> {
        self.inner.first.get().cloned()
    }

    /// Storage errors recorded so far (the first included).
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// Ok while the storage has not failed.
    pub fn check(&self) -> Result<(), StorageFailure> {
        match self.inner.first.get() {
            None => Ok(()),
            Some(f) => Err(f.clone()),
        }
    }

    /// Returns the first failure once there is one.
    pub async fn tripped(&self) -> StorageFailure {
        self.inner.tripped.cancelled().await;
        // Set before the token is cancelled.
        self.inner.first.get().cloned().unwrap_or(StorageFailure {
            part: StoragePart::Raft,
            cause: "unknown".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_failure_wins_and_the_rest_are_counted() {
        let health = StorageHealth::default();
        assert!(health.check().is_ok());
        assert_eq!(health.errors(), 0);
        health.record(StoragePart::Log, &"No space left on device");
        health.record(StoragePart::StateMachine, &"read-only");
        health.record(StoragePart::Raft, &"core stopped");
        let first = health.tripped().await;
        assert_eq!(first.part, StoragePart::Log);
        assert_eq!(first.cause, "No space left on device");
        assert_eq!(health.check(), Err(first.clone()));
        assert_eq!(health.clone().failure(), Some(first));
        assert_eq!(health.errors(), 3);
    }

    #[tokio::test]
    async fn it_does_not_trip_without_a_failure() {
        let health = StorageHealth::default();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), health.tripped()).await;
        assert!(waited.is_err());
    }
}
