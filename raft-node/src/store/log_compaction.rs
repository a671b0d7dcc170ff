//! The purged log's space back on disk: after a purge, the log's range delete is followed
//! by a compaction of that range in the background. An append-only log's old files are
//! otherwise seldom compacted, so the entries a snapshot made unnecessary stayed on disk
//! (TiKV's raft log GC does the same: delete, then compact what was deleted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::error::StoreError;
use super::pool::mark_pool_thread;
use super::raft_db::{RaftDb, CF_LOG};
use super::rocks::{background_compaction, be64};

/// One compaction of the purged log at a time, shared by the log store's clones.
#[derive(Clone, Default)]
pub struct PurgedCompaction {
    running: Arc<AtomicBool>,
}

impl PurgedCompaction {
    /// Compacts the log up to `through` on the blocking pool, unless a compaction is
    /// already under way (the next purge covers what this one would have).
    pub fn after_purge(&self, db: Arc<RaftDb>, through: u64) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let running = self.running.clone();
        tokio::task::spawn_blocking(move || {
            // It may drop the last handle of the database: the close stays on this thread.
            mark_pool_thread();
            let started = Instant::now();
            match compact_purged(&db, through) {
                Ok(()) => tracing::debug!(
                    through,
                    took_ms = started.elapsed().as_millis() as u64,
                    "purged log compacted"
                ),
                // The space waits for RocksDB's own compactions; nothing is lost.
                Err(e) => tracing::warn!(cause = %e, "the purged log was not compacted"),
            }
            running.store(false, Ordering::Release);
        });
    }
}

/// Compacts the log's keys `..=through` (all deleted by the purge) down to the last level,
/// which drops them.
pub fn compact_purged(db: &RaftDb, through: u64) -> Result<(), StoreError> {
    let cf = db.cf(CF_LOG)?;
    db.rocks.compact_range_cf_opt(
        cf,
        None::<&[u8]>,
        Some(be64(through.saturating_add(1))),
        &background_compaction(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_raft_db;
    use crate::store::rocks::{fill_incompressible, sst_bytes};

    #[tokio::test]
    async fn a_purged_ranges_bytes_leave_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_raft_db(dir.path().join("raft")).await.unwrap();
        let cf = db.cf(CF_LOG).unwrap();
        fill_incompressible(&db.rocks, cf, 20_000);
        let before = sst_bytes(&db.rocks, cf);
        assert!(before > 8 << 20, "{before} bytes written");
        db.rocks.delete_range_cf(cf, be64(0), be64(19_001)).unwrap();
        assert!(
            sst_bytes(&db.rocks, cf) >= before,
            "a range delete alone frees nothing"
        );
        compact_purged(&db, 19_000).unwrap();
        let after = sst_bytes(&db.rocks, cf);
        assert!(after < before / 10, "{after} bytes left of {before}");
        assert!(db.rocks.get_cf(cf, be64(19_500)).unwrap().is_some());
        assert!(db.rocks.get_cf(cf, be64(18_000)).unwrap().is_none());
    }
}
