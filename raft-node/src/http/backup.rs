//! `GET /admin/backup`: a consistent copy of the state machine, streamed. It holds every write
//! acknowledged before the request (a linearizable read barrier first), is dumped from a
//! RocksDB snapshot into a file that is unlinked once open, and is sent from that file, so
//! memory stays flat and nothing is left behind however the download ends.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bazaar_api::{ApiError, Consistency, DIGEST_HEADER, INDEX_HEADER};
use bazaar_service::ErrorResponse;
use tokio_util::io::ReaderStream;

use super::error::store_error;
use super::state::AppState;
use crate::store::dump_backup;

/// Chunk size of the download.
const CHUNK: usize = 256 * 1024;

/// Removes what an interrupted dump left in `dir` (they are unlinked once open, so only a
/// crash mid-dump leaves one).
pub fn clear_leftovers(dir: &Path) {
    if dir.exists() {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            tracing::warn!(dir = %dir.display(), cause = %e, "cannot clear old backup files");
        }
    }
}

pub async fn backup(State(s): State<Arc<AppState>>) -> Result<Response, ErrorResponse> {
    let view = s.read_view(Consistency::Linearizable).await?;
    tokio::fs::create_dir_all(&s.backup_dir)
        .await
        .map_err(|e| store_error(e.into()))?;
    let path = s
        .backup_dir
        .join(format!("backup-{}.part", uuid::Uuid::new_v4().simple()));
    let dumped = match dump_backup(&view, &path).await {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(store_error(e).into());
        }
    };
    let file = tokio::fs::File::open(&path).await;
    // Unlinked now: the open handle reads it to the end, and the disk space comes back
    // when the download ends, whichever way.
    let _ = tokio::fs::remove_file(&path).await;
    let file = file.map_err(|e| store_error(e.into()))?;
    let meta = &dumped.header.meta;
    tracing::info!(
        index = meta.applied_index(),
        bytes = dumped.bytes,
        "backup dumped; sending"
    );
    let header_value = |v: String| {
        HeaderValue::from_str(&v).map_err(|e| ApiError::internal(format!("bad header: {e}")))
    };
    let mut response = Response::new(Body::from_stream(ReaderStream::with_capacity(file, CHUNK)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(dumped.bytes));
    headers.insert(INDEX_HEADER, HeaderValue::from(meta.applied_index()));
    headers.insert(DIGEST_HEADER, header_value(meta.digest.hex())?);
    headers.insert(
        header::CONTENT_DISPOSITION,
        header_value(format!(
            "attachment; filename=\"bazaar-{}.backup\"",
            meta.applied_index()
        ))?,
    );
    Ok(response)
}
