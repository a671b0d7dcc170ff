//! The toy-store response envelope: `{"data": ...}` on success,
//! `{"error": {"code": .., "reason": .., "message": ..}}` on failure.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::archive::ArchiveView;
use crate::leader::LeaderHint;
use crate::reason::Reason;

/// A successful answer: `{"data": T}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Envelope<T> {
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

/// The body of a failed answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code, repeated in the body as the earlier clients expect.
    pub code: u16,
    /// Stable machine-readable cause; absent from older servers' answers, and read as
    /// absent when it is a reason this build does not know.
    #[serde(
        default,
        deserialize_with = "known_reason",
        skip_serializing_if = "Option::is_none"
    )]
    pub reason: Option<Reason>,
    pub message: String,
    /// Set on not-leader answers so a caller can retry at the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderHint>,
    /// Set on `archived` answers: the archive that holds the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveView>,
    /// Set on answers that say when to retry (`overloaded`, `rate_limited`): the seconds
    /// of their `Retry-After` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u32>,
}

/// A failed answer: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

impl LeaderHint {
    /// The leader a 421 answer names: the envelope's `error.leader`, else the
    /// `X-Bazaar-Leader` header. Here rather than in `leader.rs`, which the envelope names.
    pub fn from_answer(body: &[u8], header: Option<&str>) -> Option<Self> {
        if let Ok(env) = serde_json::from_slice::<ErrorEnvelope>(body) {
            if let Some(hint) = env.error.leader {
                return Some(hint);
            }
        }
        Self::parse_header(header?)
    }
}

/// A reason added by a newer server must not make the whole answer unreadable.
fn known_reason<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Reason>, D::Error> {
    let raw = Option::<serde_json::Value>::deserialize(d)?;
    Ok(raw.and_then(|v| serde_json::from_value(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_reason_reads_as_none() {
        let env: ErrorEnvelope =
            serde_json::from_str(r#"{"error":{"code":503,"reason":"martian","message":"m"}}"#)
                .unwrap();
        assert_eq!(env.error.reason, None);
        assert_eq!(env.error.code, 503);
    }

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
}
