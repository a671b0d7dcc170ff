//! Peer networking: the client side openraft calls (`PeerNetwork`) and the `raft` listener's
//! routes that answer it. Bodies are bincode (via `codec`), guarded by the bearer token;
//! the paths and Bazaar's own bodies are in `bazaar_api::peer`.

mod client;
mod contact;
mod peer_urls;
mod routes;

pub use client::{PeerNetwork, PeerNetworkError, ReadIndexClient};
pub use contact::PeerContacts;
pub use routes::raft_router;
