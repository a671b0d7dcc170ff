//! Why a cluster file was refused: `ConfigError`, and `invalid` (the error that names the
//! field). A leaf, so every section's module can return it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    #[error("refusing to start: `{setting}`: {reason}")]
    Insecure {
        setting: &'static str,
        reason: String,
    },
}

pub(super) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}
