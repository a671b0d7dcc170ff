//! Bazaar's replicated store: the shop's catalog and orders in openraft over RocksDB.
//!
//! `api` (the wire types) and `config` always compile; everything else needs the `server`
//! feature, so the frontend and client do not build RocksDB.

pub mod api;
pub mod config;

#[cfg(feature = "server")]
pub mod catalog;
#[cfg(feature = "server")]
pub mod codec;
#[cfg(feature = "server")]
pub mod feed;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
mod leader_duties;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod net;
#[cfg(feature = "server")]
pub mod node;
#[cfg(feature = "server")]
pub mod proposer;
#[cfg(feature = "server")]
pub mod read_index;
#[cfg(feature = "server")]
pub mod shop;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod types;

#[cfg(feature = "server")]
pub use node::{run, NodeError, NodeListeners};
