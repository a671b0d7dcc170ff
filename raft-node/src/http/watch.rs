//! `GET /watch?from=INDEX`: the change feed as newline-delimited JSON, resumable by index,
//! with a cap on concurrent streams and a bound on how far behind a stream may fall.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::{Instant, Sleep};

use bazaar_api::WatchMessage;
use bazaar_service::respond::query;
use bazaar_service::ErrorResponse;
use tokio_util::sync::CancellationToken;

use super::state::AppState;
use crate::feed::{ChangeFeed, Resume};

/// An idle stream sends a heartbeat this often, so watchers can tell a quiet feed from a dead one.
const HEARTBEAT: Duration = Duration::from_millis(250);

/// Most changes a stream copies out of the feed at a time: a watcher resuming from far back
/// holds one page, not the whole backlog, and each copy is short.
const PAGE: usize = 256;

/// A stream whose next change is more than this many log entries behind the applied index
/// ends with a `reset` line instead of replaying the gap: its watcher drops its cache and
/// reconnects from the applied index, which costs the node less than a long replay to a
/// reader that did not keep up. A new stream asking from further back starts with a
/// `reset` the same way. Replays run on the node's async workers (often one): a thousand
/// streams each replaying 10,000 changes stalled a leader past its election timeout
/// (BENCHMARKS.md, "A bounded change feed"). A frontend more than this far behind is past
/// its staleness bound at any write rate this node sustains, so it bypasses its cache anyway.
pub const MAX_LAG_ENTRIES: u64 = 1_000;

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
    /// Every change at or below this index has been queued.
    sent_up_to: u64,
    /// The feed held more changes than the last page took.
    more: bool,
    /// At most one page, plus a heartbeat or a reset.
    queue: VecDeque<WatchMessage>,
    /// The final line has been sent.
    finished: bool,
    /// When a quiet stream next sends a heartbeat. One timer for the stream's life, not one
    /// per wake-up: every apply wakes every stream.
    heartbeat: Pin<Box<Sleep>>,
    /// Freed (and the slot with it) when hyper drops the body: the stream ended, or the
    /// connection closed.
    _slot: OwnedSemaphorePermit,
}

impl Cursor {
    /// A stream from `from`; one that far behind starts at the applied index with a reset.
    fn open(
        feed: ChangeFeed,
        from: u64,
        shutdown: CancellationToken,
        slot: OwnedSemaphorePermit,
    ) -> Self {
        let mut cursor = Cursor {
            applied: feed.subscribe(),
            feed,
            shutdown,
            sent_up_to: from,
            more: false,
            queue: VecDeque::new(),
            finished: false,
            heartbeat: Box::pin(tokio::time::sleep(HEARTBEAT)),
            _slot: slot,
        };
        let applied = *cursor.applied.borrow();
        if applied.saturating_sub(from) > MAX_LAG_ENTRIES {
            cursor
                .queue
                .push_back(WatchMessage::Reset { index: applied });
            cursor.sent_up_to = applied;
        }
        cursor.catch_up();
        cursor
    }

    /// Queues the next page of what happened since `sent_up_to`; `applied` must be read
    /// before the ring (the ring holds every change up to the index read).
    fn catch_up(&mut self) {
        let applied = *self.applied.borrow_and_update();
        match self.feed.since(self.sent_up_to, PAGE) {
            Resume::TooOld => {
                self.queue.push_back(WatchMessage::Reset { index: applied });
                self.sent_up_to = self.sent_up_to.max(applied);
                self.more = false;
            }
            Resume::Page { events, more } => {
                let last = events.last().map(|e| e.index);
                if events.is_empty() {
                    self.queue
                        .push_back(WatchMessage::Heartbeat { index: applied });
                }
                self.queue
                    .extend(events.into_iter().map(WatchMessage::Change));
                self.more = more;
                let last = last.unwrap_or(self.sent_up_to);
                // A page that stops short stops at its last change; the applied index read
                // first is covered only once the rest of the ring has been read too.
                self.sent_up_to = if more {
                    last
                } else {
                    self.sent_up_to.max(applied).max(last)
                };
            }
        }
    }

    /// How many entries the next change to send trails the applied index by.
    fn lag(&self) -> u64 {
        self.applied.borrow().saturating_sub(self.sent_up_to)
    }

