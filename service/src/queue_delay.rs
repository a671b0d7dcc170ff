//! Shedding by queueing delay: a probe task that measures how far behind the process's
//! runtime is, and says "overloaded" while it stays behind.
//!
//! A bound on requests in flight ([`crate::admission`]) counts a request only once its
//! head has been read. With thousands of connections the wait is before that: every
//! connection with a request ready is a task in the runtime's run queue, and a new request
//! waits for all of them to be polled (read, parsed, answered or refused) before its own
//! turn, while the requests counted in flight stay few, each answered in its first poll.
//! That queue is what the probe sees. It sleeps [`PROBE_EVERY`] and measures how late it
//! wakes: a timer's wake-up goes through the same driver and run queue as a socket's, so
//! its lateness is the wait a request that arrives now has before its first poll.
//!
//! The decision is CoDel's idea, not a single sample's: a burst or a process descheduled
//! by the OS for a moment makes one probe late, a standing queue makes every probe late.
//! So the process is overloaded once [`LATE_PROBES`] probes in a row were later than the
//! target, and no longer at the first probe on time. While it is, admission answers
//! writes and reads 503 `overloaded` at once; refusing is far cheaper than serving, and the
//! clients' `Retry-After` waits take their requests out of the queue, so it drains.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often the probe measures.
pub const PROBE_EVERY: Duration = Duration::from_millis(5);
/// Probes in a row later than the target before the process counts as overloaded.
pub const LATE_PROBES: u32 = 3;

/// The probe's findings, shared with admission (cheap to clone).
#[derive(Debug, Clone)]
pub struct QueueDelay {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    target: Duration,
    overloaded: AtomicBool,
    /// The last probe's lateness, in microseconds.
    last_late_us: AtomicU64,
    /// Times the process went from keeping up to overloaded.
    episodes: AtomicU64,
}

impl QueueDelay {
    /// Overloaded while probes are later than `target`.
    pub fn new(target: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                target,
                overloaded: AtomicBool::new(false),
                last_late_us: AtomicU64::new(0),
                episodes: AtomicU64::new(0),
            }),
        }
    }

    pub fn target(&self) -> Duration {
        self.shared.target
    }

    /// Whether new writes and reads should be shed now.
    pub fn is_overloaded(&self) -> bool {
        self.shared.overloaded.load(Ordering::Relaxed)
    }

    /// How late the last probe woke.
    pub fn last_delay(&self) -> Duration {
        Duration::from_micros(self.shared.last_late_us.load(Ordering::Relaxed))
    }

    /// Times the process became overloaded since start.
    pub fn episodes(&self) -> u64 {
        self.shared.episodes.load(Ordering::Relaxed)
    }

    /// The probe: runs on the runtime it measures until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut detector = Detector::new(self.shared.target);
        loop {
            let due = Instant::now() + PROBE_EVERY;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(due) => {}
            }
            let late = Instant::now().saturating_duration_since(due);
            self.record(late, detector.observe(late));
        }
    }

    pub(crate) fn record(&self, late: Duration, overloaded: bool) {
        let shared = &self.shared;
        let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        shared.last_late_us.store(micros, Ordering::Relaxed);
        let was = shared.overloaded.swap(overloaded, Ordering::Relaxed);
        if overloaded && !was {
            shared.episodes.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                late_ms = late.as_millis(),
                "behind: shedding writes and reads"
            );
        } else if was && !overloaded {
            tracing::debug!(late_ms = late.as_millis(), "caught up: admitting again");
        }
    }
}

/// The decision on a run of probes' lateness.
#[derive(Debug)]
struct Detector {
    target: Duration,
    late_in_a_row: u32,
}

impl Detector {
    fn new(target: Duration) -> Self {
        Self {
            target,
            late_in_a_row: 0,
        }
    }

    /// Takes one probe's lateness; whether the process is overloaded after it.
    fn observe(&mut self, late: Duration) -> bool {
        if late > self.target {
            self.late_in_a_row = self.late_in_a_row.saturating_add(1);
        } else {
            self.late_in_a_row = 0;
        }
        self.late_in_a_row >= LATE_PROBES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn one_late_probe_is_a_blip_a_run_of_them_is_a_queue() {
        let mut d = Detector::new(MS(5));
        // A single stall (the OS took the core for a moment), between probes on time.
        for late in [1, 40, 1, 6, 6, 2] {
            assert!(!d.observe(MS(late)), "{late}");
        }
        // A standing queue: every probe late.
        assert!(!d.observe(MS(9)));
        assert!(!d.observe(MS(12)));
        assert!(d.observe(MS(15)));
        assert!(d.observe(MS(7)));
        // The first probe on time ends it; exactly the target is on time.
        assert!(!d.observe(MS(5)));
        assert!(!d.observe(MS(30)));
    }

    /// A runtime whose one thread is kept busy by tasks that each hold it for a while
    /// before yielding is behind, and says so; once they stop it catches up.
    #[test]
    fn a_busy_runtime_is_overloaded_until_it_catches_up() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let delay = QueueDelay::new(MS(5));
            let stop = CancellationToken::new();
            let probe = tokio::spawn(delay.clone().run(stop.clone()));
            let busy = CancellationToken::new();
            // 10 tasks holding the thread 2 ms each between yields: a 20 ms queue.
            let hogs: Vec<_> = (0..10)
                .map(|_| {
                    let busy = busy.clone();
                    tokio::spawn(async move {
                        while !busy.is_cancelled() {
                            std::thread::sleep(MS(2));
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !delay.is_overloaded() {
                assert!(Instant::now() < deadline, "never overloaded");
                tokio::task::yield_now().await;
            }
            assert!(delay.last_delay() > MS(5), "{:?}", delay.last_delay());
            assert_eq!(delay.episodes(), 1);
            busy.cancel();
            for hog in hogs {
                hog.await.expect("hog");
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while delay.is_overloaded() {
                assert!(Instant::now() < deadline, "never caught up");
                tokio::time::sleep(PROBE_EVERY).await;
            }
            stop.cancel();
            probe.await.expect("probe stops when told");
        });
    }
}
