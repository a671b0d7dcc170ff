//! API errors as they cross the wire: a [`Reason`] (which decides the status), a message
//! and, on a not-leader answer, where the leader is, so callers can act on it.

use crate::archive::ArchiveView;
use crate::envelope::{ErrorBody, ErrorEnvelope};
use crate::leader::LeaderHint;
use crate::reason::Reason;

/// An error as it crosses the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({status} {reason})", status = reason.status())]
pub struct ApiError {
    pub reason: Reason,
    pub message: String,
    pub leader: Option<LeaderHint>,
    /// On an `archived` answer: the archive that holds the order (boxed: most errors
    /// have none, and every `Result` carrying an `ApiError` pays for its size).
    pub archive: Option<Box<ArchiveView>>,
    /// Seconds the caller should wait before retrying, when the answer says so: the
    /// `Retry-After` header and the envelope's `retry_after_secs`. Without it a 503 says
    /// one second (about an election).
    pub retry_after_secs: Option<u32>,
}

impl ApiError {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            leader: None,
            archive: None,
            retry_after_secs: None,
        }
    }
    /// Order `number` was archived into `archive` (410).
    pub fn archived(number: u64, archive: ArchiveView) -> Self {
        Self {
            message: format!(
                "order {number} was archived (orders {}..={}, digest {}, committed at index {}); \
                 `bazaar archive get FILE {number}` reads it from the archive file",
                archive.from, archive.upto, archive.digest, archive.committed_index
            ),
            archive: Some(Box::new(archive)),
            ..Self::new(Reason::Archived, "")
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
    /// Shed at admission (503 `overloaded`): `what` names the kind of request whose bound
    /// is reached; retry after `retry_after_secs`.
    pub fn overloaded(what: &str, retry_after_secs: u32) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                Reason::Overloaded,
                format!("too many {what} in flight here already; retry after {retry_after_secs} s"),
            )
        }
    }
    /// Shed at admission (503 `overloaded`) because the server is behind: the requests it
    /// has not read yet wait over `target_ms` for a core; retry after `retry_after_secs`.
    pub fn behind(target_ms: u64, retry_after_secs: u32) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                Reason::Overloaded,
                format!(
                    "this server is behind (requests wait over {target_ms} ms to be read); \
                     retry after {retry_after_secs} s"
                ),
            )
        }
    }
    /// Over this client's rate (429 `rate_limited`); retry after `retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u32) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(
                Reason::RateLimited,
                format!("over this client's request rate; retry after {retry_after_secs} s"),
            )
        }
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
                archive: None,
                retry_after_secs: None,
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
                archive: self.archive.as_deref().cloned(),
                retry_after_secs: self.retry_after_secs,
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
            archive: env.error.archive.map(Box::new),
            retry_after_secs: env.error.retry_after_secs,
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
    const ALL_REASONS: [Reason; 23] = [
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
        Reason::Archived,
        Reason::Overloaded,
        Reason::RateLimited,
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
            | Reason::Corrupt
            | Reason::Archived
            | Reason::Overloaded
            | Reason::RateLimited => {}
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
    fn an_archived_order_is_a_410_naming_its_archive() {
        let view = ArchiveView {
            from: 1,
            upto: 500,
            count: 500,
            digest: "00000000000000ff".into(),
            committed_index: 900,
            committed_at_ms: 5,
            label: "orders-1-500.archive".into(),
        };
        let e = ApiError::archived(42, view.clone());
        assert_eq!(e.status(), 410);
        assert!(e.message.contains("1..=500"), "{}", e.message);
        let json = serde_json::to_string(&e.to_envelope()).unwrap();
        let back = ApiError::from_envelope(serde_json::from_str(&json).unwrap());
        assert_eq!(back.archive.as_deref(), Some(&view));
        assert_eq!(back, e);
        assert_eq!(Reason::from_status(410), Reason::Archived);
    }

    #[test]
    fn shed_and_rate_limited_answers_say_when_to_retry_in_the_envelope() {
        let e = ApiError::overloaded("writes", 3);
        assert_eq!(e.status(), 503);
        assert!(e.reason.is_unavailable());
        assert!(e.message.contains("writes"), "{}", e.message);
        let json = serde_json::to_string(&e.to_envelope()).unwrap();
        assert!(json.contains("\"reason\":\"overloaded\""), "{json}");
        assert!(json.contains("\"retry_after_secs\":3"), "{json}");
        let back = ApiError::from_envelope(serde_json::from_str(&json).unwrap());
        assert_eq!(back, e);

        let e = ApiError::rate_limited(2);
        assert_eq!(e.status(), 429);
        assert_eq!(Reason::from_status(429), Reason::RateLimited);
        let json = serde_json::to_string(&e.to_envelope()).unwrap();
        assert!(json.contains("\"reason\":\"rate_limited\""), "{json}");
        assert_eq!(
            ApiError::from_envelope(serde_json::from_str(&json).unwrap()),
            e
        );
        // Other errors carry no hint, and their envelopes do not mention one.
        let json = serde_json::to_string(&ApiError::unavailable("x").to_envelope()).unwrap();
        assert!(!json.contains("retry_after"), "{json}");
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
