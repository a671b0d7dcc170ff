//! What build this is: the crate version and the git commit it was built from.

/// The workspace version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binaries were built from (`unknown` outside a git checkout).
pub const GIT_COMMIT: &str = env!("BAZAAR_GIT_COMMIT");
/// `--version` of every binary: `0.1.0 (commit 1a2b3c4d5e6f)`.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BAZAAR_GIT_COMMIT"),
    ")"
);

/// This build as `GET /version` shows it.
pub fn info() -> bazaar_api::VersionInfo {
    bazaar_api::VersionInfo {
        version: VERSION.to_string(),
        commit: GIT_COMMIT.to_string(),
        features: vec![bazaar_api::FEATURE_ARCHIVE.to_string()],
    }
}
