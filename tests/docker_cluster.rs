//! The cluster in containers (docker-compose.yml, one container per replica): the image
//! built offline by scripts/build-image.sh, orders placed and read through the published
//! frontend, the leader cut off with `docker network disconnect`, a new leader on the
//! majority side taking orders while the old one acknowledges none, then the partition
//! healed and every replica converging to the same state.
//!
//! Needs a Docker engine (`docker info`) and Compose (`docker compose`, or `docker-compose`
//! v1.28+), so it is `#[ignore]`d: `scripts/test.sh` runs it when an engine answers and
//! otherwise reports it as skipped (never as passed). Run by hand with
//! `cargo test --release --test docker_cluster -- --ignored`. It needs the release
//! binaries (`cargo build --release --workspace --bins`), which it packs into a throwaway
//! image tag; everything it creates (project, containers, network, volumes, image) is
//! removed on drop, also when it fails (`common/docker.rs`).

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::docker::{run, text, Project};
use serde_json::{json, Value};

/// Container start-up, elections and convergence on a shared 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);
/// cluster.docker.toml's election timeout is at most 600 ms; the node refuses writes once
/// it has not heard from a quorum for twice that.
const QUORUM_LOST_AFTER: Duration = Duration::from_millis(1200);

/// This test's views of the project (common/docker.rs has the generic part).
impl Project {
    async fn cluster(&self, id: u64) -> Option<Value> {
        match self.get_json(format!("{}/cluster", self.node(id))).await {
            Some((200, v)) => Some(v["data"].clone()),
            _ => None,
        }
    }

    /// POST /orders through the frontend with a fixed key; the status and the body.
    async fn order(&self, name: &str, quantity: u64, key: &str) -> Option<(u16, Value)> {
        let resp = self
            .http
            .post(format!("{}/orders", self.frontend()))
            .header("Idempotency-Key", key)
            .json(&json!({"name": name, "quantity": quantity}))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.json().await.unwrap_or(Value::Null)))
    }
}

