//! Storage: the only module that touches RocksDB. Two databases per node: the Raft log
//! and Raft's metadata (`raft_db`), and the state machine's data and metadata (`sm_db`),
//! one generation at a time so a snapshot install can replace it whole. Snapshots and
//! backups share one streamed, checksummed file format (`snapshot`).

mod archive_events;
mod archive_file;
mod content;
mod error;
mod log_compaction;
mod log_store;
mod log_volume;
mod pool;
mod raft_db;
mod recent_entries;
mod reclaim;
mod restore;
mod rocks;
mod sink;
mod sm_db;
mod sm_meta;
pub mod snapshot;
mod state_checks;
mod state_machine;
mod view;

pub use archive_events::{ArchiveEvent, ArchiveEvents};
pub use archive_file::{prepare_digest, stream_archive};
pub use content::ContentSum;
pub use error::StoreError;
pub use log_store::{CommitMark, LogStore};
pub use log_volume::LogVolume;
pub use raft_db::{open_raft_db, RaftDb};
pub use reclaim::{reclaim_archived, Reclaimed};
pub use restore::{
    check_backup, dump_backup, inspect_backup, prepare_restore, restore_interrupted,
    seed_from_backup, BackupSummary,
};
pub use rocks::closed;
pub use sm_meta::SmMeta;
pub use state_checks::{StateCheck, StateChecks};
pub use state_machine::StateMachine;
pub use view::{AppliedView, StateReader};

#[cfg(test)]
mod suite {
    //! openraft's own storage test suite against our log store and state machine.

    use openraft::testing::{StoreBuilder, Suite};

    use super::*;
    use crate::types::{StorageError, TypeConfig};

    struct TempStores;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for TempStores {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let io =
                |e: StoreError| e.raft(openraft::ErrorSubject::Store, openraft::ErrorVerb::Write);
            let dir = tempfile::tempdir().map_err(|e| io(e.into()))?;
            let db = open_raft_db(dir.path().join("raft")).await.map_err(io)?;
            let sm = StateMachine::open(dir.path(), 1_000_000)
                .await
                .map_err(io)?;
            Ok((dir, LogStore::new(db), sm))
        }
    }

    #[test]
    fn openraft_storage_suite_passes() {
        if let Err(e) = Suite::test_all(TempStores) {
            panic!("openraft storage suite failed: {e}");
        }
    }
}
