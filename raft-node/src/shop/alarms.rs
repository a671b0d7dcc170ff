//! The cluster's alarms as replicated state: which are active, and what the `nospace` alarm
//! refuses. Raised and disarmed only by log entries, so every replica refuses the same
//! commands at the same index (as etcd's capped applier does).

use std::collections::BTreeMap;

use bazaar_api::{AlarmKind, AlarmView};
use serde::{Deserialize, Serialize};

/// One active alarm as stored (the alarms column family) and carried by snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRecord {
    /// Stored as its variant number: `AlarmKind`'s order is part of the log's format.
    pub kind: AlarmKind,
    pub member: u64,
    /// The log index of the entry that raised it (set by apply).
    pub raised_at: u64,
    pub detail: String,
}

impl AlarmRecord {
    pub fn key(&self) -> AlarmKey {
        (self.kind, self.member)
    }

    /// The stored key: the kind's word, a slash, the member.
    pub fn storage_key(&self) -> Vec<u8> {
        storage_key(self.kind, self.member)
    }

    pub fn view(&self) -> AlarmView {
        AlarmView {
            kind: self.kind,
            member: self.member,
            raised_at: self.raised_at,
            detail: self.detail.clone(),
        }
    }
}

pub fn storage_key(kind: AlarmKind, member: u64) -> Vec<u8> {
    format!("{kind}/{member:020}").into_bytes()
}

pub type AlarmKey = (AlarmKind, u64);

/// The active alarms, at most one per kind and member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alarms(BTreeMap<AlarmKey, AlarmRecord>);

impl Alarms {
    pub fn insert(&mut self, record: AlarmRecord) {
        self.0.insert(record.key(), record);
    }

    pub fn contains(&self, kind: AlarmKind, member: u64) -> bool {
        self.0.contains_key(&(kind, member))
    }

    pub fn any(&self, kind: AlarmKind) -> bool {
        self.0.keys().any(|(k, _)| *k == kind)
    }

    pub fn count(&self, kind: AlarmKind) -> usize {
        self.0.keys().filter(|(k, _)| *k == kind).count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn records(&self) -> impl Iterator<Item = &AlarmRecord> {
        self.0.values()
    }

    pub fn views(&self) -> Vec<AlarmView> {
        self.0.values().map(AlarmRecord::view).collect()
    }

    /// Removes the alarms of `kind` (all when `None`) and returns them.
    pub fn remove(&mut self, kind: Option<AlarmKind>) -> Vec<AlarmRecord> {
        let keys: Vec<AlarmKey> = self
            .0
            .keys()
            .filter(|(k, _)| kind.is_none_or(|want| want == *k))
            .copied()
            .collect();
        keys.iter().filter_map(|k| self.0.remove(k)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(kind: AlarmKind, member: u64) -> AlarmRecord {
        AlarmRecord {
            kind,
            member,
            raised_at: 7,
            detail: "short".into(),
        }
    }

    #[test]
    fn one_alarm_per_kind_and_member_and_removal_by_kind() {
        let mut alarms = Alarms::default();
        alarms.insert(alarm(AlarmKind::NoSpace, 1));
        alarms.insert(alarm(AlarmKind::NoSpace, 1));
        alarms.insert(alarm(AlarmKind::NoSpace, 2));
        alarms.insert(alarm(AlarmKind::Corrupt, 3));
        assert_eq!(alarms.count(AlarmKind::NoSpace), 2);
        assert!(alarms.contains(AlarmKind::Corrupt, 3));
        let gone = alarms.remove(Some(AlarmKind::NoSpace));
        assert_eq!(gone.len(), 2);
        assert!(!alarms.any(AlarmKind::NoSpace));
        assert!(alarms.any(AlarmKind::Corrupt));
        assert_eq!(alarms.remove(None).len(), 1);
        assert!(alarms.is_empty());
    }

    #[test]
    fn storage_keys_sort_by_kind_then_member() {
        assert!(storage_key(AlarmKind::NoSpace, 2) < storage_key(AlarmKind::NoSpace, 10));
        assert_ne!(
            storage_key(AlarmKind::Corrupt, 1),
            storage_key(AlarmKind::NoSpace, 1)
        );
    }
}