    fn line(msg: &WatchMessage) -> Option<Bytes> {
        let mut line = serde_json::to_vec(msg).ok()?;
        line.push(b'\n');
        Some(Bytes::from(line))
    }

    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if self.finished {
                return None;
            }
            let lag = self.lag();
            if lag > MAX_LAG_ENTRIES {
                // hyper asks for the next line only when the reader has taken the earlier
                // ones, so a stream this far behind has a reader slower than the writes.
                let index = *self.applied.borrow();
                tracing::warn!(
                    sent_up_to = self.sent_up_to,
                    applied = index,
                    lag,
                    "ending a /watch stream that fell too far behind"
                );
                self.queue.clear();
                self.finished = true;
                return Self::line(&WatchMessage::Reset { index });
            }
            if let Some(msg) = self.queue.pop_front() {
                return Self::line(&msg);
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            if !self.more {
                tokio::select! {
                    changed = self.applied.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                    }
                    _ = self.shutdown.cancelled() => return None,
                    _ = self.heartbeat.as_mut() => {
                        self.heartbeat.as_mut().reset(Instant::now() + HEARTBEAT);
                    }
                }
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
    let slot = s.watch_slots.take()?;
    let cursor = Cursor::open(s.feed.clone(), q.from, s.shutdown.clone(), slot);
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

#[cfg(test)]
mod tests {
    use super::super::watch_slots::WatchSlots;
    use super::*;
    use bazaar_api::ChangeEvent;

    fn ev(index: u64) -> ChangeEvent {
        ChangeEvent {
            index,
            products: vec!["Tux".into()],
            topics: vec![],
            archived: None,
        }
    }

    fn open(feed: &ChangeFeed, from: u64) -> Cursor {
        let slots = WatchSlots::new(1);
        let slot = slots.take().expect("a free slot");
        Cursor::open(feed.clone(), from, CancellationToken::new(), slot)
    }

    async fn next(cursor: &mut Cursor) -> Option<WatchMessage> {
        let line = tokio::time::timeout(Duration::from_secs(10), cursor.next_line())
            .await
            .expect("a line or the end within the deadline")?;
        Some(serde_json::from_slice(&line).expect("a JSON line"))
    }

    #[tokio::test]
    async fn a_backlog_is_sent_in_order_a_page_at_a_time_then_live_changes() {
        let feed = ChangeFeed::new(0);
        let n = (PAGE * 3 + 7) as u64;
        feed.publish((1..=n).map(ev).collect(), n);
        let mut cursor = open(&feed, 0);
        for want in 1..=n {
            assert!(cursor.queue.len() <= PAGE + 1, "{}", cursor.queue.len());
            match next(&mut cursor).await {
                Some(WatchMessage::Change(e)) => assert_eq!(e.index, want),
                other => panic!("wanted change {want}, got {other:?}"),
            }
        }
        feed.publish(vec![ev(n + 1)], n + 1);
        loop {
            match next(&mut cursor).await {
                Some(WatchMessage::Heartbeat { .. }) => {}
                Some(WatchMessage::Change(e)) => {
                    assert_eq!(e.index, n + 1);
                    break;
                }
                other => panic!("wanted the live change, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_stream_that_falls_too_far_behind_ends_with_a_reset() {
        let feed = ChangeFeed::new(0);
        let mut cursor = open(&feed, 0);
        assert_eq!(
            next(&mut cursor).await,
            Some(WatchMessage::Heartbeat { index: 0 })
        );
        feed.publish((1..=3).map(ev).collect(), 3);
        assert_eq!(next(&mut cursor).await, Some(WatchMessage::Change(ev(1))));
        // The reader stops reading while the writes go on.
        let applied = 3 + MAX_LAG_ENTRIES + 1;
        feed.publish((4..=applied).map(ev).collect(), applied);
        assert_eq!(
            next(&mut cursor).await,
            Some(WatchMessage::Reset { index: applied })
        );
        assert_eq!(next(&mut cursor).await, None, "the reset is the last line");
    }

    #[tokio::test]
    async fn a_stream_that_keeps_up_through_a_burst_is_not_dropped() {
        let feed = ChangeFeed::new(0);
        let mut cursor = open(&feed, 0);
        let mut expected = 1;
        // More entries in all than the lag bound, but never that far behind at once.
        for burst in 0..3 {
            let top = (burst + 1) * (MAX_LAG_ENTRIES / 2);
            feed.publish((expected..=top).map(ev).collect(), top);
            while expected <= top {
                match next(&mut cursor).await {
                    Some(WatchMessage::Heartbeat { .. }) => {}
                    Some(WatchMessage::Change(e)) => {
                        assert_eq!(e.index, expected);
                        expected += 1;
                    }
                    other => panic!("wanted change {expected}, got {other:?}"),
                }
            }
        }
    }

    #[tokio::test]
    async fn a_new_stream_from_too_far_back_starts_with_a_reset_and_stays_open() {
        let feed = ChangeFeed::new(0);
        let applied = MAX_LAG_ENTRIES + 5;
        feed.publish((1..=applied).map(ev).collect(), applied);
        let mut cursor = open(&feed, 0);
        assert_eq!(
            next(&mut cursor).await,
            Some(WatchMessage::Reset { index: applied })
        );
        feed.publish(vec![ev(applied + 1)], applied + 1);
        loop {
            match next(&mut cursor).await {
                Some(WatchMessage::Heartbeat { .. }) => {}
                Some(WatchMessage::Change(e)) => {
                    assert_eq!(e.index, applied + 1);
                    break;
                }
                other => panic!("wanted the live change, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_ring_reset_is_passed_on_and_the_stream_goes_on() {
        let feed = ChangeFeed::new(0);
        let mut cursor = open(&feed, 0);
        assert_eq!(
            next(&mut cursor).await,
            Some(WatchMessage::Heartbeat { index: 0 })
        );
        // A snapshot install: the history in between is unknown.
        feed.reset(50);
        assert_eq!(
            next(&mut cursor).await,
            Some(WatchMessage::Reset { index: 50 })
        );
        feed.publish(vec![ev(51)], 51);
        loop {
            match next(&mut cursor).await {
                Some(WatchMessage::Heartbeat { .. }) => {}
                Some(WatchMessage::Change(e)) => {
                    assert_eq!(e.index, 51);
                    break;
                }
                other => panic!("wanted change 51, got {other:?}"),
            }
        }
    }
}
