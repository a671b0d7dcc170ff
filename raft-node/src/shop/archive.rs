//! Archive commits as replicated state: the command that lets orders `from..=upto` leave the
//! hot state, the rule each replica applies to it (only if its own orders there hash to the
//! digest of the operator's verified file), and the compact record that stays behind.

use bazaar_api::archive::{ArchiveView, OrderDigest};
use bazaar_api::ArchivedRange;
use serde::{Deserialize, Serialize};

/// Most archived orders whose idempotency records are still within retention when they are
/// archived (their first answers are copied into those records, in the commit's own write
/// batch). Part of the replicated rule, so fixed here.
pub const MAX_RETAINED_ORDERS: u64 = 100_000;

/// `Command::ArchiveOrders`: remove orders `from..=upto`, which an operator saved to a file
/// whose orders hash to `digest_sum` over `count` orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveCommit {
    pub from: u64,
    pub upto: u64,
    pub count: u64,
    pub digest_sum: u64,
    /// Stamped by the leader when it proposes, so "when" is part of the log.
    pub proposed_at_ms: u64,
    pub label: String,
}

impl ArchiveCommit {
    pub fn digest(&self) -> OrderDigest {
        OrderDigest {
            sum: self.digest_sum,
            count: self.count,
        }
    }
}

/// One applied archive commit, as stored (the `archives` column family, keyed by `upto`)
/// and kept in memory: all that is left of its orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRecord {
    pub from: u64,
    pub upto: u64,
    pub count: u64,
    pub digest_sum: u64,
    /// The log index of the commit.
    pub committed_index: u64,
    pub committed_at_ms: u64,
    pub label: String,
}

impl ArchiveRecord {
    pub fn storage_key(&self) -> [u8; 8] {
        self.upto.to_be_bytes()
    }

    pub fn range(&self) -> ArchivedRange {
        ArchivedRange {
            from: self.from,
            upto: self.upto,
        }
    }

    pub fn view(&self) -> ArchiveView {
        ArchiveView {
            from: self.from,
            upto: self.upto,
            count: self.count,
            digest: OrderDigest {
                sum: self.digest_sum,
                count: self.count,
            }
            .hex(),
            committed_index: self.committed_index,
            committed_at_ms: self.committed_at_ms,
            label: self.label.clone(),
        }
    }

    /// Whether `commit` is the commit that made this record (a retry of it).
    pub fn made_by(&self, commit: &ArchiveCommit) -> bool {
        self.from == commit.from
            && self.upto == commit.upto
            && self.count == commit.count
            && self.digest_sum == commit.digest_sum
    }
}

/// The archives applied so far, oldest first; they tile orders `1..=archived_upto()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archives(imbl::Vector<ArchiveRecord>);

impl Archives {
    pub fn push(&mut self, record: ArchiveRecord) {
        self.0.push_back(record);
    }

    /// The highest archived order number (0: none).
    pub fn archived_upto(&self) -> u64 {
        self.0.last().map_or(0, |r| r.upto)
    }

    /// The archive holding order `number`, if it was archived.
    pub fn holding(&self, number: u64) -> Option<&ArchiveRecord> {
        if number == 0 || number > self.archived_upto() {
            return None;
        }
        let at = self.0.binary_search_by(|r| {
            if r.upto < number {
                std::cmp::Ordering::Less
            } else if r.from > number {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        at.ok().and_then(|i| self.0.get(i))
    }

    pub fn with_upto(&self, upto: u64) -> Option<&ArchiveRecord> {
        self.holding(upto).filter(|r| r.upto == upto)
    }

    pub fn iter(&self) -> impl Iterator<Item = &ArchiveRecord> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Orders archived in all.
    pub fn orders(&self) -> u64 {
        self.0.iter().map(|r| r.count).sum()
    }
}

/// What an archive commit did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveOutcome {
    pub record: ArchiveRecord,
    /// The same commit was applied before; nothing changed.
    pub already: bool,
}

/// Why an archive commit removed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArchiveRejection {
    /// The range does not start right after the last archive, is empty, reaches orders not
    /// placed yet, or its count is not its length.
    Range { archived_upto: u64, next_order: u64 },
    /// Too many of its orders are still within idempotency retention; `fits` is the
    /// highest `upto` that would be taken now.
    TooRecent { retained: u64, cap: u64, fits: u64 },
    /// This replica's orders in the range hash to `have_sum` over `have_count`, not to the
    /// file's digest: it keeps them (and has the `corrupt` alarm raised for itself).
    DigestMismatch { have_sum: u64, have_count: u64 },
}

impl std::fmt::Display for ArchiveRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveRejection::Range {
                archived_upto,
                next_order,
            } => write!(
                f,
                "the range must start at order {} (the archived mark is {archived_upto}) and \
                 end below {next_order} (the next order's number)",
                archived_upto + 1
            ),
            ArchiveRejection::TooRecent {
                retained,
                cap,
                fits,
            } => write!(
                f,
                "{retained} of its orders are still within idempotency retention (at most \
                 {cap} may be); archive up to order {fits} now, or wait"
            ),
            ArchiveRejection::DigestMismatch {
                have_sum,
                have_count,
            } => write!(
                f,
                "this replica's orders in the range hash to {}",
                OrderDigest {
                    sum: *have_sum,
                    count: *have_count
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(from: u64, upto: u64) -> ArchiveRecord {
        ArchiveRecord {
            from,
            upto,
            count: upto - from + 1,
            digest_sum: 9,
            committed_index: 1,
            committed_at_ms: 2,
            label: "a".into(),
        }
    }

    #[test]
    fn the_archive_holding_an_order_is_found_by_its_number() {
        let mut archives = Archives::default();
        assert_eq!(archives.archived_upto(), 0);
        assert!(archives.holding(1).is_none());
        archives.push(record(1, 10));
        archives.push(record(11, 11));
        archives.push(record(12, 500));
        assert_eq!(archives.archived_upto(), 500);
        assert_eq!(archives.holding(1).map(|r| r.upto), Some(10));
        assert_eq!(archives.holding(10).map(|r| r.upto), Some(10));
        assert_eq!(archives.holding(11).map(|r| r.from), Some(11));
        assert_eq!(archives.holding(499).map(|r| r.from), Some(12));
        assert!(archives.holding(0).is_none());
        assert!(archives.holding(501).is_none());
        assert!(archives.with_upto(11).is_some());
        assert!(archives.with_upto(12).is_none());
        assert_eq!(archives.orders(), 500);
        assert_eq!(record(1, 10).view().digest, "0000000000000009");
    }
}
