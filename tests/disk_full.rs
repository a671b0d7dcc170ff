//! Whole-system tests of a full disk (fail-stop): each node's data dir on its own
//! size-limited tmpfs; one node's is filled with a file until a few MB are left while
//! orders flow. That node must answer 503 `storage_failed` (`/readyz`, writes) and show
//! role `failed`, exit with the storage-failure code, and write little to its log on the
//! way; the others go on taking orders, no acknowledged order is lost, and once the space
//! is freed the restarted node catches up.
//!
//! These tests need root and `mount -t tmpfs`. Where mount is refused they print
//! "SKIPPED: ..." and return early: count them as skipped then, never as passed.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bazaar_api::NodeRole;
use common::load::Load;
use common::tmpfs::{data_places, Tmpfs};
use common::{wait_within, TestCluster, DEADLINE, POLL};
use raft_node::fail_stop::STORAGE_FAILED_EXIT_CODE;
use serde_json::Value;

/// Each node's filesystem: room for its databases and a snapshot or two.
const TMPFS_MB: u64 = 160;
/// What the filler leaves free on the full node's filesystem.
const LEFT_BYTES: u64 = 2 << 20;
/// A product with stock enough for every order of a test.
const PRODUCT: &str = "DiskFullItem";
/// How long orders may take to make the full node fail.
const FAIL_WITHIN: Duration = Duration::from_secs(30);
/// The bound on what a failing node may add to its log.
const MAX_LOG_GROWTH: u64 = 100 * 1024;

/// One tmpfs per node, or the reason to skip.
fn mounts() -> Result<BTreeMap<u64, Tmpfs>, String> {
    (1..=3u64)
        .map(|id| Tmpfs::mount(TMPFS_MB).map(|m| (id, m)))
        .collect()
}

/// A cluster whose node `id` keeps its data on `mounts[id]` (its data dir is a link there).
async fn cluster_on(mounts: &BTreeMap<u64, Tmpfs>) -> TestCluster {
    let cluster = TestCluster::start_on(data_places(mounts), |c| {
        // Snapshots and purges often, so the full node's disk sees every kind of write.
        c.raft.snapshot_every_entries = 200;
        c.raft.keep_entries_after_snapshot = 100;
    })
    .await;
    cluster
        .create_product(PRODUCT, "Disk-full test item", 1_000_000_000)
        .await;
    cluster
}

async fn get(cluster: &TestCluster, url: String) -> Option<(u16, Value)> {
    let resp = cluster
        .http
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.json().await.unwrap_or(Value::Null)))
}

/// What the full node showed while it failed.
#[derive(Debug)]
struct Failed {
    readyz: Value,
    role: Option<NodeRole>,
    write: Option<(u16, Value)>,
}

