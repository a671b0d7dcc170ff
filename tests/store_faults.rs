//! Whole-system tests of the replicated store under crashes: real processes, SIGKILL,
//! restarts, a lagging follower restored by snapshot, and a lost majority.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::OrderView;
use common::{wait_for, Attempt, TestCluster};
use futures::StreamExt;

const PATIENCE: Duration = Duration::from_secs(20);

/// Places `keys.len()` one-unit orders of `product`, `concurrency` at a time.
async fn place_many(
    cluster: &TestCluster,
    product: &str,
    keys: Vec<String>,
    concurrency: usize,
    acked_counter: Option<Arc<AtomicUsize>>,
) -> Vec<(String, Attempt)> {
    futures::stream::iter(keys)
        .map(|key| {
            let counter = acked_counter.clone();
            async move {
                let attempt = cluster.place_order(product, 1, &key, PATIENCE).await;
                if let (Attempt::Acked(_), Some(c)) = (&attempt, counter) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
                (key, attempt)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

fn acked(results: &[(String, Attempt)]) -> BTreeMap<String, OrderView> {
    results
        .iter()
        .filter_map(|(k, a)| match a {
            Attempt::Acked(o) => Some((k.clone(), o.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_kill_during_concurrent_orders_loses_and_duplicates_nothing() {
    let mut cluster = TestCluster::start(3).await;
    let old_leader = cluster.leader().await;
    let initial = cluster.stock(old_leader, "Lego").await.expect("Lego stock");

    let before: Vec<String> = (0..20).map(|i| format!("before-{i}")).collect();
    let mut results = place_many(&cluster, "Lego", before, 6, None).await;
    assert_eq!(
        acked(&results).len(),
        20,
        "orders before the crash: {results:?}"
    );

    // Kill the leader (SIGKILL) while the next wave is in flight.
    let pid = cluster.pid(old_leader);
    let during: Vec<String> = (0..40).map(|i| format!("during-{i}")).collect();
    let counter = Arc::new(AtomicUsize::new(0));
    let wave = place_many(&cluster, "Lego", during, 6, Some(counter.clone()));
    let killer = async {
        wait_for("some orders of the second wave", || async {
            (counter.load(Ordering::SeqCst) >= 5).then_some(())
        })
        .await;
        common::signal(pid, "KILL");
    };
    let (wave_results, ()) = futures::join!(wave, killer);
    results.extend(wave_results);
    cluster.kill(old_leader); // reaps the process
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, old_leader);

    // Retry everything with the same keys: unacknowledged ones settle, acknowledged ones
    // come back identical, nothing is created twice.
    let all_keys: Vec<String> = results.iter().map(|(k, _)| k.clone()).collect();
    let first_acks = acked(&results);
    let retried = place_many(&cluster, "Lego", all_keys.clone(), 6, None).await;
    let settled = acked(&retried);
    assert_eq!(
        settled.len(),
        all_keys.len(),
        "every order settles on retry: {retried:?}"
    );
    for (key, order) in &first_acks {
        assert_eq!(
            settled.get(key),
            Some(order),
            "a retry of {key} returned a different order"
        );
    }
    let numbers: BTreeSet<u64> = settled.values().map(|o| o.number).collect();
    assert_eq!(numbers.len(), settled.len(), "order numbers are unique");

    let info = cluster.wait_converged().await;
    assert_eq!(
        info.orders,
        settled.len() as u64,
        "no order was created twice"
    );
    let stock = cluster.stock(new_leader, "Lego").await.expect("Lego stock");
    assert_eq!(stock + settled.len() as u64, initial, "units are conserved");
    for id in cluster.live_ids() {
        cluster.assert_has_orders(id, &settled).await;
    }

    cluster.restart(old_leader);
    wait_for("the old leader to rejoin", || async {
        cluster
            .cluster_info(old_leader)
            .await
            .filter(|i| i.applied_index >= info.applied_index)
    })
    .await;
    cluster.wait_converged().await;
    cluster.assert_has_orders(old_leader, &settled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_killed_and_restarted_catches_up_to_the_same_state() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    cluster.kill(follower);
    let keys: Vec<String> = (0..30).map(|i| format!("f-{i}")).collect();
    let orders = acked(&place_many(&cluster, "Tux", keys, 4, None).await);
    assert_eq!(orders.len(), 30);
    cluster.restart(follower);
    let info = cluster.wait_converged().await;
    assert_eq!(cluster.live_ids().len(), 3);
    assert_eq!(info.orders, 30);
    cluster.assert_has_orders(follower, &orders).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_nodes_killed_and_restarted_keep_every_acknowledged_order() {
    let mut cluster = TestCluster::start(3).await;
    let keys: Vec<String> = (0..25).map(|i| format!("all-{i}")).collect();
    let orders = acked(&place_many(&cluster, "Fox", keys, 5, None).await);
    assert_eq!(orders.len(), 25);
    for id in cluster.ids() {
        cluster.kill(id);
    }
    for id in cluster.ids() {
        cluster.restart(id);
    }
    let leader = cluster.leader().await;
    for id in cluster.ids() {
        cluster.assert_has_orders(id, &orders).await;
    }
    assert_eq!(cluster.stock(leader, "Fox").await, Some(75));
    // The dedupe table survived the crash too: retries return the same orders, create none.
    let keys: Vec<String> = (0..25).map(|i| format!("all-{i}")).collect();
    let retried = acked(&place_many(&cluster, "Fox", keys, 5, None).await);
    assert_eq!(
        retried, orders,
        "retries after a full restart return the first orders"
    );
    assert_eq!(cluster.stock(leader, "Fox").await, Some(75));
    let info = cluster.wait_converged().await;
    assert_eq!(info.orders, 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_behind_the_purged_log_is_restored_by_snapshot() {
    let mut cluster = TestCluster::start_with(3, |c| {
        c.raft.snapshot_every_entries = 20;
        c.raft.keep_entries_after_snapshot = 5;
    })
    .await;
    let leader = cluster.leader().await;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let behind = cluster
        .cluster_info(follower)
        .await
        .expect("follower info")
        .applied_index;
    cluster.kill(follower);
    // One at a time, so each order is its own log entry and the log really grows.
    let keys: Vec<String> = (0..80).map(|i| format!("s-{i}")).collect();
    let orders = acked(&place_many(&cluster, "Whale", keys, 1, None).await);
    assert_eq!(orders.len(), 80);
    wait_for("the leader to purge past the follower", || async {
        let info = cluster.cluster_info(leader).await?;
        (info.purged_index > behind + 1).then_some(())
    })
    .await;
    cluster.restart(follower);
    cluster.wait_converged().await;
    let info = cluster.cluster_info(follower).await.expect("follower info");
    assert!(
        info.snapshot_index > behind,
        "the follower installed a snapshot: {info:?}"
    );
    cluster.assert_has_orders(follower, &orders).await;
    assert_eq!(cluster.stock(follower, "Whale").await, Some(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_two_of_three_down_writes_answer_503_fast() {
    let mut cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    for id in cluster.ids() {
        if id != leader {
            cluster.kill(id);
        }
    }
    let deadline = Duration::from_millis(cluster.config.raft.write_deadline_ms);
    for attempt in 0..3 {
        let start = Instant::now();
        let resp = cluster
            .http
            .post(format!("{}/orders", cluster.api_url(leader)))
            .json(&serde_json::json!({"name": "Tux", "quantity": 1}))
            .send()
            .await
            .expect("the node answers");
        let elapsed = start.elapsed();
        assert_eq!(resp.status().as_u16(), 503, "attempt {attempt}");
        assert!(resp.headers().contains_key("retry-after"));
        // Bounded by the write deadline (plus scheduling slack), never a hang.
        assert!(
            elapsed < deadline + Duration::from_secs(3),
            "took {elapsed:?}"
        );
    }
    let read = cluster
        .http
        .get(format!("{}/products/Tux", cluster.api_url(leader)))
        .send()
        .await
        .expect("the node answers");
    assert_eq!(
        read.status().as_u16(),
        503,
        "a linearizable read needs a quorum too"
    );
    let stale = cluster
        .http
        .get(format!(
            "{}/products/Tux?consistency=stale",
            cluster.api_url(leader)
        ))
        .send()
        .await
        .expect("the node answers");
    assert_eq!(
        stale.status().as_u16(),
        200,
        "a stale read is served locally"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_reads_see_every_acknowledged_write() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let followers: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    for i in 0..15u64 {
        let Attempt::Acked(order) = cluster
            .place_order("Dolphin", 1, &format!("r-{i}"), PATIENCE)
            .await
        else {
            panic!("order {i} was not acknowledged");
        };
        let follower = followers[(i as usize) % followers.len()];
        assert_eq!(cluster.get_order(follower, order.number).await, Some(order));
        assert_eq!(cluster.stock(follower, "Dolphin").await, Some(100 - i - 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_its_quorum_steps_down_and_the_cluster_recovers() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let followers: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let frozen: Vec<u32> = followers.iter().map(|id| cluster.pid(*id)).collect();
    for pid in &frozen {
        common::signal(*pid, "STOP");
    }
    let info = wait_for("the cut-off leader to step down", || async {
        cluster
            .cluster_info(leader)
            .await
            .filter(|i| i.role != bazaar_api::NodeRole::Leader)
    })
    .await;
    assert_ne!(info.leader, Some(leader), "{info:?}");
    let (status, _) = cluster
        .order_at(leader, "Tux", 1, "cut-off")
        .await
        .expect("the node answers");
    assert_eq!(status, 503, "a node without a quorum acknowledges nothing");

    for pid in &frozen {
        common::signal(*pid, "CONT");
    }
    let Attempt::Acked(order) = cluster.place_order("Tux", 1, "after-heal", PATIENCE).await else {
        panic!("no order after the partition healed");
    };
    cluster.wait_converged().await;
    for id in cluster.ids() {
        assert_eq!(
            cluster.get_order(id, order.number).await.as_ref(),
            Some(&order)
        );
    }
}
