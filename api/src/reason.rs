//! The error envelope's `reason`: one stable, machine-readable cause per distinct situation
//! a caller must handle, each with its HTTP status. A leaf: the envelope and the errors
//! both name it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Why a request failed: the `reason` field of the error envelope. The strings are a
/// contract; new reasons may be added, existing ones never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
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
    /// The order was archived out of the hot state (`bazaar archive commit`); the error's
    /// `archive` names the archive that holds it (`bazaar archive get FILE N` reads it).
    Archived,
    /// This process already has as many requests of this kind in flight as its
    /// `[limits]` allow: it answered at once instead of queueing the request into its
    /// deadline. Retry after the `Retry-After` seconds (writes with the same key).
    Overloaded,
    /// This client sent more requests than the frontend's per-client rate
    /// (`[limits.rate]`) allows; retry after the `Retry-After` seconds.
    RateLimited,
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
            // 410 Gone: it existed, and lives on in an archive file, not here.
            Reason::Archived => 410,
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
            | Reason::Corrupt
            | Reason::Overloaded => 503,
            // 429 Too Many Requests (RFC 6585).
            Reason::RateLimited => 429,
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
            410 => Reason::Archived,
            413 => Reason::BodyTooLarge,
            421 => Reason::NotLeader,
            422 => Reason::KeyReused,
            429 => Reason::RateLimited,
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
            Reason::Archived => "archived",
            Reason::Overloaded => "overloaded",
            Reason::RateLimited => "rate_limited",
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
