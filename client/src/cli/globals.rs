//! `Globals`: the options every command takes (where to connect, how, what to print), and
//! the clients they give: one for `--url` or the frontend, one for a node. Both send a
//! shed request (503 `overloaded`, 429 `rate_limited`) again after the server's
//! `Retry-After`, a few times within `--timeout` of waiting (`ShedRetry::for_command`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::error::CliError;
use crate::api_client::ApiClient;
use crate::error::ClientError;
use crate::shed::ShedRetry;
use crate::target::{resolve, Target};
use crate::transport::Transport;

#[derive(Debug, Clone, Args)]
pub struct Globals {
    /// Frontend (or node) to talk to; default: frontend.listen from --config (https with
    /// a `[tls]` section).
    #[arg(long, global = true, env = "BAZAAR_URL")]
    pub url: Option<String>,
    /// The cluster's CA certificate, for https URLs; default: tls.ca_cert from --config.
    #[arg(long, global = true, env = "BAZAAR_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// Cluster file for the default URL, node URLs and admin token.
    #[arg(long, global = true, default_value = "cluster.toml")]
    pub config: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Per-request timeout; also the longest a command waits in all, between attempts,
    /// on a server that sheds its request (overloaded or rate-limited) before it gives up.
    #[arg(long, global = true, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl Globals {
    /// Where to talk to, with `token` (a command's --token) over the environment's and
    /// the config's, and a client for its URL. Every cluster command makes the client
    /// first, so a bad URL or CA is reported the same way whatever the command.
    pub fn connect(&self, token: Option<&str>) -> Result<(Target, ApiClient), CliError> {
        let target = resolve(
            &self.config,
            self.url.as_deref(),
            token,
            self.ca_cert.as_deref(),
        )?;
        let client = ApiClient::new(&target.url, self.timeout, &target.transport)?
            .with_token(target.token.clone())
            .with_shed_retry(self.shed_retry());
        Ok((target, client))
    }

    /// The node operator commands talk to: --url when given, else the first node of the
    /// cluster file that answers.
    pub async fn node(&self, target: &Target) -> Result<ApiClient, CliError> {
        let urls = match &self.url {
            Some(u) => vec![u.clone()],
            None => target.node_urls.clone(),
        };
        let node = first_node(&urls, self.timeout, &target.transport).await?;
        Ok(node
            .with_token(target.token.clone())
            .with_shed_retry(self.shed_retry()))
    }

    /// How a one-shot command sends a shed request again.
    pub fn shed_retry(&self) -> ShedRetry {
        ShedRetry::for_command(self.timeout)
    }
}

/// A client for the first of `urls` that answers `GET /cluster/members`: operator commands
/// need a node, and any node names the leader.
pub async fn first_node(
    urls: &[String],
    timeout: Duration,
    transport: &Transport,
) -> Result<ApiClient, ClientError> {
    let mut last = ClientError::Usage(
        "no node to ask: give --url (a node's API address) or --config with [[nodes]]".into(),
    );
    for url in urls {
        let client = ApiClient::new(url, timeout, transport)?;
        match client.members().await {
            Ok(_) => return Ok(client),
            Err(e) => last = e,
        }
    }
    Err(last)
}
