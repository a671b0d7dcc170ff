//! Bearer-token guard shared by a node's peer RPC and its admin routes: one constant-time
//! comparison of the `Authorization: Bearer` token, an envelope 401 otherwise.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ErrorResponse;
use bazaar_api::ApiError;

/// Compares without an early exit, so response timing does not reveal the token's prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware (`axum::middleware::from_fn_with_state`) that lets a request through only with
/// the bearer token held in its state.
pub async fn require_token(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(p) if same(p.as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => ErrorResponse(ApiError::unauthorized()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_whole_tokens() {
        assert!(super::same(b"secret-token", b"secret-token"));
        assert!(!super::same(b"secret-token", b"secret-tokem"));
        assert!(!super::same(b"secret", b"secret-token"));
    }
}
