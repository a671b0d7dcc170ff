//! The audit trail: every admin change (catalog or membership) leaves one structured log
//! line, target `audit`, with the route, what it changed, the old and new values, the
//! outcome, the request id and where it came from.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use tower_http::request_id::RequestId;

/// Who asked, taken from the request.
#[derive(Debug, Clone)]
pub struct Audit {
    route: String,
    source: Option<SocketAddr>,
    /// The client's address as a forwarding frontend saw it.
    forwarded_for: Option<String>,
    request_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Audit {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(Self {
            route: format!("{} {}", parts.method, parts.uri.path()),
            source: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            forwarded_for: parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            request_id: parts
                .extensions
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("")
                .to_owned(),
        })
    }
}

impl Audit {
    /// Logs one change of `subject` (a product name, a member id) from `old` to `new`;
    /// `outcome` is `applied` or why it was refused.
    pub fn record(&self, subject: &str, old: &str, new: &str, outcome: &str) {
        tracing::info!(
            target: "audit",
            route = %self.route,
            subject,
            old,
            new,
            outcome,
            request_id = %self.request_id,
            source = ?self.source,
            forwarded_for = self.forwarded_for.as_deref().unwrap_or("-"),
            "admin change"
        );
    }
}
