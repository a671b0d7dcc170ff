//! Errors that stop a check run (as opposed to anomalies, which it reports).

use std::path::PathBuf;

use crate::error::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad history: {0}")]
    History(String),
    #[error("setup failed: {0}")]
    Setup(#[source] ClientError),
    #[error("{0}")]
    Usage(String),
}
