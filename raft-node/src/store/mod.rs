//! Storage: the only module that touches RocksDB. One DB per node with column families for
//! the Raft log, Raft metadata, and the state machine's data and metadata.

mod db;
mod error;
mod log_store;
mod sink;
mod snapshot;
mod state_machine;
mod view;

pub use db::{open_db, Db};
pub use error::StoreError;
pub use log_store::LogStore;
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
            let db = open_db(dir.path().join("db")).await.map_err(io)?;
            let sm = StateMachine::open(db.clone(), &dir.path().join("snapshots"), 1_000_000)
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
