//! `bazaar ready`: exit 0 if the process at --url is ready (GET /readyz answers 200),
//! else 1 with the reason on stderr: for health checks.

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;

/// Asks `/readyz` once; not being ready is a failed outcome, not an error.
pub async fn run(g: &Globals) -> Result<Outcome, CliError> {
    let (_, client) = g.connect(None)?;
    Ok(match client.readiness().await {
        Ok(_) => Outcome::passed(String::new()),
        Err(e) => Outcome {
            stdout: String::new(),
            stderr: format!("not ready: {e}\n"),
            passed: false,
        },
    })
}
