//! The `bazaar` client library: a typed API client, the one-shot commands, the load
//! generator with order verification, the consistency checker, and the operator's
//! commands (members, leadership, backups, cluster status).

pub mod api_client;
pub mod certs;
pub mod check;
pub mod commands;
pub mod error;
pub mod load;
pub mod operations;
pub mod target;
pub mod transport;

pub use api_client::ApiClient;
pub use error::ClientError;
