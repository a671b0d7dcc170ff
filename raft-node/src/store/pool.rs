//! The blocking pool hand-off of every RocksDB job (`blocking`), the low-priority thread of
//! bulk reads that must not take the CPU from the order path (`background`), and the mark
//! that tells either from an async worker (`on_pool_thread`), which a dropped database
//! handle reads to decide where it closes.

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

/// How much lower than the node's own CPU priority a [`background`] job runs (nice +10: under
/// contention the scheduler gives it about a tenth of what a normal thread gets, and all of
/// an idle core).
const BACKGROUND_NICENESS: i32 = 10;

/// Runs a bulk read of the database (an archive's stream, a digest of millions of orders) on
/// a thread of its own at a lower CPU priority, so that on a busy machine the orders being
/// placed keep the cores and the bulk job takes what is left. Not for anything on the path
/// of a write (an apply, a log append): those would wait behind it.
pub async fn background<T, F>(name: &str, job: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    spawn_background(name, move || {
        let _ = tx.send(job());
    })?;
    rx.await
        .map_err(|_| StoreError::Join("the background job ended without an answer".into()))?
}

/// Starts `job` on a thread of its own at [`BACKGROUND_NICENESS`] below the caller's
/// priority (see [`background`]); the job answers through its own channel.
pub fn spawn_background<F>(name: &str, job: F) -> Result<(), StoreError>
where
    F: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name(format!("bg-{name}"))
        .spawn(move || {
            lower_this_thread(BACKGROUND_NICENESS);
            mark_pool_thread();
            job();
        })
        .map(drop)
        .map_err(|e| StoreError::Join(format!("cannot start a background thread: {e}")))
}

/// Lowers the calling thread's CPU priority by `by` (on Linux the nice value is per thread,
/// and `setpriority(PRIO_PROCESS, 0)` sets the caller's). Never fatal: at worst the job runs
/// at normal priority, with one line saying so.
fn lower_this_thread(by: i32) {
    let lowered = rustix::process::getpriority_process(None)
        .and_then(|now| rustix::process::setpriority_process(None, (now + by).min(19)));
    if let Err(e) = lowered {
        tracing::debug!(cause = %e, "cannot lower a background thread's priority");
    }
}

/// The calling thread's nice value (for the tests).
#[cfg(test)]
fn this_thread_niceness() -> i32 {
    rustix::process::getpriority_process(None).expect("getpriority")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_background_job_runs_lower_than_its_caller_and_answers() {
        let caller = this_thread_niceness();
        let (niceness, marked) =
            background("test", || Ok((this_thread_niceness(), on_pool_thread())))
                .await
                .unwrap();
        assert_eq!(niceness, (caller + BACKGROUND_NICENESS).min(19));
        assert!(marked, "a database dropped there closes in place");
        // The caller's own priority is untouched.
        assert_eq!(this_thread_niceness(), caller);
    }

    #[tokio::test]
    async fn a_background_job_error_comes_back() {
        let err = background::<(), _>("test", || Err(StoreError::Corrupt("bad".into())))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    }
}
