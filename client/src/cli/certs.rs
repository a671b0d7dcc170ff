//! `bazaar certs` and `bazaar token`: a cluster's TLS files and a fresh secret, made
//! locally without a cluster or a runtime.

use std::path::PathBuf;

use bazaar_api::config::ClusterConfig;
use clap::Args;

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use crate::certs::{make_certs, random_token};

/// `bazaar certs`.
#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// Folder to write ca.crt, ca.key, `node<id>.crt`/`.key`, frontend.crt/.key into.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing set (every process then needs the new files).
    #[arg(long)]
    pub force: bool,
}

/// Writes the files for the nodes and frontend of `--config`, then says what was written
/// and the `[tls]` section that points at them.
pub fn run(g: &Globals, args: &CertsArgs) -> Result<Outcome, CliError> {
    let config = ClusterConfig::load(&g.config)?;
    let made = make_certs(&config, &args.out, args.force)?;
    let names = made
        .names
        .iter()
        .map(|n| format!("{n}.crt"))
        .collect::<Vec<_>>()
        .join(", ");
    let dir = made.dir.display();
    Ok(Outcome::passed(format!(
        "wrote {names} in {dir}, with a .key beside each; keep ca.key offline\n\
         add to the cluster file:\n[tls]\nca_cert = \"{dir}/ca.crt\"\n\
         cert = \"{dir}/{{name}}.crt\"\nkey = \"{dir}/{{name}}.key\"\n"
    )))
}

/// A fresh random secret for BAZAAR_ADMIN_TOKEN or BAZAAR_PEER_TOKEN.
pub fn token() -> Outcome {
    Outcome::passed(format!("{}\n", random_token()))
}
