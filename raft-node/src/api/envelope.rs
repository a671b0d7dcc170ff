//! The toy-store response envelope: `{"data": ...}` on success,
//! `{"error": {"code": .., "message": ..}}` on failure.

use serde::{Deserialize, Serialize};

use super::error::LeaderHint;

/// A successful answer: `{"data": T}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope<T> {
    pub data: T,
}

impl<T> Envelope<T> {
    pub fn new(data: T) -> Self {
        Self { data }
    }
}

/// The body of a failed answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// The HTTP status code, repeated in the body as the earlier clients expect.
    pub code: u16,
    pub message: String,
    /// Set on not-leader answers so a caller can retry at the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderHint>,
}

/// A failed answer: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}
