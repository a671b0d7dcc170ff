//! Whole-system tests of power loss: each node's data dir on its own `powercut` disk
//! (tests/common/powercut.rs), a FUSE filesystem that keeps written data in memory until it
//! is fsynced and drops the rest at a cut, as Jepsen's LazyFS does. Under a load of orders
//! with idempotency keys, the leader, or all three nodes at once, are killed with SIGKILL,
//! their disks lose every unsynced write, and they are started again, three times over
//! (each time once orders are taken again). Then every node must
//! come back ready (none unbootable), the replicas must reach the same state digest at the
//! same applied index, and every acknowledged order must be on every node as it was
//! acknowledged. That the disk really drops unsynced data is checked in the `powercut`
//! crate's own tests (powercut/tests/power_cut.rs); each cut's report is printed here.
//!
//! These tests need /dev/fuse and root (or fusermount3). Where FUSE is refused they write
//! "SKIPPED: ..." and return early: scripts/test.sh counts them as skipped, never as passed.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bazaar_api::OrderView;
use common::load::Load;
use common::powercut::PowercutDisk;
use common::{signal, wait_within, TestCluster, POLL};

/// A product with stock enough for every order of a test.
const PRODUCT: &str = "PowerCutItem";
/// Orders acknowledged before the first cut, and after each restart.
const ORDERS_EACH_SIDE: usize = 500;
/// Cuts per test (each after the cluster took orders again since the last).
const ROUNDS: usize = 3;
/// Generous for a whole cluster restarting on FUSE disks on a small shared machine.
const RECOVERY: Duration = Duration::from_secs(90);

/// One powercut disk per node, or the reason to skip.
fn disks() -> Result<BTreeMap<u64, PowercutDisk>, String> {
    (1..=3u64)
        .map(|id| PowercutDisk::mount().map(|d| (id, d)))
        .collect()
}

/// A cluster whose node `id` keeps its data on `disks[id]` (its data dir is a link there).
async fn cluster_on(disks: &BTreeMap<u64, PowercutDisk>) -> TestCluster {
    let places: BTreeMap<u64, std::path::PathBuf> = disks
        .iter()
        .map(|(id, d)| (*id, d.path().join("data")))
        .collect();
    let cluster = TestCluster::start_on(places, |c| {
        // Snapshots and purges often, so a cut can land in the middle of any of them.
        c.raft.snapshot_every_entries = 100;
        c.raft.keep_entries_after_snapshot = 50;
    })
    .await;
    cluster
        .create_product(PRODUCT, "Power-loss test item", 1_000_000_000)
        .await;
    cluster
}

#[derive(Debug, Clone, Copy)]
enum Cut {
    /// The node leading when the cut comes.
    Leader,
    /// All three nodes at once.
    All,
}

async fn power_cut(which: Cut) {
    let disks = match disks() {
        Ok(disks) => disks,
        Err(why) => {
            common::skipped(&why);
            return;
        }
    };
    let mut cluster = cluster_on(&disks).await;
    let load = Load::start(cluster.orders(), PRODUCT, 6, "power");
    load.wait_acked(ORDERS_EACH_SIDE, RECOVERY).await;
    for round in 1..=ROUNDS {
        let victims = match which {
            Cut::Leader => vec![cluster.leader().await],
            Cut::All => cluster.ids(),
        };
        // SIGKILL to every victim first, so they stop at the same moment; then wait for
        // each to be gone (a process killed while the filesystem serves one of its requests
        // waits for the answer, so nothing of it reaches the disk after this) before its
        // disk loses power.
        for id in &victims {
            signal(cluster.pid(*id), "KILL");
        }
        for id in &victims {
            cluster.kill(*id);
        }
        let acked_at_cut = load.acked();
        for id in &victims {
            let report = disks[id].cut();
            println!("round {round}, {acked_at_cut} orders acknowledged, node {id}: {report}");
            // Something is always unsynced on a node's disk (its state machine writes
            // without a sync: the log is what is synced), so a cut that dropped nothing
            // means the node does not keep its data on this disk: the test would prove
            // nothing.
            assert!(
                !report.starts_with("cut: dropped 0 "),
                "node {id}'s cut dropped nothing: {report}"
            );
        }
        if let Cut::Leader = which {
            // As a machine that takes a while to boot: the others elect a leader first.
            let leader = cluster.leader().await;
            println!(
                "round {round}: node {leader} leads while node {} is down",
                victims[0]
            );
        }
        for id in &victims {
            cluster.restart(*id);
        }
        // Orders go on being taken after the restart.
        load.wait_acked(acked_at_cut + ORDERS_EACH_SIDE, RECOVERY)
            .await;
    }
    let acked = load.stop().await;
    println!(
        "{which:?} cut x{ROUNDS}: {} orders acknowledged",
        acked.len()
    );

    // No node is unbootable: each is running and ready.
    for id in cluster.ids() {
        wait_ready(&cluster, id).await;
        assert!(
            cluster.exited(id).is_none(),
            "node {id} exited after the cut"
        );
    }
    let info = cluster.wait_converged().await;
    println!(
        "converged at applied index {} with digest {}",
        info.applied_index, info.state_digest
    );
    assert!(info.orders >= acked.len() as u64, "{info:?}");
    for id in cluster.ids() {
        assert_orders_on(&cluster, id, &acked).await;
    }
    for (id, disk) in &disks {
        let log = disk.log();
        assert!(
            !log.contains("ERROR"),
            "node {id}'s disk logged errors:\n{log}"
        );
    }
}

/// Waits until node `id` answers `/readyz` with 200.
async fn wait_ready(cluster: &TestCluster, id: u64) {
    let url = format!("{}/readyz", cluster.api_url(id));
    wait_within(
        &format!("node {id} to be ready"),
        RECOVERY,
        POLL,
        || async {
            let resp = cluster
                .http
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .ok()?;
            (resp.status() == 200).then_some(())
        },
    )
    .await;
}

async fn assert_orders_on(cluster: &TestCluster, id: u64, orders: &BTreeMap<String, OrderView>) {
    for (key, order) in orders {
        let found = cluster.get_order(id, order.number).await;
        assert_eq!(
            found.as_ref(),
            Some(order),
            "acknowledged order {} ({key}) on node {id} after the cut; cluster: {:?}",
            order.number,
            cluster.cluster_info(id).await
        );
    }
}

/// The leader loses power under load: it restarts on what it had synced and catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_leader_loses_power_under_load_and_nothing_acknowledged_is_lost() {
    power_cut(Cut::Leader).await;
}

/// All three nodes lose power at once under load: the cluster restarts on what each had
/// synced, and every acknowledged order is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_three_nodes_lose_power_at_once_under_load_and_nothing_acknowledged_is_lost() {
    power_cut(Cut::All).await;
}
