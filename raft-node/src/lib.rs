//! Bazaar's replicated store: the shop's catalog and orders in openraft over RocksDB, served
//! on two listeners (the JSON `api` and the peer `raft` RPC). The wire contract lives in
//! `bazaar_api`; this crate is the only one that touches openraft and RocksDB.

pub mod archive;
pub mod catalog;
pub mod codec;
pub mod disk_space;
pub mod fail_stop;
pub mod feed;
pub mod fresh_snapshot;
pub mod http;
mod leader_duties;
pub mod leadership;
pub mod log_gate;
pub mod members;
pub mod metrics;
pub mod net;
pub mod node;
pub mod peer_routes;
pub mod promotion;
pub mod proposer;
pub mod read_index;
pub mod reserve;
pub mod shop;
pub mod snapshot_schedule;
pub mod space_alarm;
pub mod state_check;
pub mod store;
pub mod timings;
pub mod transfer;
pub mod types;
pub mod versions;

pub use node::{run, seed, NodeError, NodeListeners};
