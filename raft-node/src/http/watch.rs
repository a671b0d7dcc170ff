//! `GET /watch?from=INDEX`: the change feed as newline-delimited JSON, resumable by index.

use std::sync::Arc;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::watch;

use bazaar_api::WatchMessage;
use bazaar_service::respond::query;
use bazaar_service::ErrorResponse;
use tokio_util::sync::CancellationToken;

use super::state::AppState;
use crate::feed::{ChangeFeed, Resume};

/// An idle stream sends a heartbeat this often, so watchers can tell a quiet feed from a dead one.
const HEARTBEAT: Duration = Duration::from_millis(250);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    #[serde(default)]
    from: u64,
}

struct Cursor {
    feed: ChangeFeed,
    applied: watch::Receiver<u64>,
    shutdown: CancellationToken,
    /// Every change at or below this index has been sent.
    sent_up_to: u64,
    queue: VecDeque<WatchMessage>,
}

impl Cursor {
    /// Queues what happened since `sent_up_to`; `applied` must be read before the ring.
    fn catch_up(&mut self) {
        let applied = *self.applied.borrow_and_update();
        match self.feed.since(self.sent_up_to) {
            Resume::TooOld => self.queue.push_back(WatchMessage::Reset { index: applied }),
            Resume::Changes(events) => {
                let quiet = events.is_empty();
                self.queue
                    .extend(events.into_iter().map(WatchMessage::Change));
                if quiet {
                    self.queue
                        .push_back(WatchMessage::Heartbeat { index: applied });
                }
            }
        }
        self.sent_up_to = self.sent_up_to.max(applied);
    }

    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(msg) = self.queue.pop_front() {
                let mut line = serde_json::to_vec(&msg).ok()?;
                line.push(b'\n');
                return Some(Bytes::from(line));
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            tokio::select! {
                changed = self.applied.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = self.shutdown.cancelled() => return None,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            self.catch_up();
        }
    }
}

pub async fn watch(
    State(s): State<Arc<AppState>>,
    q: Result<Query<WatchQuery>, QueryRejection>,
) -> Result<Response, ErrorResponse> {
    let q = query(q)?;
    let mut cursor = Cursor {
        applied: s.feed.subscribe(),
        feed: s.feed.clone(),
        shutdown: s.shutdown.clone(),
        sent_up_to: q.from,
        queue: VecDeque::new(),
    };
    cursor.catch_up();
    let stream = futures::stream::unfold(cursor, |mut c| async move {
        c.next_line()
            .await
            .map(|line| (Ok::<_, Infallible>(line), c))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
