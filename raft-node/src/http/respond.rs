//! Building success answers (`{"data": ..}` plus the applied-index header) and parsing
//! request parts into 4xx answers instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::HttpError;
use crate::api::{ApiError, Envelope, ErrorKind, INDEX_HEADER};

/// `{"data": data}`, with the applied index the answer reflects.
pub fn ok<T: Serialize>(data: T, index: u64) -> Response {
    let mut resp = Json(Envelope::new(data)).into_response();
    resp.headers_mut()
        .insert(INDEX_HEADER, HeaderValue::from(index));
    resp
}

/// Parses a JSON body, answering 413 for a body over the limit and 400 for anything else.
pub fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, HttpError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "body is larger than {} bytes",
                    crate::api::MAX_API_BODY_BYTES
                ),
            )
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| HttpError(ApiError::bad_request(format!("invalid JSON body: {e}"))))
}

pub async fn no_route() -> HttpError {
    HttpError(ApiError::not_found("no such route"))
}
