//! TLS with rustls (the `ring` provider): server configurations for the listeners (the
//! `raft` listener also demands a client certificate signed by the cluster's CA), client
//! configurations for peers, frontends and the CLI, and a listener that does each
//! handshake on a task of its own so a slow client never holds up the others.
//!
//! Every file problem is an error that names the setting and the file.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use bazaar_api::config::{ClusterConfig, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const ACCEPT_QUEUE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("`{setting}`: cannot read {}: {reason}", path.display())]
    File {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("`{setting}`: {} {reason}", path.display())]
    Content {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS set-up: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_error(setting: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    match e {
        rustls::pki_types::pem::Error::Io(io) => TlsError::File {
            setting,
            path: path.to_owned(),
            reason: io.to_string(),
        },
        other => TlsError::Content {
            setting,
            path: path.to_owned(),
            reason: format!("is not valid PEM: {other}"),
        },
    }
}

/// Every certificate in a PEM file (at least one).
pub fn load_certs(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(setting, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_error(setting, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Content {
            setting,
            path: path.to_owned(),
            reason: "holds no certificate".into(),
        });
    }
    Ok(certs)
}

/// The private key of a PEM file.
pub fn load_key(setting: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Content {
            setting,
            path: path.to_owned(),
            reason: "holds no private key".into(),
        },
        other => read_error(setting, path, other),
    })
}

fn roots(ca_cert: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("tls.ca_cert", ca_cert)? {
        roots.add(cert).map_err(|e| TlsError::Content {
            setting: "tls.ca_cert",
            path: ca_cert.to_owned(),
            reason: format!("is not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// Who may connect to a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Anyone (the public API): clients verify us, we do not verify them.
    Anyone,
    /// Only holders of a certificate signed by the cluster's CA (peer RPC).
    ClusterMembers,
}

/// The server side of one process's listener.
pub fn server_config(files: &TlsFiles, auth: ClientAuth) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs("tls.cert", &files.cert)?;
    let key = load_key("tls.key", &files.key)?;
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match auth {
        ClientAuth::Anyone => builder.with_no_client_auth(),
        ClientAuth::ClusterMembers => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(&files.ca_cert)?),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::Content {
                setting: "tls.ca_cert",
                path: files.ca_cert.clone(),
                reason: format!("cannot verify clients with it: {e}"),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Content {
            setting: "tls.key",
            path: files.key.clone(),
            reason: format!("does not match {}: {e}", files.cert.display()),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client that trusts the cluster's CA and, for peer RPC, presents `identity`.
pub fn client_config(
    ca_cert: &Path,
    identity: Option<&TlsFiles>,
) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_cert)?);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(files) => builder
            .with_client_auth_cert(
                load_certs("tls.cert", &files.cert)?,
                load_key("tls.key", &files.key)?,
            )
            .map_err(|e| TlsError::Content {
                setting: "tls.key",
                path: files.key.clone(),
                reason: format!("does not match {}: {e}", files.cert.display()),
            })?,
    };
    Ok(config)
}

/// An HTTP client builder for this cluster: plain, or trusting the cluster's CA and, for
/// peer RPC, presenting the certificate of `identity` (`node1`, ...).
pub fn cluster_client(
    config: &ClusterConfig,
    identity: Option<&str>,
) -> Result<reqwest::ClientBuilder, TlsError> {
    let builder = reqwest::Client::builder();
    let Some(tls) = &config.tls else {
        return Ok(builder);
    };
    let files = identity.map(|name| tls.files_for(name));
    Ok(builder
        .use_preconfigured_tls(client_config(&tls.ca_cert, files.as_ref())?)
        .https_only(true))
}

/// A TCP listener whose connections come out handshaken. The accept loop hands each new
/// connection to a task of its own; failed or slow handshakes are dropped there.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        let accept_loop = tokio::spawn(async move {
            loop {
                let (tcp, addr) = match listener.accept().await {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(cause = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(peer = %addr, cause = %e, "TLS handshake refused")
                        }
                        Err(_) => tracing::debug!(peer = %addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self {
            ready,
            local,
            accept_loop,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_malformed_files_name_the_setting_and_the_file() {
        let dir = std::env::temp_dir().join(format!("bazaar-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let garbage = dir.join("garbage.crt");
        std::fs::write(&garbage, "not a certificate").expect("write");
        let files = TlsFiles {
            ca_cert: dir.join("missing-ca.crt"),
            cert: garbage.clone(),
            key: dir.join("missing.key"),
        };
        let err = server_config(&files, ClientAuth::Anyone)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tls.cert") && err.contains("garbage.crt"),
            "{err}"
        );
        let err = client_config(&files.ca_cert, None).unwrap_err().to_string();
        assert!(
            err.contains("tls.ca_cert") && err.contains("missing-ca.crt"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
