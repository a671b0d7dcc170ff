//! Secrets: the admin token (catalog and membership changes) and the peer token (Raft RPC
//! between nodes), each read from the environment, a file or the cluster file, in that
//! order; and the rule that a process reachable from other hosts never runs with a missing
//! or published secret.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// Environment variable that sets the admin token (over the file settings).
pub const ADMIN_TOKEN_ENV: &str = "BAZAAR_ADMIN_TOKEN";
/// Environment variable that sets the peer token (over the file settings).
pub const PEER_TOKEN_ENV: &str = "BAZAAR_PEER_TOKEN";

/// Tokens written in this repository (the local cluster's, the compose file's before
/// first-run set-up, old defaults): fine on loopback, refused anywhere else.
pub const WELL_KNOWN_TOKENS: &[&str] = &[
    "bazaar-local-dev-token",
    "bazaar-local-admin-token",
    "bazaar-local-peer-token",
];

/// Shortest secret accepted on a non-loopback address.
pub const MIN_EXPOSED_TOKEN_LEN: usize = 16;

/// How to make a token, for error messages.
const HOW_TO_MAKE: &str = "make one with `bazaar token` (or `openssl rand -hex 32`)";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// Bearer token for the admin routes (catalog and membership changes).
    /// `BAZAAR_ADMIN_TOKEN` and `admin_token_file` take precedence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<String>,
    /// A file holding the admin token (trailing newline ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token_file: Option<PathBuf>,
    /// Bearer token every node presents to its peers on the `raft` listener.
    /// `BAZAAR_PEER_TOKEN` and `peer_token_file` take precedence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_token: Option<String>,
    /// A file holding the peer token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_token_file: Option<PathBuf>,
}

/// One of the two secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    Admin,
    Peer,
}

impl Secret {
    fn setting(self) -> &'static str {
        match self {
            Secret::Admin => "security.admin_token",
            Secret::Peer => "security.peer_token",
        }
    }

    fn env(self) -> &'static str {
        match self {
            Secret::Admin => ADMIN_TOKEN_ENV,
            Secret::Peer => PEER_TOKEN_ENV,
        }
    }
}

impl SecuritySettings {
    fn slot(&mut self, which: Secret) -> (&mut Option<String>, &mut Option<PathBuf>) {
        match which {
            Secret::Admin => (&mut self.admin_token, &mut self.admin_token_file),
            Secret::Peer => (&mut self.peer_token, &mut self.peer_token_file),
        }
    }

    /// The secret, once [`SecuritySettings::resolve`] has run.
    pub fn token(&self, which: Secret) -> Option<&str> {
        match which {
            Secret::Admin => self.admin_token.as_deref(),
            Secret::Peer => self.peer_token.as_deref(),
        }
    }

    /// The secret, or the error that says how to set it.
    pub fn require(&self, which: Secret) -> Result<&str, ConfigError> {
        self.token(which).ok_or_else(|| ConfigError::Insecure {
            setting: which.setting(),
            reason: format!(
                "it is not set; set {} or {}_file ({HOW_TO_MAKE})",
                which.env(),
                which.setting()
            ),
        })
    }

