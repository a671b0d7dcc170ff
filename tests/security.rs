//! Secure by default, with real processes: secrets that refuse to be published, a frontend
//! that forwards no admin route unless told and no membership change ever, separate admin
//! and peer secrets, TLS on every listener with mutual TLS between nodes, and the audit line
//! every admin change leaves.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{binary, free_port, Frontend, TestCluster, PEER_TOKEN, TOKEN};
use serde_json::{json, Value};

/// Runs a binary that is expected to refuse to start; kills it if it is still running
/// after `DEADLINE` (a process that started when it should have refused).
fn run_expecting_exit(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if started.elapsed() > common::DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "the process kept running instead of refusing to start: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(common::POLL);
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A one-node cluster file in `dir` whose node listens on every interface.
fn exposed_config(dir: &Path, security: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("cluster.toml");
    let catalog = common::repo_root().join("catalog.toml");
    std::fs::write(
        &path,
        format!(
            "data_dir = \"{data}\"\ncatalog = \"{catalog}\"\n\
             [[nodes]]\nid = 1\napi = \"0.0.0.0:{api}\"\nraft = \"0.0.0.0:{raft}\"\n\
             [frontend]\nlisten = \"0.0.0.0:{fe}\"\n{security}\n{extra}\n",
            data = dir.join("data").display(),
            catalog = catalog.display(),
            api = free_port(),
            raft = free_port(),
            fe = free_port(),
        ),
    )
    .expect("write cluster file");
    path
}

fn node_command(config: &Path) -> Command {
    let mut cmd = Command::new(binary("raft-node"));
    cmd.args(["--config", &config.to_string_lossy(), "--id", "1"])
        .env_remove("BAZAAR_ADMIN_TOKEN")
        .env_remove("BAZAAR_PEER_TOKEN")
        .env_remove("BAZAAR_DATA_DIR");
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_off_loopback_refuse_missing_published_or_unreadable_secrets() {
    let dir = tempfile::tempdir().expect("temp dir");
    // No [security] section: the published development tokens apply.
    let config = exposed_config(dir.path(), "", "");
    let out = run_expecting_exit(&mut node_command(&config));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("security.admin_token") && err.contains("BAZAAR_ADMIN_TOKEN"),
        "the error names the setting and how to set it: {err}"
    );
    assert!(err.contains("bazaar token"), "and how to make one: {err}");

    // The same secret for peers and admins is refused too.
    let same =
        "[security]\nadmin_token = \"0123456789abcdef0123\"\npeer_token = \"0123456789abcdef0123\"";
    let config = exposed_config(dir.path(), same, "");
    let err = stderr(&run_expecting_exit(&mut node_command(&config)));
    assert!(err.contains("security.peer_token"), "{err}");

    // A token file that does not exist names the setting and the file.
    let missing =
        "[security]\nadmin_token_file = \"no-such-token\"\npeer_token = \"fedcba9876543210fedc\"";
    let config = exposed_config(dir.path(), missing, "");
    let err = stderr(&run_expecting_exit(&mut node_command(&config)));
    assert!(
        err.contains("security.admin_token_file") && err.contains("no-such-token"),
        "{err}"
    );

    // Real secrets from the environment and a file: the node starts and answers.
    std::fs::write(
        dir.path().join("peer.token"),
        "a-peer-secret-from-a-file-42\n",
    )
    .expect("write token file");
    let from_file = "[security]\npeer_token_file = \"peer.token\"";
    let config = exposed_config(dir.path(), from_file, "");
    let text = std::fs::read_to_string(&config).expect("config");
    let api = text
        .lines()
        .find_map(|l| l.strip_prefix("api = \"0.0.0.0:"))
        .and_then(|p| p.strip_suffix('"'))
        .expect("api port")
        .to_string();
    let mut node = node_command(&config)
        .env("BAZAAR_ADMIN_TOKEN", "an-admin-secret-from-the-env-42")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node");
    let http = reqwest::Client::new();
    common::wait_for("the node with real secrets to serve", || async {
        http.get(format!("http://127.0.0.1:{api}/livez"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    let _ = node.kill();
    let _ = node.wait();

    // A frontend holds no secret, so it starts anywhere; one told to forward admin routes
    // off loopback refuses to front a published admin token.
    let config = exposed_config(dir.path(), "", "");
    let mut frontend = Command::new(binary("frontend"));
    frontend
        .args(["--config", &config.to_string_lossy(), "--admin"])
        .env_remove("BAZAAR_ADMIN_TOKEN");
    let err = stderr(&run_expecting_exit(&mut frontend));
    assert!(err.contains("security.admin_token"), "{err}");
}

#[test]
fn unreadable_certificate_files_are_startup_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("certs")).expect("certs dir");
    std::fs::write(dir.path().join("certs/ca.crt"), "not a certificate").expect("write");
    let tls = "[tls]\nca_cert = \"certs/ca.crt\"";
    let secrets =
        "[security]\nadmin_token = \"0123456789abcdef0123\"\npeer_token = \"fedcba9876543210fedc\"";
    let config = exposed_config(dir.path(), secrets, tls);
    let out = run_expecting_exit(&mut node_command(&config));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("tls.cert") && err.contains("node1.crt"),
        "the missing certificate is named with its setting: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("an answer");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_frontend_forwards_admin_only_when_enabled_and_membership_never() {
    let cluster = TestCluster::start(3).await;
    let http = reqwest::Client::new();
    let shop = Frontend::start(&cluster, &[], &[]);
    let patch = |fe: &Frontend, token: &str| {
        http.patch(fe.url("/admin/products/Tux"))
            .bearer_auth(token)
            .json(&json!({"price": 0.01}))
    };
    // Off by default: as if the route did not exist, even with the right token.
    let (status, body) = send(patch(&shop, TOKEN)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["reason"], "unknown_route", "{body}");

    let admin = Frontend::start(&cluster, &["--admin"], &[]);
    let (status, body) = send(
        http.patch(admin.url("/admin/products/Tux"))
            .json(&json!({"price": 0.01})),
    )
    .await;
    assert_eq!(status, 401, "the node checks the token: {body}");
    let (status, body) = send(patch(&admin, PEER_TOKEN)).await;
    assert_eq!(status, 401, "the peer secret is not an admin token: {body}");
    let (status, body) = send(
        http.patch(admin.url("/admin/products/Tux"))
            .bearer_auth(TOKEN)
            .header("x-request-id", "audit-me-17")
            .json(&json!({"price": 19.99})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["price"], json!(19.99));
    // Membership changes are never forwarded, whatever the token.
    let (status, body) = send(
        http.post(admin.url("/admin/membership/voters"))
            .bearer_auth(TOKEN)
            .json(&json!({"voters": [1]})),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    // The change left one audit line on the node that applied it, with its old and new
    // values, the request id the frontend sent on, and where it came from.
    let leader = cluster.leader().await;
    let line = common::wait_for("the audit line", || async {
        cluster
            .node_log(leader)
            .lines()
            .find(|l| l.contains("admin change") && l.contains("audit-me-17"))
            .map(str::to_owned)
    })
    .await;
    for part in ["Tux", "price=25.99", "price=19.99", "applied", "127.0.0.1"] {
        assert!(
            line.contains(part),
            "{part} missing from the audit line: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tls_cluster_takes_orders_over_https_and_refuses_plain_http_and_strangers() {
    let cluster = TestCluster::start_tls(3).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    assert!(fe.url.starts_with("https://"));
    // The harness's client trusts the cluster's CA: an order through the frontend.
    let (status, body) = send(
        cluster
            .http
            .post(fe.url("/orders"))
            .header("Idempotency-Key", "tls-order-1")
            .json(&json!({"name": "Tux", "quantity": 1})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // The CLI reads the CA from the cluster file.
    let out = Command::new(binary("bazaar"))
        .args([
            "--config",
            &cluster.config_path().to_string_lossy(),
            "--url",
            &fe.url,
        ])
        .args(["order", "Tux", "1"])
        .env_remove("BAZAAR_URL")
        .output()
        .expect("run bazaar");
    assert!(out.status.success(), "bazaar over https: {}", stderr(&out));

    // Plain HTTP is not served, by the frontend or by a node.
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for url in [
        fe.url.replace("https://", "http://"),
        cluster.api_url(1).replace("https://", "http://"),
    ] {
        let answer = plain.get(format!("{url}/products/Tux")).send().await;
        assert!(
            answer.map_or(true, |r| !r.status().is_success()),
            "{url} answered plain HTTP"
        );
    }

    // Peer RPC demands a certificate signed by the cluster's CA: the peer token alone
    // does not get past the handshake.
    let ca = cluster.config.tls.as_ref().expect("tls").ca_cert.clone();
    let no_cert = reqwest::Client::builder()
        .use_preconfigured_tls(
            bazaar_service::tls::client_config(&ca, None).expect("client config"),
        )
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let refused = no_cert
        .post(format!("{}/raft/vote", cluster.raft_url(1)))
        .bearer_auth(PEER_TOKEN)
        .body(vec![1, 2, 3])
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a peer without a certificate got an answer"
    );
    // With a node's own certificate it gets through (and the garbage body is refused).
    let files = cluster.config.tls.as_ref().expect("tls").files_for("node2");
    let member = reqwest::Client::builder()
        .use_preconfigured_tls(
            bazaar_service::tls::client_config(&ca, Some(&files)).expect("client config"),
        )
        .build()
        .expect("client");
    let answer = member
        .post(format!("{}/raft/vote", cluster.raft_url(1)))
        .bearer_auth(PEER_TOKEN)
        .body(vec![1, 2, 3])
        .send()
        .await
        .expect("a member gets through the handshake");
    assert_eq!(answer.status().as_u16(), 400);
}
