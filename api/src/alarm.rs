//! Cluster-wide alarms, replicated through the log as etcd's are: `nospace` (a member's data
//! is over `storage.quota_bytes` or its disk under `storage.min_free_bytes`; the leader
//! refuses new orders and products until an operator disarms it) and `corrupt` (a member's
//! state digest differs from the leader's at one applied index; that member serves no
//! reads). The bodies of `/cluster`'s `alarms`, `POST /admin/alarms/disarm` and the peer
//! routes that raise an alarm and report a member's space.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an alarm is about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// A member is short of disk space (over its quota, or its disk under the floor).
    #[serde(rename = "nospace")]
    NoSpace,
    /// A member's state differs from the leader's at the same applied index.
    Corrupt,
    /// The hot state holds more orders than `archive.keep_recent_orders` (member 0: the
    /// cluster). A warning only: it refuses nothing.
    ArchiveDue,
}

impl AlarmKind {
    pub const ALL: [AlarmKind; 3] = [
        AlarmKind::NoSpace,
        AlarmKind::Corrupt,
        AlarmKind::ArchiveDue,
    ];

    /// The word used in JSON, metrics labels and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::NoSpace => "nospace",
            AlarmKind::Corrupt => "corrupt",
            AlarmKind::ArchiveDue => "archive_due",
        }
    }
}

impl std::fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AlarmKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AlarmKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown alarm kind {s:?} (nospace, corrupt or archive_due)"))
    }
}

/// One active alarm, as `/cluster` and `bazaar alarm list` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlarmView {
    pub kind: AlarmKind,
    /// The member the alarm is about.
    pub member: u64,
    /// The log index the alarm was raised at.
    pub raised_at: u64,
    /// Why, in figures (for `nospace`: the member's data size, quota, free bytes, floor).
    pub detail: String,
}

/// `POST /admin/alarms/disarm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DisarmRequest {
    /// Only alarms of this kind; every kind when absent.
    #[serde(default)]
    pub kind: Option<AlarmKind>,
    /// Disarm `nospace` even when a voter cannot be asked for its space (a voter that
    /// answers and is still short refuses the disarm regardless).
    #[serde(default)]
    pub force: bool,
}

/// The answer to a disarm: the alarms it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DisarmAnswer {
    pub disarmed: Vec<AlarmView>,
}

/// `POST /raft/alarm`: a member asks the leader to raise an alarm through the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RaiseAlarmRequest {
    pub kind: AlarmKind,
    pub member: u64,
    pub detail: String,
}

/// `POST /raft/space`: a member's disk figures, which a leader checks before a disarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SpaceReport {
    pub member: u64,
    /// Log, state and snapshots on disk.
    pub data_bytes: u64,
    pub free_bytes: u64,
    pub quota_bytes: u64,
    pub min_free_bytes: u64,
}

impl SpaceReport {
    /// Why this member is short of space, in figures; `None` when it is not.
    pub fn shortage(&self) -> Option<String> {
        let over_quota = self.quota_bytes > 0 && self.data_bytes > self.quota_bytes;
        let under_floor = self.min_free_bytes > 0 && self.free_bytes < self.min_free_bytes;
        if !over_quota && !under_floor {
            return None;
        }
        Some(format!(
            "node {}: data {} (quota {}), disk free {} (floor {})",
            self.member,
            mib(self.data_bytes),
            mib(self.quota_bytes),
            mib(self.free_bytes),
            mib(self.min_free_bytes)
        ))
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_and_write_as_their_words() {
        for kind in AlarmKind::ALL {
            assert_eq!(kind.as_str().parse::<AlarmKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert!("full".parse::<AlarmKind>().is_err());
    }

    #[test]
    fn a_member_is_short_over_its_quota_or_under_its_floor() {
        let report = SpaceReport {
            member: 2,
            data_bytes: 100,
            free_bytes: 1000,
            quota_bytes: 200,
            min_free_bytes: 500,
        };
        assert_eq!(report.shortage(), None);
        let over = SpaceReport {
            data_bytes: 300,
            ..report.clone()
        };
        assert!(over.shortage().unwrap().starts_with("node 2: data"));
        let under = SpaceReport {
            free_bytes: 400,
            ..report.clone()
        };
        assert!(under.shortage().is_some());
        let unlimited = SpaceReport {
            data_bytes: u64::MAX,
            free_bytes: 0,
            quota_bytes: 0,
            min_free_bytes: 0,
            ..report
        };
        assert_eq!(unlimited.shortage(), None, "0 turns a check off");
    }
}
