//! A rate limit for log lines that a fault can repeat once per request or per retry: at
//! most one line per interval gets through, and it says how many were held back since the
//! last, so a failing disk or peer cannot flood the log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One gate per kind of line (a `static`).
#[derive(Debug)]
pub struct LogGate {
    interval: Duration,
    /// Milliseconds after the process's first use of any gate when this one last opened;
    /// `u64::MAX` before it ever did.
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

fn since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
}

impl LogGate {
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_ms: AtomicU64::new(u64::MAX),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(held back since the last line)` when a line may be written now; `None` when it
    /// is to be dropped (and counted).
    pub fn pass(&self) -> Option<u64> {
        let now = since_start();
        let interval = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        let last = self.last_ms.load(Ordering::Relaxed);
        let open = last == u64::MAX || now.saturating_sub(last) >= interval;
        // One caller wins the interval; the others count themselves as held back.
        if open
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_rest_are_counted() {
        let gate = LogGate::new(Duration::from_millis(50));
        assert_eq!(gate.pass(), Some(0));
        for _ in 0..100 {
            assert_eq!(gate.pass(), None);
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(gate.pass(), Some(100));
        assert_eq!(gate.pass(), None);
    }
}
