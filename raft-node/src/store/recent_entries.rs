//! The newest log entries, kept in memory after their synced append so the leader's
//! replication reads them without a trip through the blocking pool and RocksDB (TiKV's entry
//! cache). It always holds a suffix of the log, or nothing; anything older is read from disk.

use std::collections::VecDeque;

use crate::types::Entry;

/// How much of the log's tail is kept: a follower that is further behind than this is
/// served from RocksDB, as before.
pub const MAX_CACHED_ENTRIES: usize = 1024;
/// A byte bound as well, for entries that carry large batches.
pub const MAX_CACHED_BYTES: usize = 16 << 20;

/// A contiguous run of the log's newest entries, each with its encoded size.
#[derive(Debug)]
pub struct RecentEntries {
    entries: VecDeque<(Entry, usize)>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Default for RecentEntries {
    fn default() -> Self {
        Self::with_limits(MAX_CACHED_ENTRIES, MAX_CACHED_BYTES)
    }
}

impl RecentEntries {
    pub fn with_limits(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|(e, _)| e.log_id.index)
    }

    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|(e, _)| e.log_id.index)
    }

    /// Takes entries just made durable at the end of the log. Appends always extend the log
    /// at its end, so entries that do not follow the cached run replace it: what the run
    /// held from their first index on is gone from the log too.
    pub fn appended(&mut self, entries: Vec<(Entry, usize)>) {
        let Some(first) = entries.first().map(|(e, _)| e.log_id.index) else {
            return;
        };
        self.truncate_from(first);
        if self.last_index().is_some_and(|last| last + 1 != first) {
            self.entries.clear();
            self.bytes = 0;
        }
        for (entry, size) in entries {
            self.bytes += size;
            self.entries.push_back((entry, size));
        }
        while self.entries.len() > self.max_entries
            || (self.bytes > self.max_bytes && self.entries.len() > 1)
        {
            self.pop_front();
        }
    }

    /// The log lost every entry from `index` on.
    pub fn truncate_from(&mut self, index: u64) {
        while self.last_index().is_some_and(|last| last >= index) {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// The log lost every entry up to and including `index`.
    pub fn purge_through(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            self.pop_front();
        }
    }

    /// Entries `start..end` (`end` exclusive, `None` for the log's end) if the cached run
    /// covers them; `None` sends the caller to disk. Since the run is the log's tail, entries
    /// past its end do not exist and are not asked for.
    pub fn get(&self, start: u64, end: Option<u64>) -> Option<Vec<Entry>> {
        let first = self.first_index()?;
        if start < first {
            return None;
        }
        // The run is contiguous, so positions follow from indexes: replication asks for the
        // newest entries, and walking the whole run to find them would cost every read.
        let len = self.entries.len();
        let position =
            |index: u64| usize::try_from(index.saturating_sub(first)).map_or(len, |p| p.min(len));
        let from = position(start);
        let to = end.map_or(len, position).max(from);
        Some(
            self.entries
                .range(from..to)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
        }
    }
}

/// An entry with no payload at `index` of `term`, for the log's tests.
#[cfg(test)]
pub fn blank_entry(term: u64, index: u64) -> Entry {
    use openraft::{CommittedLeaderId, EntryPayload, LogId};
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload: EntryPayload::Blank,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<(Entry, usize)> {
        indexes.map(|i| (blank_entry(term, i), 100)).collect()
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index).collect()
    }

    #[test]
    fn serves_what_it_holds_and_sends_older_reads_to_disk() {
        let mut cache = RecentEntries::default();
        assert!(
            cache.get(1, None).is_none(),
            "an empty cache answers nothing"
        );
        cache.appended(run(1, 5..=9));
        assert_eq!(indexes(&cache.get(6, Some(8)).unwrap()), vec![6, 7]);
        assert_eq!(indexes(&cache.get(5, None).unwrap()), vec![5, 6, 7, 8, 9]);
        assert_eq!(indexes(&cache.get(9, Some(100)).unwrap()), vec![9]);
        assert!(
            cache.get(10, None).unwrap().is_empty(),
            "past the log's end"
        );
        assert!(cache.get(4, None).is_none(), "older than the cache: disk");
    }

    #[test]
    fn a_rewritten_tail_replaces_what_it_overlaps() {
        let mut cache = RecentEntries::default();
        cache.appended(run(1, 1..=6));
        // A follower whose entries 4.. conflicted: openraft truncates, then appends term 2.
        cache.truncate_from(4);
        cache.appended(run(2, 4..=5));
        let got = cache.get(1, None).unwrap();
        assert_eq!(indexes(&got), vec![1, 2, 3, 4, 5]);
        assert_eq!(got[3].log_id.leader_id.term, 2);
        // Even without the truncate call, an append inside the run cuts the run there.
        cache.appended(run(3, 3..=3));
        let got = cache.get(1, None).unwrap();
        assert_eq!(indexes(&got), vec![1, 2, 3]);
        assert_eq!(got[2].log_id.leader_id.term, 3);
    }

    #[test]
    fn a_gap_starts_a_new_run() {
        let mut cache = RecentEntries::default();
        cache.appended(run(1, 1..=3));
        // After a snapshot install the log resumes past the snapshot.
        cache.appended(run(1, 10..=11));
        assert!(cache.get(3, None).is_none());
        assert_eq!(indexes(&cache.get(10, None).unwrap()), vec![10, 11]);
    }

    #[test]
    fn purges_and_bounds_drop_the_oldest() {
        let mut cache = RecentEntries::with_limits(4, 1_000);
        cache.appended(run(1, 1..=6));
        assert_eq!(indexes(&cache.get(3, None).unwrap()), vec![3, 4, 5, 6]);
        assert!(cache.get(2, None).is_none());
        cache.purge_through(4);
        assert_eq!(indexes(&cache.get(5, None).unwrap()), vec![5, 6]);
        assert!(cache.get(4, None).is_none());

        let mut by_bytes = RecentEntries::with_limits(100, 250);
        by_bytes.appended(run(1, 1..=5));
        assert_eq!(indexes(&by_bytes.get(4, None).unwrap()), vec![4, 5]);
        assert!(by_bytes.get(3, None).is_none());
    }
}
