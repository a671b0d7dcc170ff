//! The `bazaar` commands as library functions, one module per command group. Each takes
//! the global options and its own clap arguments and returns an [`Outcome`] (what to
//! print, and whether it passed) or a [`CliError`]; the binary only parses and dispatches.
//! Modules here import each other directly, never through this file's re-exports.

pub mod admin;
pub mod alarm;
pub mod archive;
pub mod backup;
pub mod catalog;
pub mod certs;
pub mod check;
pub mod cluster_status;
pub mod completion;
pub mod error;
pub mod globals;
pub mod leader;
pub mod load;
pub mod members;
pub mod outcome;
pub mod output;
pub mod ready;
pub mod runtime;
pub mod status;

pub use error::CliError;
pub use globals::Globals;
pub use outcome::Outcome;
pub use output::Output;
pub use runtime::block_on;
