//! A node's answer as the frontend keeps it: status, raw body and the read index.

use axum::http::StatusCode;
use bazaar_api::LeaderHint;
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
}
