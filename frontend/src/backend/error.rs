//! Why the backend layer could not get an answer from the cluster.

use bazaar_api::ApiError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum BackendError {
    /// Every attempt failed (refused, timed out, no leader) until the request deadline.
    #[error("no node answered within {deadline_ms} ms (last: {last})")]
    Unavailable { deadline_ms: u64, last: String },
    /// No node showed a sign of a leader for the no-leader grace: given up before the
    /// deadline, since no node can answer until an election ends.
    #[error("no node showed a leader for {grace_ms} ms (last: {last})")]
    Leaderless { grace_ms: u64, last: String },
}

impl BackendError {
    /// What the client sees: always 503, never a 500 or a hang.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            BackendError::Unavailable { deadline_ms, .. } => ApiError::unavailable(format!(
                "the cluster did not answer within {deadline_ms} ms; retry shortly"
            )),
            BackendError::Leaderless { grace_ms, .. } => ApiError::unavailable(format!(
                "no node showed a leader for {grace_ms} ms; retry shortly"
            )),
        }
    }
}
