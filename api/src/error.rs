//! API errors: one stable, machine-readable reason per distinct situation a caller must
//! handle, each with its HTTP status. `NotLeader` carries where the leader is, so callers
//! can act on it.

use serde::{Deserialize, Serialize};

use crate::envelope::{ErrorBody, ErrorEnvelope};
use crate::leader::LeaderHint;

/// Why a request failed: the `reason` field of the error envelope. The strings are a
/// contract; new reasons may be added, existing ones never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Malformed or out-of-range input (body, path, query or header).
    BadRequest,
    /// Missing or wrong bearer token on an admin or peer route.
    Unauthorized,
    /// No such product.
    UnknownProduct,
    /// No such order.
    UnknownOrder,
    /// No such cluster member.
    UnknownMember,
    /// No such route (or a route this process does not serve).
    UnknownRoute,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// Not enough units in stock for the order.
    InsufficientStock,
    /// The request body is over the limit.
    BodyTooLarge,
    /// The Idempotency-Key was first used for a different request.
    KeyReused,
    /// The change is not allowed in the cluster's current state (a membership change
    /// that conflicts with one in progress, a member that already exists, ...).
    Conflict,
    /// This node does not take writes; `leader` names the node that does.
    NotLeader,
    /// No leader is known right now (an election is under way).
    NoLeader,
    /// The leader cannot reach a quorum, or the write did not commit within its deadline.
    /// The write may still commit: retry with the same Idempotency-Key.
    Unavailable,
    /// The request did not finish within the route's time limit.
    Timeout,
    /// `/readyz`: this process cannot serve yet (no leader, no quorum, too far behind).
    NotReady,
    /// This node's storage failed (a write, sync or read of its log, vote, state or
    /// snapshot): it serves no writes or linearizable reads and exits for its supervisor
    /// to restart it. Other nodes may answer.
    StorageFailed,
    /// Something failed that is not the caller's fault.
    Internal,
    /// The cluster's `nospace` alarm is active: new orders and new products are refused
    /// until an operator frees space and disarms it (`bazaar alarm disarm`). Reads, admin
    /// updates of existing products, membership and leadership changes still work.
    NoSpace,
    /// This node's state was found to differ from the leader's (the `corrupt` alarm names
    /// it): it serves no reads. Other nodes answer.
    Corrupt,
}

