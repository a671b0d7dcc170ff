//! `[storage]`: how much disk a node may take before the cluster stops accepting new data
//! (the `nospace` alarm), and the reserve file an operator can delete to get room back.

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The least `storage.quota_bytes` may be, unless 0: below this a fresh node's empty
/// databases (RocksDB's preallocated write-ahead logs) would already pass it.
pub const MIN_QUOTA_BYTES: u64 = 16 * MIB;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// A node's data size (its log, state and snapshots, as `bazaar_node_storage_bytes`
    /// counts them) above which it raises the cluster's `nospace` alarm; 0: no quota.
    /// 8 GiB by default, four times etcd's 2 GiB because our data peaks at about three
    /// times the state: the state, the snapshot being built beside the last one, and up to
    /// a quarter of a snapshot in log (`raft.snapshot_log_percent`). That lets the state
    /// itself reach about 2.5 GiB, near etcd's bound for a database a new member copies
    /// whole; raise it with the disk.
    pub quota_bytes: u64,
    /// Free bytes on the data dir's filesystem below which the node raises the alarm;
    /// 0: never. 256 MiB by default: room for the writes in flight while the alarm is
    /// raised and committed, for RocksDB's compactions, and for the alarm itself.
    pub min_free_bytes: u64,
    /// Size of the reserve file (`<data dir>/reserve`) a node writes at start when there is
    /// room for it: a disk filled by something else can be given this much room back by
    /// deleting the file, enough for a node to restart and disarm the alarm. 0: none (and
    /// an existing one is removed). 64 MiB by default.
    pub reserve_bytes: u64,
    /// How often the leader checks that every member holds the same state (etcd's
    /// corruption check): each member's digest and content sum at one log index, and a
    /// scan of its disk. 0: never. 300 s by default: each check reads every member's whole
    /// state once (about a second per GiB here), so it costs well under 1 % of a disk's
    /// time, and damage is found within minutes. A node checks its own files at every
    /// start regardless.
    pub hash_check_interval_secs: u64,
}

impl Default for StorageSettings {
    fn default() -> Self {
        Self {
            quota_bytes: 8 * GIB,
            min_free_bytes: 256 * MIB,
            reserve_bytes: 64 * MIB,
            hash_check_interval_secs: 300,
        }
    }
}

impl StorageSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.quota_bytes != 0 && self.quota_bytes < MIN_QUOTA_BYTES {
            return Err(invalid(
                "storage.quota_bytes",
                format!("must be 0 (no quota) or at least {MIN_QUOTA_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_a_tiny_quota_is_refused_by_name() {
        let defaults = StorageSettings::default();
        defaults.validate().unwrap();
        assert_eq!(defaults.quota_bytes, 8 << 30);
        let none = StorageSettings {
            quota_bytes: 0,
            min_free_bytes: 0,
            reserve_bytes: 0,
            hash_check_interval_secs: 0,
        };
        none.validate().unwrap();
        let tiny = StorageSettings {
            quota_bytes: MIN_QUOTA_BYTES - 1,
            ..StorageSettings::default()
        };
        let err = tiny.validate().expect_err("below the least quota");
        assert!(err.to_string().contains("storage.quota_bytes"), "{err}");
        let least = StorageSettings {
            quota_bytes: MIN_QUOTA_BYTES,
            ..StorageSettings::default()
        };
        least.validate().unwrap();
    }

    #[test]
    fn sizes_are_read_from_the_file() {
        let s: StorageSettings =
            toml::from_str("quota_bytes = 33554432\nreserve_bytes = 0").expect("parses");
        assert_eq!(s.quota_bytes, 32 << 20);
        assert_eq!(s.reserve_bytes, 0);
        assert_eq!(s.min_free_bytes, StorageSettings::default().min_free_bytes);
        assert!(toml::from_str::<StorageSettings>("quota = 1").is_err());
    }
}
