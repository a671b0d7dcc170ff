//! `CliError`: why a command could not run, or found nothing to show. A command that ran but found a problem
//! (mismatched orders, anomalies, not ready) is an `Outcome` that did not pass instead.

use bazaar_api::config::ConfigError;

use crate::check::CheckError;
use crate::error::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Talking to the cluster failed, or the client refused the request.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The consistency check could not run.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The cluster file could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Output that could not be encoded as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Not a source, so the message is printed once (main prints the error's chain).
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// Arguments that do not make a request.
    #[error("{0}")]
    Usage(String),
    /// What was asked for is not there (an order outside an archive file's range).
    #[error("{0}")]
    NotFound(String),
}
