//! A node's answer as the frontend keeps it: status, raw body and the read index.

use axum::http::StatusCode;
use bytes::Bytes;
use raft_node::api::{ErrorEnvelope, LeaderHint};

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
    /// The leader a not-leader answer names: the envelope's `error.leader`, else the header.
    pub fn leader_hint(&self) -> Option<LeaderHint> {
        if let Ok(env) = serde_json::from_slice::<ErrorEnvelope>(&self.body) {
            if let Some(hint) = env.error.leader {
                return Some(hint);
            }
        }
        let header = self.leader_header.as_deref()?;
        let (id, api) = header.trim().split_once(' ')?;
        Some(LeaderHint {
            id: id.parse().ok()?,
            api: api.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str, header: Option<&str>) -> NodeReply {
        NodeReply {
            status: StatusCode::MISDIRECTED_REQUEST,
            body: Bytes::from(body.to_string()),
            index: None,
            leader_header: header.map(str::to_string),
        }
    }

    #[test]
    fn hint_comes_from_the_envelope_or_the_header() {
        let r = reply(
            r#"{"error":{"code":421,"message":"x","leader":{"id":2,"api":"127.0.0.1:7002"}}}"#,
            None,
        );
        assert_eq!(
            r.leader_hint().map(|h| (h.id, h.api)),
            Some((2, "127.0.0.1:7002".into()))
        );
        let r = reply("not json", Some("3 127.0.0.1:7003"));
        assert_eq!(
            r.leader_hint().map(|h| (h.id, h.api)),
            Some((3, "127.0.0.1:7003".into()))
        );
        assert!(reply("{}", None).leader_hint().is_none());
    }
}