impl Reason {
    pub fn status(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::UnknownProduct
            | Reason::UnknownOrder
            | Reason::UnknownMember
            | Reason::UnknownRoute => 404,
            Reason::MethodNotAllowed => 405,
            Reason::InsufficientStock | Reason::Conflict => 409,
            Reason::BodyTooLarge => 413,
            // 421 Misdirected Request: this node cannot take the write; `leader` says who can.
            Reason::NotLeader => 421,
            Reason::KeyReused => 422,
            Reason::NoLeader
            | Reason::Unavailable
            | Reason::Timeout
            | Reason::NotReady
            | Reason::StorageFailed
            | Reason::Corrupt => 503,
            Reason::Internal => 500,
            // 507 Insufficient Storage, as WebDAV defines it.
            Reason::NoSpace => 507,
        }
    }

    /// The reason a bare status implies, for answers that carry no `reason` (servers
    /// older than the field, or a proxy's own error page).
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Reason::BadRequest,
            401 => Reason::Unauthorized,
            404 => Reason::UnknownRoute,
            405 => Reason::MethodNotAllowed,
            409 => Reason::Conflict,
            413 => Reason::BodyTooLarge,
            421 => Reason::NotLeader,
            422 => Reason::KeyReused,
            502..=504 => Reason::Unavailable,
            408 => Reason::Timeout,
            507 => Reason::NoSpace,
            _ => Reason::Internal,
        }
    }

    /// The snake_case string of the envelope.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "bad_request",
            Reason::Unauthorized => "unauthorized",
            Reason::UnknownProduct => "unknown_product",
            Reason::UnknownOrder => "unknown_order",
            Reason::UnknownMember => "unknown_member",
            Reason::UnknownRoute => "unknown_route",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::InsufficientStock => "insufficient_stock",
            Reason::BodyTooLarge => "body_too_large",
            Reason::KeyReused => "key_reused",
            Reason::Conflict => "conflict",
            Reason::NotLeader => "not_leader",
            Reason::NoLeader => "no_leader",
            Reason::Unavailable => "unavailable",
            Reason::Timeout => "timeout",
            Reason::NotReady => "not_ready",
            Reason::StorageFailed => "storage_failed",
            Reason::Internal => "internal",
            Reason::NoSpace => "no_space",
            Reason::Corrupt => "corrupt",
        }
    }

    /// A 503: the request may succeed if retried shortly (writes with the same key).
    pub fn is_unavailable(self) -> bool {
        self.status() == 503
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({status} {reason})", status = reason.status())]
pub struct ApiError {
    pub reason: Reason,
    pub message: String,
    pub leader: Option<LeaderHint>,
}

impl ApiError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            leader: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Reason::Unavailable, message)
    }
    pub fn unknown_product(name: &str) -> Self {
        Self::new(Reason::UnknownProduct, format!("unknown product {name:?}"))
    }
    pub fn unknown_order(number: u64) -> Self {
        Self::new(Reason::UnknownOrder, format!("unknown order {number}"))
    }
    pub fn unauthorized() -> Self {
        Self::new(
            Reason::Unauthorized,
            "missing or wrong bearer token (Authorization: Bearer <token>)",
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Reason::Internal, message)
    }
    /// This node cannot take the request; `leader` is the node that can, if known.
    pub fn not_leader(leader: Option<LeaderHint>) -> Self {
        match leader {
            Some(hint) => Self {
                reason: Reason::NotLeader,
                message: format!(
                    "not the leader; the leader is node {} at {}",
                    hint.id, hint.api
                ),
                leader: Some(hint),
            },
            None => Self::new(Reason::NoLeader, "no leader is known yet; retry shortly"),
        }
    }

    pub fn status(&self) -> u16 {
        self.reason.status()
    }

    pub fn to_envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.status(),
                reason: Some(self.reason),
                message: self.message.clone(),
                leader: self.leader.clone(),
            },
        }
    }

    /// The error an envelope describes; without a `reason`, the status decides.
    pub fn from_envelope(env: ErrorEnvelope) -> Self {
        Self {
            reason: env
                .error
                .reason
                .unwrap_or_else(|| Reason::from_status(env.error.code)),
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
        assert!(json.contains("\"reason\":\"not_leader\""), "{json}");
        let back = ApiError::from_envelope(serde_json::from_str(&json).unwrap());
        assert_eq!(back, err);
    }

    #[test]
    fn not_leader_without_a_known_leader_is_unavailable() {
        let e = ApiError::not_leader(None);
        assert_eq!(e.status(), 503);
        assert_eq!(e.reason, Reason::NoLeader);
    }

    /// Every reason, each once. The match below stops compiling when a variant is added
    /// and not listed here, so the test that uses this list always covers them all.
    const ALL_REASONS: [Reason; 20] = [
        Reason::BadRequest,
        Reason::Unauthorized,
        Reason::UnknownProduct,
        Reason::UnknownOrder,
        Reason::UnknownMember,
        Reason::UnknownRoute,
        Reason::MethodNotAllowed,
        Reason::InsufficientStock,
        Reason::BodyTooLarge,
        Reason::KeyReused,
        Reason::Conflict,
        Reason::NotLeader,
        Reason::NoLeader,
        Reason::Unavailable,
        Reason::Timeout,
        Reason::NotReady,
        Reason::StorageFailed,
        Reason::Internal,
        Reason::NoSpace,
        Reason::Corrupt,
    ];

    #[allow(dead_code)]
    fn every_reason_is_listed(r: Reason) {
        match r {
            Reason::BadRequest
            | Reason::Unauthorized
            | Reason::UnknownProduct
            | Reason::UnknownOrder
            | Reason::UnknownMember
            | Reason::UnknownRoute
            | Reason::MethodNotAllowed
            | Reason::InsufficientStock
            | Reason::BodyTooLarge
            | Reason::KeyReused
            | Reason::Conflict
            | Reason::NotLeader
            | Reason::NoLeader
            | Reason::Unavailable
            | Reason::Timeout
            | Reason::NotReady
            | Reason::StorageFailed
            | Reason::Internal
            | Reason::NoSpace
            | Reason::Corrupt => {}
        }
    }

    #[test]
    fn reason_strings_match_serde() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ALL_REASONS {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
            assert!(seen.insert(r.as_str()), "{r:?} listed twice");
        }
    }

    #[test]
    fn a_failed_store_is_a_503_that_clients_retry_elsewhere() {
        assert_eq!(Reason::StorageFailed.status(), 503);
        assert!(Reason::StorageFailed.is_unavailable());
        assert_eq!(Reason::StorageFailed.as_str(), "storage_failed");
    }

    #[test]
    fn no_space_is_a_507_that_a_retry_soon_does_not_mend() {
        assert_eq!(Reason::NoSpace.status(), 507);
        assert!(!Reason::NoSpace.is_unavailable());
        assert_eq!(Reason::from_status(507), Reason::NoSpace);
        assert_eq!(Reason::Corrupt.status(), 503);
    }

    #[test]
    fn an_envelope_without_a_reason_is_read_by_its_status() {
        let e = ApiError::from_envelope(
            serde_json::from_str(r#"{"error":{"code":409,"message":"out"}}"#).unwrap(),
        );
        assert_eq!(e.reason, Reason::Conflict);
        assert_eq!(e.status(), 409);
    }
}
