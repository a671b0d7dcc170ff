//! The blocking pool hand-off of every RocksDB job (`blocking`), and the mark that tells a
//! pool thread from an async worker (`on_pool_thread`), which a dropped database handle reads
//! to decide where it closes.

use std::cell::Cell;

use super::error::StoreError;

thread_local! {
    /// Set on a blocking-pool thread the first time it runs one of our jobs; a pool thread
    /// never becomes an async worker.
    static ON_POOL_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Runs a RocksDB job on the blocking pool so it never stalls an async worker thread (the
/// state machine applies its smallest calls in place; see `INLINE_APPLY_COMMANDS`).
pub async fn blocking<T, F>(job: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        mark_pool_thread();
        job()
    })
    .await
    .map_err(|e| StoreError::Join(e.to_string()))?
}

/// Marks the calling thread as one of the blocking pool's: call it first in a job handed to
/// `spawn_blocking` by other means than [`blocking`].
pub fn mark_pool_thread() {
    ON_POOL_THREAD.with(|on| on.set(true));
}

/// Whether the calling thread was marked by [`mark_pool_thread`].
pub fn on_pool_thread() -> bool {
    ON_POOL_THREAD.with(Cell::get)
}