/// Polls `check` until it gives `Some` (for `order`: an HTTP 200), or panics after
/// `DEADLINE`.
async fn wait<F, Fut>(what: &str, mut check: F) -> Option<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<(u16, Value)>>,
{
    let start = Instant::now();
    loop {
        let got = check().await;
        if let Some((200, v)) = got {
            return Some(v);
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}; last answer: {got:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls `check` until it gives `Some`, or panics after this test's `DEADLINE`.
async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    common::wait_within(what, DEADLINE, POLL, check).await
}

/// `docker exec CONTAINER bazaar --url https://127.0.0.1:PORT ARGS...`: the node's own
/// client inside its container, which reaches the node even while it is cut off.
fn exec_bazaar(container: &str, port: u16, args: &[&str]) -> Output {
    let url = format!("https://127.0.0.1:{port}");
    run(Command::new("docker")
        .args([
            "exec",
            container,
            "bazaar",
            "--config",
            "/etc/bazaar/cluster.toml",
            "--url",
            &url,
            "--timeout",
            "3s",
        ])
        .args(args))
}

fn order_number(v: &Value) -> u64 {
    v["data"]["order_number"]
        .as_u64()
        .unwrap_or_else(|| panic!("no order_number in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Docker engine and Compose; scripts/test.sh runs it when `docker info` answers"]
async fn compose_cluster_survives_a_partitioned_leader() {
    let started = Instant::now();
    let project = Project::prepare("test", &[]);
    project.up();

    // A leader, the seeded catalog and the frontend.
    let leader = wait_for("a leader", || async {
        for id in 1..=3 {
            if let Some(l) = project.cluster(id).await.and_then(|c| c["leader"].as_u64()) {
                return Some(l);
            }
        }
        None
    })
    .await;
    wait("the catalog through the frontend", || {
        project.get_json(format!("{}/products/Tux", project.frontend()))
    })
    .await;
    println!(
        "cluster up in {:?}, leader node {leader}",
        started.elapsed()
    );

    // Orders through the published frontend, read back through it.
    let mut placed = Vec::new();
    for (product, qty) in [("Tux", 2), ("Dolphin", 1), ("Tux", 1)] {
        let key = uuid::Uuid::new_v4().to_string();
        let v = wait(&format!("order {qty} {product}"), || {
            project.order(product, qty, &key)
        })
        .await
        .expect("acknowledged");
        placed.push((order_number(&v), product, qty));
    }
    // The published port is for shoppers: no catalog change through it, whatever token
    // is presented, and nothing in plain HTTP.
    let admin_token = project
        .env_value("BAZAAR_ADMIN_TOKEN")
        .expect("admin token")
        .to_string();
    for token in [admin_token.as_str(), "bazaar-local-admin-token"] {
        let resp = project
            .http
            .patch(format!("{}/admin/products/Tux", project.frontend()))
            .bearer_auth(token)
            .json(&json!({"price": 0.0}))
            .send()
            .await
            .expect("the frontend answers");
        assert_eq!(resp.status().as_u16(), 404, "admin through the frontend");
    }
    let plain = reqwest::Client::new()
        .get(format!(
            "http://127.0.0.1:{}/products/Tux",
            project.http_port
        ))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.map_or(true, |r| !r.status().is_success()),
        "plain HTTP must not be served"
    );
    for &(number, product, qty) in &placed {
        let (status, v) = project
            .get_json(format!("{}/orders/{number}", project.frontend()))
            .await
            .expect("frontend answers");
        assert_eq!(status, 200, "GET /orders/{number}: {v}");
        assert_eq!(v["data"]["name"], product, "order {number}: {v}");
        assert_eq!(v["data"]["quantity"], qty, "order {number}: {v}");
    }

    // Cut the leader off from everything.
    let old = wait_for("a leader", || async {
        for id in 1..=3 {
            if let Some(l) = project.cluster(id).await.and_then(|c| c["leader"].as_u64()) {
                return Some(l);
            }
        }
        None
    })
    .await;
    let old_cid = project.container(&format!("node{old}"));
    let net = project.network(&old_cid);
    let cut_at = Instant::now();
    let out = run(Command::new("docker").args(["network", "disconnect", &net, &old_cid]));
    assert!(out.status.success(), "disconnect: {}", text(&out.stderr));
    println!("partitioned node {old} (the leader) from {net}");

    // The majority elects another leader, and orders through the frontend go on.
    let others: Vec<u64> = (1..=3).filter(|&id| id != old).collect();
    let new = wait_for("a new leader on the majority side", || async {
        for &id in &others {
            if let Some(c) = project.cluster(id).await {
                if let Some(l) = c["leader"].as_u64().filter(|&l| l != old) {
                    return Some(l);
                }
            }
        }
        None
    })
    .await;
    println!(
        "node {new} leads the majority {:?} after the cut",
        cut_at.elapsed()
    );
    let mut during = Vec::new();
    for _ in 0..3 {
        let key = uuid::Uuid::new_v4().to_string();
        let v = wait("an order during the partition", || {
            project.order("Tux", 1, &key)
        })
        .await
        .expect("acknowledged");
        during.push(order_number(&v));
    }
    println!("orders {during:?} acknowledged through the frontend during the partition");

    // The old leader, asked directly from inside its container, acknowledges nothing.
    let since = cut_at.elapsed();
    if since < QUORUM_LOST_AFTER {
        tokio::time::sleep(QUORUM_LOST_AFTER - since).await;
    }
    let port = 7000 + old as u16;
    for attempt in 1..=3 {
        let out = exec_bazaar(&old_cid, port, &["order", "Tux", "1"]);
        let said = format!("{} {}", text(&out.stdout), text(&out.stderr));
        println!("old leader, direct order #{attempt}: {said}");
        assert!(
            !out.status.success(),
            "node {old}, cut off from the majority, acknowledged an order: {said}"
        );
        assert!(
            said.contains("(503 ") || said.contains("(421 ") || said.contains("not leader"),
            "node {old} refused the order, but not with 503/421: {said}"
        );
    }
    let read = exec_bazaar(&old_cid, port, &["lookup", "Tux"]);
    println!(
        "old leader, linearizable read: {} {}",
        text(&read.stdout),
        text(&read.stderr)
    );
    assert!(
        !read.status.success(),
        "a cut-off node served a linearizable read"
    );
    // Cut off from its quorum, the old leader steps down (CheckQuorum).
    let view: Value = common::wait_blocking("the cut-off leader to step down", || {
        let status = exec_bazaar(&old_cid, port, &["--json", "status"]);
        let view: Value = serde_json::from_slice(&status.stdout).ok()?;
        // A role is always there: a view without one is not an answer.
        (view["role"].is_string() && view["role"] != "leader").then_some(view)
    });
    let cluster = &view;
    println!(
        "old leader's own /cluster while cut off: role {}, leader {}, term {}, commit {}",
        cluster["role"], cluster["leader"], cluster["term"], cluster["commit_index"]
    );

    // Heal: same alias, so the others find it by name again.
    let out = run(Command::new("docker").args([
        "network",
        "connect",
        "--alias",
        &format!("node{old}"),
        &net,
        &old_cid,
    ]));
    assert!(out.status.success(), "connect: {}", text(&out.stderr));
    let rejoined = wait_for("the old leader to follow the new one", || async {
        let c = project.cluster(old).await?;
        (c["role"] != "leader" && c["leader"].as_u64().is_some()).then_some(c)
    })
    .await;
    println!(
        "node {old} rejoined as {} of node {} in term {}",
        rejoined["role"], rejoined["leader"], rejoined["term"]
    );

    // One more order, then every replica at the same index with the same digest.
    let last = wait_for("an order after healing", || async {
        let key = uuid::Uuid::new_v4().to_string();
        match project.order("Dolphin", 1, &key).await {
            Some((200, v)) => Some(order_number(&v)),
            _ => None,
        }
    })
    .await;
    let converged = wait_for("all replicas to converge", || async {
        let mut infos = Vec::new();
        for id in 1..=3 {
            infos.push(project.cluster(id).await?);
        }
        let first = &infos[0];
        let same = infos.iter().all(|c| {
            c["applied_index"] == first["applied_index"]
                && c["state_digest"] == first["state_digest"]
                && c["orders"] == first["orders"]
        });
        (same && first["orders"].as_u64() >= Some(last)).then(|| first.clone())
    })
    .await;
    println!(
        "converged: applied index {}, digest {}, {} orders",
        converged["applied_index"], converged["state_digest"], converged["orders"]
    );
    // Every acknowledged order is there, read through the frontend.
    for number in placed
        .iter()
        .map(|p| p.0)
        .chain(during.iter().copied())
        .chain([last])
    {
        let (status, v) = project
            .get_json(format!("{}/orders/{number}", project.frontend()))
            .await
            .expect("frontend answers");
        assert_eq!(status, 200, "acknowledged order {number} is missing: {v}");
    }
    println!("done in {:?}", started.elapsed());
}
