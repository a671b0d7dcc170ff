//! Where the leader is: the hint a not-leader answer carries, built and read in this one
//! place (the node builds it from openraft's view through [`LeaderHint::new`]).

use serde::{Deserialize, Serialize};

use crate::envelope::ErrorEnvelope;

/// Where the current leader can be reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
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

    /// The leader a 421 answer names: the envelope's `error.leader`, else the header.
    pub fn from_answer(body: &[u8], header: Option<&str>) -> Option<Self> {
        if let Ok(env) = serde_json::from_slice::<ErrorEnvelope>(body) {
            if let Some(hint) = env.error.leader {
                return Some(hint);
            }
        }
        Self::parse_header(header?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_comes_from_the_envelope_or_the_header() {
        let body =
            br#"{"error":{"code":421,"message":"x","leader":{"id":2,"api":"127.0.0.1:7002"}}}"#;
        assert_eq!(
            LeaderHint::from_answer(body, None),
            Some(LeaderHint::new(2, "127.0.0.1:7002"))
        );
        assert_eq!(
            LeaderHint::from_answer(b"not json", Some("3 127.0.0.1:7003")),
            Some(LeaderHint::new(3, "127.0.0.1:7003"))
        );
        assert!(LeaderHint::from_answer(b"{}", None).is_none());
        assert!(LeaderHint::parse_header("x 127.0.0.1:1").is_none());
        assert!(LeaderHint::parse_header("3 ").is_none());
    }

    #[test]
    fn header_round_trips() {
        let h = LeaderHint::new(7, "node7:7001");
        assert_eq!(LeaderHint::parse_header(&h.header_value()), Some(h));
    }
}
