//! A node's answer as the frontend keeps it: status, raw body and the read index.

use axum::http::StatusCode;
use bazaar_api::{BatchReply, ErrorEnvelope, LeaderHint, Reason};
use bytes::Bytes;

#[derive(Debug, Clone)]
pub struct NodeReply {
    pub status: StatusCode,
    /// The node's JSON body, passed to the client unchanged.
    pub body: Bytes,
    /// `x-bazaar-index`: the applied index a read was served at.
    pub index: Option<u64>,
    /// `x-bazaar-leader` on not-leader answers: `<id> <api>`.
    pub leader_header: Option<String>,
}

impl NodeReply {
    /// The leader a not-leader answer names.
    pub fn leader_hint(&self) -> Option<LeaderHint> {
        LeaderHint::from_answer(&self.body, self.leader_header.as_deref())
    }

    /// On a 503, the seconds the node asked its caller to wait (its envelope's
    /// `retry_after_secs`, else one); `None` on any other status.
    pub fn retry_after_secs(&self) -> Option<u32> {
        if self.status != StatusCode::SERVICE_UNAVAILABLE {
            return None;
        }
        let asked = serde_json::from_slice::<ErrorEnvelope>(&self.body)
            .ok()
            .and_then(|env| env.error.retry_after_secs);
        Some(asked.unwrap_or(1))
    }

    /// The node shed the request (503 `overloaded`): it is at its own bound, and sending
    /// the request again at once would only queue it here instead.
    pub fn is_shed(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE
            && serde_json::from_slice::<ErrorEnvelope>(&self.body)
                .is_ok_and(|env| env.error.reason == Some(Reason::Overloaded))
    }
}

/// Each item's answer, if `reply` is a batch answer (`POST /orders/batch`, `POST /lookup`)
/// for `expected` items.
pub fn batch_answers(reply: &NodeReply, expected: usize) -> Option<Vec<NodeReply>> {
    if reply.status != StatusCode::OK {
        return None;
    }
    let parsed: BatchReply = match serde_json::from_slice(&reply.body) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::error!(cause = %e, "unreadable batch answer");
            return None;
        }
    };
    if parsed.results.len() != expected {
        tracing::error!(
            expected,
            got = parsed.results.len(),
            "batch answer does not match the batch"
        );
        return None;
    }
    Some(
        parsed
            .results
            .into_iter()
            .map(|o| NodeReply {
                status: StatusCode::from_u16(o.status).unwrap_or(StatusCode::BAD_GATEWAY),
                body: Bytes::from(String::from(Box::<str>::from(o.body))),
                index: o.index,
                leader_header: None,
            })
            .collect(),
    )
}
