//! The state machine's metadata, written atomically with every apply batch and carried at
//! the head of every snapshot and backup.

use serde::{Deserialize, Serialize};

use crate::shop::StateDigest;
use crate::types::{LogId, StoredMembership};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmMeta {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub next_order: u64,
    pub seeded: bool,
    pub digest: StateDigest,
}

impl SmMeta {
    pub fn applied_index(&self) -> u64 {
        self.last_applied.map(|l| l.index).unwrap_or(0)
    }
}
