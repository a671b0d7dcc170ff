//! How the CLI reaches the cluster: plain HTTP, or TLS trusting the cluster's CA (from the
//! cluster file's `[tls] ca_cert`, or `--ca-cert`).

use std::path::PathBuf;

use crate::error::ClientError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// The CA that signed the servers' certificates; `None`: plain HTTP only.
    pub ca_cert: Option<PathBuf>,
}

impl Transport {
    /// A client builder that trusts the cluster's CA when there is one.
    pub fn builder(&self) -> Result<reqwest::ClientBuilder, ClientError> {
        let builder = reqwest::Client::builder();
        let Some(ca) = &self.ca_cert else {
            return Ok(builder);
        };
        let tls = bazaar_service::tls::client_config(ca, None)
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        Ok(builder.use_preconfigured_tls(tls))
    }

    /// `http`, or `https` with a CA.
    pub fn scheme(&self) -> &'static str {
        if self.ca_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }
}
