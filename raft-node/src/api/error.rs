//! API errors: one kind per distinct status a caller must handle, each mapped to its HTTP
//! status code. `NotLeader` carries where the leader is, so callers can act on it.

use serde::{Deserialize, Serialize};

use super::envelope::{ErrorBody, ErrorEnvelope};

/// Where the current leader can be reached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeaderHint {
    pub id: u64,
    /// The leader's API address, `host:port`.
    pub api: String,
}

/// What went wrong, as far as a caller needs to distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnprocessableEntity,
    NotLeader,
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnprocessableEntity => 422,
            // 421 Misdirected Request: this node cannot take the write; `leader` says who can.
            ErrorKind::NotLeader => 421,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }

    pub fn from_status(status: u16) -> Self {
        match status {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            413 => ErrorKind::PayloadTooLarge,
            422 => ErrorKind::UnprocessableEntity,
            421 => ErrorKind::NotLeader,
            503 => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

/// An error as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({status})", status = kind.status())]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    pub leader: Option<LeaderHint>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            leader: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorKind::Unauthorized,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        )
    }
    /// This node cannot serve the request; `leader` is the node that can, if known.
    pub fn not_leader(leader: Option<LeaderHint>) -> Self {
        match leader {
            Some(hint) => Self {
                kind: ErrorKind::NotLeader,
                message: format!(
                    "not the leader; the leader is node {} at {}",
                    hint.id, hint.api
                ),
                leader: Some(hint),
            },
            None => Self::unavailable("no leader is known yet; retry shortly"),
        }
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    pub fn to_envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.status(),
                message: self.message.clone(),
                leader: self.leader.clone(),
            },
        }
    }

    pub fn from_envelope(env: ErrorEnvelope) -> Self {
        Self {
            kind: ErrorKind::from_status(env.error.code),
            message: env.error.message,
            leader: env.error.leader,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_leader_round_trips_through_the_envelope() {
        let err = ApiError::not_leader(Some(LeaderHint {
            id: 2,
            api: "127.0.0.1:7002".into(),
        }));
        let json = serde_json::to_string(&err.to_envelope()).unwrap();
        assert!(json.contains("\"code\":421"), "{json}");
        let back = ApiError::from_envelope(serde_json::from_str(&json).unwrap());
        assert_eq!(back, err);
    }

    #[test]
    fn not_leader_without_a_known_leader_is_unavailable() {
        assert_eq!(ApiError::not_leader(None).status(), 503);
    }
}
