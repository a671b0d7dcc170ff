//! Why the backend layer could not get an answer from the cluster.

use bazaar_api::ApiError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// Every attempt failed (refused, timed out, no leader) until the request deadline.
    #[error("no node answered within {deadline_ms} ms (last: {last})")]
    Unavailable { deadline_ms: u64, last: String },
}

impl BackendError {
    /// What the client sees: always 503, never a 500 or a hang.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            BackendError::Unavailable { deadline_ms, .. } => ApiError::unavailable(format!(
                "the cluster did not answer within {deadline_ms} ms; retry shortly"
            )),
        }
    }
}
