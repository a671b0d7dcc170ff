//! How the node's internal failures become API errors: the one place their reasons and
//! statuses are chosen (the envelope itself is built by `bazaar_service::respond`).

use std::time::Duration;

use bazaar_api::peer::ReadIndexError;
use bazaar_api::{ApiError, Reason};
use bazaar_service::ErrorResponse;

use crate::log_gate::LogGate;
use crate::proposer::WriteError;
use crate::store::StoreError;

pub fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::NotLeader(hint) => ApiError::not_leader(hint),
        WriteError::Unavailable(msg) => ApiError::unavailable(msg),
        WriteError::StorageFailed(msg) => ApiError::new(Reason::StorageFailed, msg),
    }
}

pub fn read_index_error(e: ReadIndexError) -> ApiError {
    match e {
        // A follower that cannot reach the leader cannot serve linearizable reads.
        ReadIndexError::NotLeader(_) => {
            ApiError::new(Reason::NoLeader, "leadership changed; retry shortly")
        }
        ReadIndexError::Unavailable(msg) => ApiError::unavailable(msg),
        e @ ReadIndexError::Overloaded(_) => ApiError::unavailable(e.to_string()),
    }
}

pub fn store_error(e: StoreError) -> ApiError {
    // Once per request: a failing disk must not turn every read into a log line.
    static GATE: LogGate = LogGate::new(Duration::from_secs(1));
    if let Some(held_back) = GATE.pass() {
        tracing::error!(cause = %e, held_back, "storage failure while serving a request");
    }
    ApiError::internal("storage failure")
}

impl From<WriteError> for ErrorResponse {
    fn from(e: WriteError) -> Self {
        ErrorResponse(write_error(e))
    }
}

impl From<StoreError> for ErrorResponse {
    fn from(e: StoreError) -> Self {
        ErrorResponse(store_error(e))
    }
}