    /// Reads each secret from its environment variable, else its file (relative paths
    /// against `base`), else keeps the inline value. A file that cannot be read or is
    /// empty is an error that names the setting and the file.
    pub fn resolve(&mut self, base: Option<&Path>) -> Result<(), ConfigError> {
        for which in [Secret::Admin, Secret::Peer] {
            let from_env = std::env::var(which.env()).ok().filter(|t| !t.is_empty());
            let (inline, file) = self.slot(which);
            if let Some(token) = from_env {
                *inline = Some(token);
                continue;
            }
            let Some(path) = file.as_ref() else { continue };
            let path = match base {
                Some(dir) if path.is_relative() => dir.join(path),
                _ => path.clone(),
            };
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Invalid {
                field: format!("{}_file", which.setting()),
                reason: format!("cannot read {}: {source}", path.display()),
            })?;
            let token = text.trim_end_matches(['\n', '\r']).to_string();
            if token.is_empty() {
                return Err(ConfigError::Invalid {
                    field: format!("{}_file", which.setting()),
                    reason: format!("{} is empty; {HOW_TO_MAKE}", path.display()),
                });
            }
            *inline = Some(token);
        }
        Ok(())
    }

    /// The secrets a process needs, checked for where it listens: on loopback anything
    /// set goes; on any other address each must be set, long, unpublished and distinct.
    pub fn check_exposure(
        &self,
        needs: &[Secret],
        exposed_at: Option<&str>,
    ) -> Result<(), ConfigError> {
        for &which in needs {
            let insecure = |reason: String| ConfigError::Insecure {
                setting: which.setting(),
                reason,
            };
            let token = self.require(which)?;
            let Some(addr) = exposed_at else { continue };
            if WELL_KNOWN_TOKENS.contains(&token) {
                return Err(insecure(format!(
                    "it is the published development token, and this process listens on \
                     {addr}, which is not loopback; set {} or {}_file to a secret \
                     ({HOW_TO_MAKE})",
                    which.env(),
                    which.setting()
                )));
            }
            if token.len() < MIN_EXPOSED_TOKEN_LEN {
                return Err(insecure(format!(
                    "it is shorter than {MIN_EXPOSED_TOKEN_LEN} characters, and this process \
                     listens on {addr}, which is not loopback ({HOW_TO_MAKE})"
                )));
            }
        }
        if exposed_at.is_some()
            && needs.len() == 2
            && self.token(Secret::Admin).is_some()
            && self.token(Secret::Admin) == self.token(Secret::Peer)
        {
            return Err(ConfigError::Insecure {
                setting: "security.peer_token",
                reason: "it equals security.admin_token; peers and admins need separate \
                         secrets"
                    .into(),
            });
        }
        Ok(())
    }
}

/// True for addresses only this host can reach: 127.0.0.0/8, ::1 and `localhost`.
pub fn is_loopback(addr: &str) -> bool {
    if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
        return sock.ip().is_loopback();
    }
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The first of `addrs` that is not loopback.
pub fn first_exposed<'a>(addrs: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    addrs.into_iter().find(|a| !is_loopback(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(admin: &str, peer: &str) -> SecuritySettings {
        SecuritySettings {
            admin_token: Some(admin.into()),
            peer_token: Some(peer.into()),
            ..SecuritySettings::default()
        }
    }

    #[test]
    fn loopback_is_recognised() {
        assert!(is_loopback("127.0.0.1:7001"));
        assert!(is_loopback("localhost:7001"));
        assert!(is_loopback("[::1]:7001"));
        assert!(!is_loopback("0.0.0.0:8080"));
        assert!(!is_loopback("node1:7001"));
        assert!(!is_loopback("10.0.0.5:7001"));
        assert_eq!(
            first_exposed(["127.0.0.1:1", "node2:7002"]),
            Some("node2:7002")
        );
    }

    #[test]
    fn exposed_processes_refuse_published_short_missing_or_shared_secrets() {
        let both = [Secret::Admin, Secret::Peer];
        let dev = with("bazaar-local-admin-token", "bazaar-local-peer-token");
        assert!(dev.check_exposure(&both, None).is_ok(), "loopback is fine");
        let err = dev
            .check_exposure(&both, Some("0.0.0.0:7001"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("security.admin_token"), "{err}");
        assert!(err.contains("BAZAAR_ADMIN_TOKEN"), "{err}");
        let short = with("0123456789abcdef0123", "short");
        assert!(short
            .check_exposure(&both, Some("node1:7001"))
            .unwrap_err()
            .to_string()
            .contains("security.peer_token"));
        let same = with("0123456789abcdef0123", "0123456789abcdef0123");
        assert!(same.check_exposure(&both, Some("node1:7001")).is_err());
        let good = with("0123456789abcdef0123", "fedcba9876543210fedc");
        assert!(good.check_exposure(&both, Some("node1:7001")).is_ok());
        let missing = SecuritySettings::default();
        assert!(missing.check_exposure(&[Secret::Admin], None).is_err());
    }

    #[test]
    fn a_token_file_is_read_and_its_errors_name_the_setting() {
        let dir = std::env::temp_dir().join(format!("bazaar-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("peer"), "s3cret-from-a-file-0123\n").unwrap();
        let mut s = SecuritySettings {
            peer_token_file: Some("peer".into()),
            admin_token_file: Some("missing".into()),
            ..SecuritySettings::default()
        };
        let err = s.resolve(Some(&dir)).unwrap_err().to_string();
        assert!(err.contains("security.admin_token_file"), "{err}");
        s.admin_token_file = None;
        s.resolve(Some(&dir)).unwrap();
        assert_eq!(s.token(Secret::Peer), Some("s3cret-from-a-file-0123"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
