//! Peer networking, client side: the pooled HTTP client openraft calls (`PeerNetwork`), the
//! read-index client, and what each peer last answered. Bodies are bincode (via `codec`),
//! sent with the bearer token; the paths and Bazaar's own bodies are in `bazaar_api::peer`.
//! A leaf: the `raft` listener's routes that answer these calls are `peer_routes`, so the
//! modules they serve (read index, transfer, alarms) can use this client without a cycle.

mod client;
mod contact;
mod peer_urls;

pub use client::{PeerNetwork, PeerNetworkError, ReadIndexClient};
pub use contact::PeerContacts;