/// Whether node `id` shows the storage failure right now (or is already gone).
async fn storage_failed(cluster: &TestCluster, id: u64) -> Option<Option<Failed>> {
    let base = cluster.api_url(id);
    match get(cluster, format!("{base}/readyz")).await {
        None => Some(None),
        Some((503, body)) if body["error"]["reason"] == "storage_failed" => {
            let role = cluster.cluster_info(id).await.map(|i| i.role);
            let write = cluster
                .order_at(id, PRODUCT, 1, "to-a-failed-node")
                .await
                .ok();
            Some(Some(Failed {
                readyz: body,
                role,
                write,
            }))
        }
        Some(_) => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Leader,
    Follower,
}

async fn full_disk_on(role: Role) {
    let mounts = match mounts() {
        Ok(m) => m,
        Err(why) => {
            common::skipped(&why);
            return;
        }
    };
    let mut cluster = cluster_on(&mounts).await;
    let target = match role {
        Role::Leader => cluster.leader().await,
        Role::Follower => cluster.follower().await,
    };
    let load = Load::start(cluster.orders(), PRODUCT, 6, "full");
    // Some orders before the disk fills, then fill it under load.
    load.wait_acked(50, DEADLINE).await;
    let log_before = log_size(&cluster, target);
    let survivors_before: BTreeMap<u64, u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != target)
        .map(|id| (id, log_size(&cluster, id)))
        .collect();
    mounts[&target].fill_leaving(LEFT_BYTES);
    let filled = Instant::now();
    let acked_at_fill = load.acked();
    let shown = wait_within(
        "the full node to report its storage failure",
        FAIL_WITHIN,
        POLL,
        || storage_failed(&cluster, target),
    )
    .await;
    let reported = filled.elapsed();
    let mut acked = load.stop().await;
    let shown = shown.expect("the failed node answered 503 storage_failed before it exited");
    assert!(
        shown.readyz["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("storage failed")),
        "{shown:?}"
    );
    assert_eq!(shown.role, Some(NodeRole::Failed), "{shown:?}");
    let (status, body) = shown.write.as_ref().expect("a write answered");
    assert_eq!(*status, 503, "{body}");
    assert_eq!(body["error"]["reason"], "storage_failed", "{body}");

    let exit = cluster.wait_exit(target, "the failed node to exit").await;
    let exited = filled.elapsed();
    assert_eq!(
        exit.code(),
        Some(STORAGE_FAILED_EXIT_CODE),
        "exit status {exit:?}"
    );
    let log = cluster.node_log(target);
    let growth = log.len() as u64 - log_before.min(log.len() as u64);
    println!(
        "{role:?} node {target}: 503 storage_failed {} ms after the fill, exit {} ms after, \
         log +{growth} bytes, {} orders acked before the fill and {} in all",
        reported.as_millis(),
        exited.as_millis(),
        acked_at_fill,
        acked.len()
    );
    assert!(
        growth < MAX_LOG_GROWTH,
        "the failing node's log grew by {growth} bytes:\n{}",
        &log[log_before as usize..]
    );
    assert_eq!(
        log.matches("storage failed: this node stops serving")
            .count(),
        1,
        "the cause is logged once"
    );

    // The others go on taking orders.
    let after = Load::start(cluster.orders(), PRODUCT, 4, "after");
    after.wait_acked(30, DEADLINE).await;
    acked.extend(after.stop().await);

    // Nothing acknowledged is lost, on the survivors now and on the failed node once it is
    // back with room on its disk.
    for id in cluster.live_ids() {
        cluster.assert_has_orders(id, &acked).await;
    }
    // The survivors' logs stay small too, though they retried the failed node (and then
    // the stopped one) ten times a second all along.
    let window = filled.elapsed();
    for (id, before) in &survivors_before {
        let growth = log_size(&cluster, *id).saturating_sub(*before);
        println!(
            "survivor node {id}: log +{growth} bytes in {} ms",
            window.as_millis()
        );
        assert!(
            growth < MAX_LOG_GROWTH,
            "node {id}'s log grew by {growth} bytes while node {target} was failing or down:\n{}",
            &cluster.node_log(*id)[*before as usize..]
        );
    }

    if role == Role::Follower {
        // Started again on a disk that is still (completely) full: it says so and exits
        // with the same code, however far it got.
        mounts[&target].fill_leaving(0);
        let before = log_size(&cluster, target);
        cluster.restart(target);
        let exit = cluster
            .wait_exit(target, "the node restarted on a full disk to exit")
            .await;
        let log = cluster.node_log(target);
        let errors = log[before as usize..].matches(" ERROR raft_node").count();
        println!(
            "restarted on a full disk: exit {exit:?}, {errors} error line(s) of ours:\n{}",
            &log[before as usize..]
        );
        assert_eq!(exit.code(), Some(STORAGE_FAILED_EXIT_CODE), "{exit:?}");
        assert!((1..=2).contains(&errors), "{}", &log[before as usize..]);
    }
    mounts[&target].free_filler();
    cluster.restart(target);
    let info = cluster.wait_converged().await;
    assert!(info.orders >= acked.len() as u64, "{info:?}");
    // Ready again: it serves linearizable reads (it confirms its read index with the leader).
    let url = format!("{}/readyz", cluster.api_url(target));
    common::wait_for("the restarted node to be ready", || async {
        let (status, _) = get(&cluster, url.clone()).await?;
        (status == 200).then_some(())
    })
    .await;
    assert_eq!(cluster.live_ids().len(), 3);
    cluster.assert_has_orders(target, &acked).await;
}

fn log_size(cluster: &TestCluster, id: u64) -> u64 {
    std::fs::metadata(cluster.dir.path().join(format!("node{id}.log")))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// A follower whose disk fills fail-stops; the leader and the other follower go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_whose_disk_fills_fail_stops_and_catches_up_after_restart() {
    full_disk_on(Role::Follower).await;
}

/// A leader whose disk fills fail-stops; the others elect a new leader and go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_whose_disk_fills_fail_stops_and_catches_up_after_restart() {
    full_disk_on(Role::Leader).await;
}
