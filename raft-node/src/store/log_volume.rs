//! How much log this node has written since it started: the mean encoded size of an entry,
//! which the snapshot schedule turns a state size into a number of entries with.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct LogVolume {
    entries: AtomicU64,
    bytes: AtomicU64,
}

impl LogVolume {
    /// Counts one synced append of `entries` entries holding `bytes` encoded bytes.
    pub fn appended(&self, entries: u64, bytes: u64) {
        self.entries.fetch_add(entries, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The mean encoded size of the entries appended so far; none before the first.
    pub fn mean_entry_bytes(&self) -> Option<u64> {
        let entries = self.entries.load(Ordering::Relaxed);
        (entries > 0).then(|| self.bytes.load(Ordering::Relaxed).div_ceil(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_is_over_every_append_and_unknown_before_any() {
        let volume = LogVolume::default();
        assert_eq!(volume.mean_entry_bytes(), None);
        volume.appended(2, 300);
        volume.appended(1, 100);
        assert_eq!(volume.mean_entry_bytes(), Some(134));
    }
}
