//! Turning every failure into the error envelope with the right status; the only place
//! HTTP status codes for errors are chosen.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::{ApiError, ErrorKind, LEADER_HEADER};
use crate::proposer::WriteError;
use crate::read_index::ReadIndexError;
use crate::store::StoreError;

/// An API error on its way out.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl From<WriteError> for HttpError {
    fn from(e: WriteError) -> Self {
        HttpError(match e {
            WriteError::NotLeader(hint) => ApiError::not_leader(hint),
            WriteError::Unavailable(msg) => ApiError::unavailable(msg),
        })
    }
}

impl From<ReadIndexError> for HttpError {
    fn from(e: ReadIndexError) -> Self {
        HttpError(match e {
            // A follower that cannot reach the leader is unavailable for linearizable reads.
            ReadIndexError::NotLeader(_) => ApiError::unavailable("leadership changed; retry"),
            ReadIndexError::Unavailable(msg) => ApiError::unavailable(msg),
        })
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        tracing::error!(cause = %e, "storage failure while serving a request");
        HttpError(ApiError::new(ErrorKind::Internal, "storage failure"))
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, Json(self.0.to_envelope())).into_response();
        let headers = resp.headers_mut();
        if let Some(hint) = &self.0.leader {
            if let Ok(v) = HeaderValue::from_str(&format!("{} {}", hint.id, hint.api)) {
                headers.insert(LEADER_HEADER, v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("http://{}", hint.api)) {
                headers.insert(header::LOCATION, v);
            }
        }
        if self.0.kind == ErrorKind::Unavailable {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
