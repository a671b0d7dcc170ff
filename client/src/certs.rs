//! `bazaar certs`: a cluster's TLS files made with rcgen. One CA, and one certificate per
//! node and for the frontend, each valid for the names it is reached by (the hosts of its
//! addresses in the cluster file, plus `localhost` and the loopback addresses). Node
//! certificates serve and authenticate as clients, since nodes present them to each other.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use bazaar_api::config::ClusterConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::error::ClientError;

/// What `make_certs` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeCerts {
    pub dir: PathBuf,
    /// `ca`, `node1`, ..., `frontend`: each has `<name>.crt` (and, but for the CA's
    /// private key kept as `ca.key`, `<name>.key`).
    pub names: Vec<String>,
}

fn usage(e: impl std::fmt::Display) -> ClientError {
    ClientError::Usage(e.to_string())
}

fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The names a process is reached by: its configured hosts and loopback. A wildcard bind
/// address (0.0.0.0) names no host and is left out.
fn names_for<'a>(addrs: impl IntoIterator<Item = &'a str>, extra: &[&str]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for addr in addrs {
        let host = host_of(addr);
        if !host.is_empty() && host != "0.0.0.0" && host != "::" {
            names.insert(host.to_string());
        }
    }
    for name in ["localhost", "127.0.0.1", "::1"].iter().chain(extra) {
        names.insert((*name).to_string());
    }
    names.into_iter().collect()
}

fn write_private(path: &Path, contents: &str) -> Result<(), ClientError> {
    fs::write(path, contents)
        .map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(|e| usage(format!("cannot restrict {}: {e}", path.display())))?;
    }
    Ok(())
}

/// Writes a CA and every process's certificate and key for `config` into `out`. Refuses
/// to overwrite an existing CA unless `force`: a new CA would lock out every node whose
/// files were made from the old one.
pub fn make_certs(
    config: &ClusterConfig,
    out: &Path,
    force: bool,
) -> Result<MadeCerts, ClientError> {
    let ca_path = out.join("ca.crt");
    if ca_path.exists() && !force {
        return Err(usage(format!(
            "{} exists; pass --force to replace the whole set (every node then needs the new files)",
            ca_path.display()
        )));
    }
    fs::create_dir_all(out).map_err(|e| usage(format!("cannot create {}: {e}", out.display())))?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(usage)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("Bazaar cluster CA ({})", config.cluster_name),
    );
    ca_params.distinguished_name = dn;
    let ca_key = KeyPair::generate().map_err(usage)?;
    let ca_key_pem = ca_key.serialize_pem();
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(usage)?;
    fs::write(&ca_path, ca.pem())
        .map_err(|e| usage(format!("cannot write {}: {e}", ca_path.display())))?;
    write_private(&out.join("ca.key"), &ca_key_pem)?;

    let mut leaves: Vec<(String, Vec<String>, bool)> = config
        .nodes
        .iter()
        .map(|n| {
            (
                format!("node{}", n.id),
                names_for([n.api.as_str(), n.raft.as_str()], &[]),
                true,
            )
        })
        .collect();
    leaves.push((
        "frontend".into(),
        names_for([config.frontend.listen.as_str()], &["frontend"]),
        false,
    ));
    let mut names = vec!["ca".to_string()];
    for (name, sans, is_node) in leaves {
        let mut params = CertificateParams::new(sans).map_err(usage)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name.clone());
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = if is_node {
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ]
        } else {
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        };
        let key = KeyPair::generate().map_err(usage)?;
        let cert = params.signed_by(&key, &ca).map_err(usage)?;
        let cert_path = out.join(format!("{name}.crt"));
        fs::write(&cert_path, cert.pem())
            .map_err(|e| usage(format!("cannot write {}: {e}", cert_path.display())))?;
        write_private(&out.join(format!("{name}.key")), &key.serialize_pem())?;
        names.push(name);
    }
    Ok(MadeCerts {
        dir: out.to_path_buf(),
        names,
    })
}

/// A fresh random secret for `security.admin_token` or `peer_token`: 32 bytes, hex.
pub fn random_token() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_configured_hosts_and_loopback() {
        let names = names_for(["node1:7001", "0.0.0.0:8080", "10.0.0.5:7101"], &[]);
        assert!(names.contains(&"node1".to_string()));
        assert!(names.contains(&"10.0.0.5".to_string()));
        assert!(names.contains(&"localhost".to_string()));
        assert!(names.contains(&"127.0.0.1".to_string()));
        assert!(!names.contains(&"0.0.0.0".to_string()));
    }

    #[test]
    fn a_set_is_made_once_and_loads_as_tls_configs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = ClusterConfig::default();
        let made = make_certs(&config, dir.path(), false).expect("made");
        assert_eq!(made.names, ["ca", "node1", "node2", "node3", "frontend"]);
        assert!(
            make_certs(&config, dir.path(), false).is_err(),
            "no silent replacement"
        );
        let files = bazaar_api::config::TlsFiles {
            ca_cert: dir.path().join("ca.crt"),
            cert: dir.path().join("node2.crt"),
            key: dir.path().join("node2.key"),
        };
        bazaar_service::tls::server_config(&files, bazaar_service::tls::ClientAuth::ClusterMembers)
            .expect("a node serves with its files");
        bazaar_service::tls::client_config(&files.ca_cert, Some(&files))
            .expect("and presents them to its peers");
        assert_eq!(random_token().len(), 64);
    }
}
