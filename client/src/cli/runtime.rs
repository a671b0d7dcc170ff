//! `block_on`: runs one async command on a fresh multi-threaded runtime. Commands that
//! need no cluster (`token`, `certs`, `completions`, `backup inspect`, `archive
//! inspect|get`) never start one.

use std::future::Future;

use super::error::CliError;
use super::outcome::Outcome;

/// Runs `command` to its end on a runtime made for it.
pub fn block_on(
    command: impl Future<Output = Result<Outcome, CliError>>,
) -> Result<Outcome, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?
        .block_on(command)
}
