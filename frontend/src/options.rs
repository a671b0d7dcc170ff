//! Settings that are not in `cluster.toml`: test-only hooks read from the environment.

use std::time::Duration;

use crate::error::FrontendError;

/// TEST ONLY. Milliseconds to sleep between a node's answer to a cache miss and storing
/// it, so a whole-system test can land an invalidation inside that window and check
/// that the old value is not stored. Unset (the default) means no delay; never set it
/// in production.
pub const TEST_FILL_DELAY_ENV: &str = "BAZAAR_FRONTEND_TEST_FILL_DELAY_MS";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// See [`TEST_FILL_DELAY_ENV`].
    pub test_fill_delay: Option<Duration>,
}

impl Options {
    pub fn from_env() -> Result<Self, FrontendError> {
        let test_fill_delay = match std::env::var(TEST_FILL_DELAY_ENV) {
            Err(_) => None,
            Ok(value) => {
                let ms: u64 = value.trim().parse().map_err(|e| FrontendError::Config {
                    field: TEST_FILL_DELAY_ENV,
                    reason: format!("{value:?} is not a number of milliseconds: {e}"),
                })?;
                tracing::warn!(delay_ms = ms, "test-only cache fill delay is on");
                Some(Duration::from_millis(ms))
            }
        };
        Ok(Self { test_fill_delay })
    }
}
