//! Bazaar's replicated store: the shop's catalog and orders in openraft over RocksDB.
//!
//! `api` (the wire types) always compiles; everything else needs the `server` feature.

pub mod api;
pub mod config;
