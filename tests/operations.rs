//! What an operator relies on, with real processes: health that tells the truth, and
//! scripts that parse their arguments before they act.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{metric_value, wait_for, TestCluster};
use serde_json::Value;

async fn get(url: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("an answer");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_of_three_killed_the_survivor_is_live_but_not_ready() {
    let mut cluster = TestCluster::start(3).await;
    for id in cluster.ids() {
        let (status, body) = get(&format!("{}/readyz", cluster.api_url(id))).await;
        assert_eq!(status, 200, "node {id}: {body}");
        assert_eq!(body["data"]["ready"], true);
    }
    let (status, _) = get(&format!("{}/health", cluster.api_url(1))).await;
    assert_eq!(status, 200, "/health is /readyz");
    let leader = cluster.leader().await;
    let survivor = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    for id in cluster.ids() {
        if id != survivor {
            cluster.kill(id);
        }
    }
    let url = cluster.api_url(survivor);
    let body = wait_for("the survivor to stop calling itself ready", || async {
        let (status, body) = get(&format!("{url}/readyz")).await;
        (status == 503).then_some(body)
    })
    .await;
    assert_eq!(body["error"]["reason"], "not_ready", "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    let (status, body) = get(&format!("{url}/livez")).await;
    assert_eq!(status, 200, "still serving: {body}");
    // And it is not ready because nothing linearizable can be served.
    let (status, _) = get(&format!("{url}/products/Tux")).await;
    assert_eq!(status, 503);
}

fn script(name: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(common::repo_root().join("scripts").join(name))
        .env_remove("BAZAAR_BIN_DIR")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run the script")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A stand-in "cluster": pid files of a process that must survive `--help`.
fn sleeper(data: &Path) -> std::process::Child {
    std::fs::create_dir_all(data).expect("data dir");
    let child = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    for name in ["node1", "frontend"] {
        std::fs::write(data.join(format!("{name}.pid")), child.id().to_string()).expect("pid file");
    }
    child
}

fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn scripts_answer_help_without_acting_and_refuse_unknown_arguments() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let mut held = sleeper(&data);
    for name in [
        "start-cluster.sh",
        "stop-cluster.sh",
        "kill-node.sh",
        "restart-node.sh",
        "compose-init.sh",
        "test.sh",
        "bench.sh",
        "chaos.sh",
        "build-image.sh",
        "install-compose-plugin.sh",
    ] {
        let out = run(script(name).arg("--help").env("BAZAAR_DATA_DIR", &data));
        assert!(out.status.success(), "{name} --help: {}", text(&out));
        assert!(
            text(&out).to_lowercase().contains("usage"),
            "{name} --help prints its usage: {}",
            text(&out)
        );
        assert!(alive(held.id()), "{name} --help acted on the cluster");
        let out = run(script(name)
            .arg("--no-such-flag")
            .env("BAZAAR_DATA_DIR", &data));
        assert!(!out.status.success(), "{name} accepted an unknown argument");
        assert!(
            text(&out).to_lowercase().contains("usage") || text(&out).contains("unknown"),
            "{name} says what is wrong: {}",
            text(&out)
        );
        assert!(alive(held.id()), "{name} acted on a bad argument");
    }
    // Without --help it does act: the stand-in is stopped and its pid files are gone.
    let out = run(script("stop-cluster.sh")
        .args([
            "--config",
            &common::repo_root().join("cluster.toml").to_string_lossy(),
        ])
        .env("BAZAAR_DATA_DIR", &data));
    assert!(out.status.success(), "{}", text(&out));
    let _ = held.wait();
    assert!(!data.join("node1.pid").exists());
}

#[test]
fn start_cluster_names_a_stranger_holding_a_port() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stranger = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = stranger.local_addr().expect("addr").port();
    let config = dir.path().join("cluster.toml");
    std::fs::write(
        &config,
        format!(
            "cluster_name = \"stranger-test\"\ndata_dir = \"data\"\ncatalog = \"{}\"\n\
             [[nodes]]\nid = 1\napi = \"127.0.0.1:{port}\"\nraft = \"127.0.0.1:{}\"\n\
             [frontend]\nlisten = \"127.0.0.1:{}\"\n",
            common::repo_root().join("catalog.toml").display(),
            common::free_port(),
            common::free_port()
        ),
    )
    .expect("write config");
    let out = run(script("start-cluster.sh")
        .args(["--no-build", "--config", &config.to_string_lossy()])
        .env_remove("BAZAAR_DATA_DIR"));
    assert!(
        !out.status.success(),
        "started on a held port: {}",
        text(&out)
    );
    let said = text(&out);
    assert!(
        said.contains(&port.to_string()) && said.contains("held by"),
        "the port and its holder are named: {said}"
    );
    let me = std::env::current_exe().expect("exe");
    let name = me.file_name().expect("name").to_string_lossy();
    // ss shows at most 15 characters of a process name.
    let short: String = name.chars().take(15).collect();
    assert!(
        said.contains(&short),
        "the holder is named ({short}): {said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_process_says_which_build_it_is_and_nodes_know_each_others() {
    let cluster = TestCluster::start(3).await;
    let fe = common::Frontend::start(&cluster, &[], &[]);
    for bin in ["raft-node", "frontend", "bazaar"] {
        let out = Command::new(common::binary(bin))
            .arg("--version")
            .output()
            .expect("run --version");
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success());
        assert!(
            said.contains(env!("CARGO_PKG_VERSION")) && said.contains("commit "),
            "{bin} --version: {said}"
        );
    }
    let (_, node) = get(&format!("{}/version", cluster.api_url(1))).await;
    let (_, front) = get(&fe.url("/version")).await;
    assert_eq!(node["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(node["data"], front["data"], "one build");
    let commit = node["data"]["commit"].as_str().expect("commit").to_string();
    let metrics = reqwest::get(format!("{}/metrics", cluster.api_url(1)))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("bazaar_build_info{component=\"node\"")
            && metrics.contains(&format!("commit=\"{commit}\"")),
        "{metrics}"
    );
    // Each node asks the others for their version; /cluster shows every member's.
    let expected = format!("{} (commit {commit})", env!("CARGO_PKG_VERSION"));
    wait_for("every member's version in /cluster", || async {
        let (_, body) = get(&format!("{}/cluster", cluster.api_url(2))).await;
        let members = body["data"]["members"].as_array()?.clone();
        (members.len() == 3 && members.iter().all(|m| m["version"] == expected.as_str()))
            .then_some(())
    })
    .await;
}

/// The `bazaar_node_runtime_worker_threads` gauge of node `id`.
async fn worker_threads(cluster: &TestCluster, id: u64) -> Option<u64> {
    let url = format!("{}/metrics", cluster.api_url(id));
    metric_value(&url, "bazaar_node_runtime_worker_threads").await
}

/// This machine's cores, as tokio counts them for its default worker count.
fn cores() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_runs_the_async_workers_its_file_or_flag_asks_for_and_refuses_too_many() {
    // Counts that differ from the one-per-core default on any machine, so a setting that
    // was ignored cannot pass for one that was followed.
    let from_file = cores() + 1;
    let from_flag = cores() + 2;
    let mut cluster = TestCluster::start_with(1, |c| {
        c.runtime.node_worker_threads = from_file as usize;
    })
    .await;
    let id = cluster.leader().await;
    assert_eq!(worker_threads(&cluster, id).await, Some(from_file));

    // The flag overrides the file, and is held to the same bound, by name.
    let out = cluster.node_command(id, &["--worker-threads", "100000", "--print-cluster"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--worker-threads") && err.contains("runtime.node_worker_threads"),
        "{err}"
    );
    cluster.kill(id);
    cluster.restart_with_args(id, &["--worker-threads", &from_flag.to_string()]);
    let running = wait_for("the restarted node's metrics", || async {
        worker_threads(&cluster, id).await
    })
    .await;
    assert_eq!(running, from_flag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_left_to_choose_runs_one_async_worker_per_core() {
    let cluster = TestCluster::start(1).await;
    let id = cluster.leader().await;
    let expected = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cores());
    assert_eq!(worker_threads(&cluster, id).await, Some(expected));
}
