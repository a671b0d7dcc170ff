//! `GET /admin/archive/stream?upto=N` streams the orders after the last archive up to N as an
//! archive file, from a linearizable view and one RocksDB snapshot, straight into the body
//! (no temporary file: a range can be most of the disk). `POST /admin/archive/commit` has
//! the leader check the file's digest against its own orders and propose the removal.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bazaar_api::archive::{ArchiveCommitAnswer, ArchiveCommitRequest, ArchiveHeader};
use bazaar_api::{ApiError, Consistency, Reason, INDEX_HEADER};
use bazaar_service::respond::{json_body, ok, query};
use bazaar_service::ErrorResponse;
use futures::StreamExt;
use serde::Deserialize;

use super::audit::Audit;
use super::error::{store_error, write_error};
use super::state::AppState;
use crate::archive::ArchiveError;
use crate::store::stream_archive;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    upto: u64,
}

pub async fn stream(
    State(s): State<Arc<AppState>>,
    q: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ErrorResponse> {
    let q = query(q)?;
    let view = s.read_view(Consistency::Linearizable).await?;
    let from = view.shop.archived_upto() + 1;
    let last = view.shop.orders_created();
    if q.upto < from || q.upto > last {
        return Err(ApiError::new(
            Reason::Conflict,
            format!(
                "nothing to archive up to order {}: orders {from}..={last} are held (the \
                 archived mark is {})",
                q.upto,
                from - 1
            ),
        )
        .into());
    }
    let header = ArchiveHeader {
        from,
        upto: q.upto,
        index: view.applied_index(),
        node: s.status.id,
        saved_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    };
    tracing::info!(
        from,
        upto = q.upto,
        index = header.index,
        "streaming an archive"
    );
    let mut chunks = stream_archive(view.db.clone(), header);
    let chunks = futures::stream::poll_fn(move |cx| chunks.poll_recv(cx))
        .map(|chunk| chunk.map(Bytes::from));
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(INDEX_HEADER, HeaderValue::from(view.applied_index()));
    Ok(response)
}

pub async fn commit(
    State(s): State<Arc<AppState>>,
    audit: Audit,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let req: ArchiveCommitRequest = json_body(raw)?;
    // Every commit applied before this request is in the view the leader checks against.
    s.read_view(Consistency::Linearizable).await?;
    let subject = format!("archive of orders {}..={}", req.from, req.upto);
    let before = format!("archived up to {}", s.reader.current().shop.archived_upto());
    let result = s.archiver.commit(&req).await;
    let after = format!("archived up to {}", s.reader.current().shop.archived_upto());
    match &result {
        Ok(o) if o.already => audit.record(&subject, &before, &after, "already committed"),
        Ok(_) => audit.record(&subject, &before, &after, "committed"),
        Err(e) => audit.record(&subject, &before, &after, &format!("refused: {e}")),
    }
    let outcome = result.map_err(archive_error)?;
    let answer = ArchiveCommitAnswer {
        archive: outcome.record.view(),
        already: outcome.already,
    };
    Ok(ok(&answer, s.reader.applied_index()))
}

fn archive_error(e: ArchiveError) -> ApiError {
    match e {
        ArchiveError::NotLeader(hint) => ApiError::not_leader(hint),
        ArchiveError::BadRequest(why) => ApiError::bad_request(why),
        ArchiveError::Refused(why) => ApiError::new(Reason::Conflict, why),
        ArchiveError::Store(e) => store_error(e),
        ArchiveError::Write(e) => write_error(e),
        ArchiveError::Unexpected(what) => ApiError::internal(what),
    }
}
