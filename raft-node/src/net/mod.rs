//! Peer networking: the client side openraft calls (`PeerNetwork`) and the `raft` listener's
//! routes that answer it. Bodies are bincode (via `codec`), guarded by the bearer token.

mod client;
mod routes;

pub use client::{PeerNetwork, ReadIndexClient};
pub use routes::raft_router;

/// Paths on the `raft` listener.
pub mod paths {
    pub const APPEND: &str = "/raft/append";
    pub const VOTE: &str = "/raft/vote";
    pub const SNAPSHOT: &str = "/raft/snapshot";
    pub const READ_INDEX: &str = "/raft/read-index";
}
