//! Where the client talks to, how, and with which token: `--url` (or `BAZAAR_URL`) or the
//! frontend in cluster.toml; TLS from `--ca-cert` or the file's `[tls]`; `--token`, or
//! `BAZAAR_ADMIN_TOKEN`, or the file's admin token.

use std::path::{Path, PathBuf};

use bazaar_api::config::{ClusterConfig, Secret, ADMIN_TOKEN_ENV};

use crate::error::ClientError;
use crate::transport::Transport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    /// Every node's API URL from the config, when it could be read.
    pub node_urls: Vec<String>,
    pub config: Option<ClusterConfig>,
    pub transport: Transport,
}

/// `config_path` is only required when `url` is absent; a missing file is fine otherwise.
pub fn resolve(
    config_path: &Path,
    url: Option<&str>,
    token: Option<&str>,
    ca_cert: Option<&Path>,
) -> Result<Target, ClientError> {
    let config = match ClusterConfig::load(config_path) {
        Ok(c) => Some(c),
        Err(e) if url.is_none() => {
            return Err(ClientError::Usage(format!(
                "no --url given and cannot use the config: {e}"
            )))
        }
        Err(_) => None,
    };
    let transport = Transport {
        ca_cert: ca_cert.map(Path::to_path_buf).or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.tls.as_ref())
                .map(|t| PathBuf::from(&t.ca_cert))
        }),
    };
    let url = match url {
        Some(u) => u.to_owned(),
        None => format!(
            "{}://{}",
            transport.scheme(),
            config
                .as_ref()
                .map(|c| c.frontend.listen.clone())
                .unwrap_or_default()
        ),
    };
    // ClusterConfig::load already read BAZAAR_ADMIN_TOKEN; read it here too for when
    // there is no config file.
    let token = token
        .map(str::to_owned)
        .or_else(|| {
            std::env::var(ADMIN_TOKEN_ENV)
                .ok()
                .filter(|t| !t.is_empty())
        })
        .or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.security.token(Secret::Admin).map(str::to_owned))
        });
    let node_urls = config
        .as_ref()
        .map(|c| {
            c.nodes
                .iter()
                .map(|n| format!("{}://{}", transport.scheme(), n.api))
                .collect()
        })
        .unwrap_or_default();
    Ok(Target {
        url,
        token,
        node_urls,
        config,
        transport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_url_and_token_win_and_a_missing_config_is_fine_then() {
        let t = resolve(
            Path::new("/nonexistent/cluster.toml"),
            Some("http://h:1"),
            Some("tok-12345"),
            None,
        )
        .expect("ok");
        assert_eq!(t.url, "http://h:1");
        assert_eq!(t.token.as_deref(), Some("tok-12345"));
        assert!(t.node_urls.is_empty());
    }

    #[test]
    fn url_defaults_to_the_configured_frontend() {
        let dir = std::env::temp_dir().join(format!("bazaar-target-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("cluster.toml");
        std::fs::write(&path, "[frontend]\nlisten = \"127.0.0.1:9999\"\n").expect("write");
        let t = resolve(&path, None, Some("explicit-token"), None).expect("ok");
        assert_eq!(t.url, "http://127.0.0.1:9999");
        assert_eq!(t.node_urls.len(), 3);
        assert!(resolve(&dir.join("missing.toml"), None, None, None).is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
