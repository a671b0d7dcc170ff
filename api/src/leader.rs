//! Where the leader is: the hint a not-leader answer carries (the node builds it from
//! openraft's view through [`LeaderHint::new`]) and its header form. A leaf: reading it
//! from a whole answer (`LeaderHint::from_answer`) lives with the envelope.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where the current leader can be reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct LeaderHint {
    pub id: u64,
    /// The leader's API address, `host:port`.
    pub api: String,
}

impl LeaderHint {
    pub fn new(id: u64, api: impl Into<String>) -> Self {
        Self {
            id,
            api: api.into(),
        }
    }

    /// The `X-Bazaar-Leader` header value: `<id> <api>`.
    pub fn header_value(&self) -> String {
        format!("{} {}", self.id, self.api)
    }

    /// Reads an `X-Bazaar-Leader` header value.
    pub fn parse_header(value: &str) -> Option<Self> {
        let (id, api) = value.trim().split_once(' ')?;
        let api = api.trim();
        if api.is_empty() {
            return None;
        }
        Some(Self::new(id.parse().ok()?, api))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = LeaderHint::new(7, "node7:7001");
        assert_eq!(LeaderHint::parse_header(&h.header_value()), Some(h));
    }
}
