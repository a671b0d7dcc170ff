//! `[archive]`: when a node warns that the hot state holds more orders than the operator
//! wants to keep there. Archiving itself stays an operator's action (`bazaar archive save`
//! and `commit`), because the file must be kept somewhere safe.

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};

/// The least `archive.keep_recent_orders` may be, unless 0: below this the warning would
/// fire on every busy minute.
pub const MIN_KEEP_RECENT_ORDERS: u64 = 1_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Orders the hot state may hold (created, less archived) before the leader raises the
    /// warn-only `archive_due` alarm (it refuses nothing; it ends once an archive brings
    /// the count back under). 0, the default: no warning.
    pub keep_recent_orders: u64,
}

impl ArchiveSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let k = self.keep_recent_orders;
        if k != 0 && k < MIN_KEEP_RECENT_ORDERS {
            return Err(invalid(
                "archive.keep_recent_orders",
                format!("must be 0 (no warning) or at least {MIN_KEEP_RECENT_ORDERS}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_a_tiny_limit_is_refused_by_name() {
        ArchiveSettings::default().validate().unwrap();
        assert_eq!(ArchiveSettings::default().keep_recent_orders, 0);
        let tiny = ArchiveSettings {
            keep_recent_orders: 10,
        };
        let err = tiny.validate().unwrap_err().to_string();
        assert!(err.contains("archive.keep_recent_orders"), "{err}");
        ArchiveSettings {
            keep_recent_orders: 100_000,
        }
        .validate()
        .unwrap();
    }
}
