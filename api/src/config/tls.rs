//! The `[tls]` section: where the cluster's CA and each process's certificate and key are.
//! With it, every listener serves TLS, peers authenticate each other with their
//! certificates, and every client verifies the server against the CA.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ConfigError;

/// The placeholder in `cert` and `key` replaced by a process's name.
pub const NAME_PLACEHOLDER: &str = "{name}";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The cluster's CA certificate (PEM): clients trust servers it signed, and the
    /// `raft` listener accepts only peers presenting a certificate it signed.
    pub ca_cert: PathBuf,
    /// Each process's certificate (PEM); `{name}` is `node<id>` or `frontend`.
    #[serde(default = "default_cert")]
    pub cert: String,
    /// Each process's private key (PEM), same naming.
    #[serde(default = "default_key")]
    pub key: String,
}

fn default_cert() -> String {
    "certs/{name}.crt".into()
}

fn default_key() -> String {
    "certs/{name}.key".into()
}

/// The files one process serves with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_cert: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsSettings {
    /// Makes relative paths relative to the cluster file's folder.
    pub fn resolve(&mut self, base: &Path) {
        if self.ca_cert.is_relative() {
            self.ca_cert = base.join(&self.ca_cert);
        }
        for template in [&mut self.cert, &mut self.key] {
            if Path::new(template.as_str()).is_relative() {
                *template = base.join(template.as_str()).to_string_lossy().into_owned();
            }
        }
    }

    /// The files of the process called `name` (`node1`, `frontend`).
    pub fn files_for(&self, name: &str) -> TlsFiles {
        TlsFiles {
            ca_cert: self.ca_cert.clone(),
            cert: PathBuf::from(self.cert.replace(NAME_PLACEHOLDER, name)),
            key: PathBuf::from(self.key.replace(NAME_PLACEHOLDER, name)),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, template) in [("tls.cert", &self.cert), ("tls.key", &self.key)] {
            if !template.contains(NAME_PLACEHOLDER) {
                return Err(ConfigError::Invalid {
                    field: field.into(),
                    reason: format!(
                        "{template:?} has no {NAME_PLACEHOLDER}: every process needs its own file"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_gets_its_own_files() {
        let mut t: TlsSettings = toml::from_str("ca_cert = \"certs/ca.crt\"").unwrap();
        t.resolve(Path::new("/etc/bazaar"));
        let f = t.files_for("node2");
        assert_eq!(f.ca_cert, PathBuf::from("/etc/bazaar/certs/ca.crt"));
        assert_eq!(f.cert, PathBuf::from("/etc/bazaar/certs/node2.crt"));
        assert_eq!(f.key, PathBuf::from("/etc/bazaar/certs/node2.key"));
        t.cert = "one.crt".into();
        assert!(t.validate().unwrap_err().to_string().contains("tls.cert"));
    }
}
