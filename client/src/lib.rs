//! The `bazaar` client library: a typed API client, backup and archive files, the load
//! generator with order verification, the consistency checker, and every command of the
//! `bazaar` CLI (`cli`), so the binary only parses arguments and dispatches.

pub mod api_client;
pub mod archive_file;
pub mod backup_save;
pub mod certs;
pub mod check;
pub mod cli;
pub mod error;
pub mod load;
pub mod shed;
pub mod target;
pub mod transport;

#[cfg(test)]
mod test_server;

pub use api_client::ApiClient;
pub use error::ClientError;
