//! Whole-system tests of a failed fsync, injected with failpoints (the `fail` crate, as
//! TiKV does) into one node process of a real cluster under load: the log's synced append
//! on a follower, and the state machine's write on the leader. Each time the node stops
//! serving, exits with 74 and never retries the write; the others go on taking orders; and
//! every acknowledged order is there afterwards, on every node, the failed one included
//! once it is restarted without the failpoint.
//!
//! The node binaries must be built with `--features raft-node/failpoints` (scripts/test.sh
//! does); a node without them ignores FAILPOINTS, and these tests then fail, never pass.

mod common;

use std::time::Duration;

use common::load::Load;
use common::{wait_for, TestCluster, DEADLINE};
use raft_node::fail_stop::STORAGE_FAILED_EXIT_CODE;
use serde_json::Value;

const PRODUCT: &str = "Fsync";

async fn cluster() -> TestCluster {
    let cluster = TestCluster::start(3).await;
    cluster.wait_converged().await;
    cluster
        .create_product(PRODUCT, "Fsync test item", 1_000_000_000)
        .await;
    cluster
}

/// Whether node `id` has stopped serving: 503 `storage_failed` or no answer at all.
async fn stopped_serving(cluster: &TestCluster, id: u64) -> bool {
    let answer = cluster
        .http
        .get(format!("{}/readyz", cluster.api_url(id)))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    match answer {
        Err(_) => true,
        Ok(resp) => {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            body["error"]["reason"] == "storage_failed"
        }
    }
}

/// Restarts `target` with `failpoints` armed (and makes it the leader when `lead`), runs a
/// load while its sync fails, checks how it failed, then that nothing acknowledged was
/// lost anywhere.
async fn fails_under_load(
    cluster: &mut TestCluster,
    target: u64,
    failpoints: &str,
    cause: &str,
    lead: bool,
) {
    cluster.kill(target);
    cluster.restart_with_env(target, &[("FAILPOINTS", failpoints)]);
    cluster.wait_converged().await;
    if lead && cluster.leader().await != target {
        let out = cluster.bazaar(&["leader", "transfer", &target.to_string()]);
        assert!(out.status.success(), "leader transfer: {out:?}");
    }
    if lead {
        assert_eq!(cluster.leader().await, target);
    }
    let load = Load::start(cluster.orders(), PRODUCT, 6, "sync");
    wait_for(&format!("node {target} to stop serving"), || async {
        stopped_serving(cluster, target).await.then_some(())
    })
    .await;
    // Orders go on without it.
    let before = load.acked();
    load.wait_acked(before + 30, DEADLINE).await;
    let acked = load.stop().await;
    let exit = cluster
        .wait_exit(target, "the node whose sync failed to exit")
        .await;
    assert_eq!(
        exit.code(),
        Some(STORAGE_FAILED_EXIT_CODE),
        "node {target}: {exit:?}"
    );
    let log = cluster.node_log(target);
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("storage failed: this node stops serving"))
        .collect();
    assert_eq!(failures.len(), 1, "the failure is logged once:\n{log}");
    assert!(failures[0].contains(cause), "{}", failures[0]);
    assert!(acked.len() >= 30, "{} orders acknowledged", acked.len());
    for id in cluster.live_ids() {
        cluster.assert_has_orders(id, &acked).await;
    }
    cluster.restart(target);
    cluster.wait_converged().await;
    for id in cluster.ids() {
        cluster.assert_has_orders(id, &acked).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_log_sync_on_a_follower_fail_stops_it_and_loses_nothing() {
    let mut cluster = cluster().await;
    let follower = cluster.follower().await;
    // The first 100 appends succeed, then every sync fails.
    fails_under_load(
        &mut cluster,
        follower,
        "log.append.sync=100*off->return",
        "failpoint log.append.sync",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_state_write_on_the_leader_fail_stops_it_and_loses_nothing() {
    let mut cluster = cluster().await;
    // Restarted with the failpoint, then given the leadership.
    let target = cluster.leader().await;
    fails_under_load(
        &mut cluster,
        target,
        "sm.apply.write=100*off->return",
        "failpoint sm.apply.write",
        true,
    )
    .await;
}
