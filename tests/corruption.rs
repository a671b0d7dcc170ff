//! Whole-system tests of corruption detection with real node processes:
//! - bytes flipped in a stopped follower's state files: it refuses to start (exit 65);
//! - a record changed by hand in a stopped follower's state: it refuses to start too, so no
//!   read ever returns the changed record;
//! - bytes flipped in a stopped follower's snapshot file: it builds a new one at start from
//!   its checked state, so the damaged file is never sent;
//! - a replica whose state silently diverges while it runs (a failpoint skews its content
//!   sum at the state check): the leader's check raises the `corrupt` alarm naming it, it
//!   then answers every read with 503 `corrupt`, and it does not stay leader.
//!
//! The divergence case needs node binaries built with `--features raft-node/failpoints`
//! (scripts/test.sh builds them so).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{wait_for, Attempt, TestCluster};
use raft_node::codec::{decode, encode};
use raft_node::fail_stop::DAMAGED_DATA_EXIT_CODE;
use raft_node::shop::ProductRecord;
use rocksdb::{Options, DB};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(20);

/// The state database folder node `id` uses now (`sm/<CURRENT>`).
fn state_db(cluster: &TestCluster, id: u64) -> PathBuf {
    let sm = cluster.config.node_data_dir(id).join("sm");
    let current = std::fs::read_to_string(sm.join("CURRENT")).expect("sm/CURRENT");
    sm.join(current.trim())
}

/// Opens a stopped node's state database with every column family it has.
fn open_db(path: &Path) -> DB {
    let opts = Options::default();
    let cfs = DB::list_cf(&opts, path).expect("list column families");
    DB::open_cf(&opts, path, cfs).expect("open the stopped node's state database")
}

/// A cluster with some orders, and a follower stopped (SIGKILL) for the test to damage.
async fn cluster_with_stopped_follower(
    tweak: impl FnOnce(&mut bazaar_api::config::ClusterConfig),
) -> (TestCluster, u64) {
    let (mut cluster, follower) = cluster_with_orders(tweak).await;
    cluster.kill(follower);
    (cluster, follower)
}

/// A cluster with some orders, converged, and one of its followers.
async fn cluster_with_orders(
    tweak: impl FnOnce(&mut bazaar_api::config::ClusterConfig),
) -> (TestCluster, u64) {
    let cluster = TestCluster::start_with(3, tweak).await;
    for i in 0..40 {
        match cluster
            .place_order("Tux", 1, &format!("before-{i}"), PATIENCE)
            .await
        {
            Attempt::Acked(_) => {}
            other => panic!("order {i}: {other:?}"),
        }
    }
    cluster.wait_converged().await;
    let follower = cluster.follower().await;
    (cluster, follower)
}

/// Restarts `id` and waits for it to refuse its data: exit 65 with one clear line, after the
/// databases it had opened are closed (each close slowed down by a failpoint: a process that
/// exits while RocksDB closes a database can abort in RocksDB's static destructors, as this
/// test's node once did in CI, and then a supervisor sees a crash, not exit 65).
async fn refuses_to_start(cluster: &mut TestCluster, id: u64, why: &str) {
    let before = cluster.node_log(id).len();
    cluster.restart_with_env(
        id,
        &[
            ("FAILPOINTS", "rocks.close=sleep(300)"),
            (
                "RUST_LOG",
                "info,openraft=warn,raft_node::store::rocks=debug",
            ),
        ],
    );
    let exit = cluster.wait_exit(id, "the damaged node to exit").await;
    assert_eq!(exit.code(), Some(DAMAGED_DATA_EXIT_CODE), "{exit:?}");
    let log = cluster.node_log(id)[before..].to_owned();
    let refused_at = log
        .find("refusing to serve this node's damaged data")
        .unwrap_or_else(|| panic!("no refusal in:\n{log}"));
    assert!(
        log[refused_at..].contains("database closed"),
        "it exited before its databases closed:\n{log}"
    );
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refusing to serve this node's damaged data"))
        .collect();
    assert_eq!(refusals.len(), 1, "{log}");
    assert!(refusals[0].contains(why), "{}", refusals[0]);
    assert!(!log.contains("serving"), "it never served:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_changed_by_hand_is_refused_at_start() {
    let (mut cluster, follower) = cluster_with_stopped_follower(|_| {}).await;
    {
        let db = open_db(&state_db(&cluster, follower));
        let products = db.cf_handle("products").expect("products family");
        let bytes = db
            .get_cf(&products, b"Tux")
            .expect("read Tux")
            .expect("Tux is stored");
        let mut tux: ProductRecord = decode(&bytes).expect("decode Tux");
        tux.stock += 1000;
        db.put_cf(&products, b"Tux", encode(&tux).expect("encode"))
            .expect("change Tux by hand");
        db.flush_cf(&products).expect("flush");
    }
    refuses_to_start(&mut cluster, follower, "does not hold what was applied").await;
    // The others still hold and serve the true stock.
    let leader = cluster.leader().await;
    let stock = cluster.stock(leader, "Tux").await.expect("Tux stock");
    assert!(stock < 1000, "{stock}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_in_a_state_file_are_refused_at_start() {
    let (mut cluster, follower) = cluster_with_stopped_follower(|_| {}).await;
    let path = state_db(&cluster, follower);
    {
        // Everything into table files, as a long-running node's state would be.
        let db = open_db(&path);
        for name in DB::list_cf(&Options::default(), &path).expect("families") {
            let cf = db.cf_handle(&name).expect("family");
            db.flush_cf(&cf).expect("flush");
        }
    }
    let orders_table = std::fs::read_dir(&path)
        .expect("state folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a table file");
    let mut bytes = std::fs::read(&orders_table).expect("read the table");
    // Inside the first data block: a record's bytes, covered by the block's checksum.
    let at = bytes.len() / 8;
    for b in &mut bytes[at..at + 8] {
        *b ^= 0x5a;
    }
    std::fs::write(&orders_table, &bytes).expect("write the damaged table");
    refuses_to_start(&mut cluster, follower, "orruption").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_snapshot_is_rebuilt_at_start_never_sent() {
    let (mut cluster, follower) = cluster_with_orders(|c| {
        c.raft.snapshot_every_entries = 10;
        c.raft.snapshot_log_percent = 0;
    })
    .await;
    wait_for("the follower to build a snapshot", || async {
        let info = cluster.cluster_info(follower).await?;
        (info.snapshot_index > 0).then_some(())
    })
    .await;
    cluster.kill(follower);
    let snapshot = cluster
        .config
        .node_data_dir(follower)
        .join("snapshots")
        .join("current.snap");
    let mut bytes = std::fs::read(&snapshot).expect("the follower has built a snapshot");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&snapshot, &bytes).expect("damage the snapshot");
    let before = cluster.node_log(follower).len();
    cluster.restart(follower);
    cluster.wait_converged().await;
    let log = cluster.node_log(follower)[before..].to_owned();
    assert_eq!(
        log.matches("the current snapshot is damaged").count(),
        1,
        "{log}"
    );
    // The file now there reads whole, CRC and all.
    let file = std::fs::File::open(&snapshot).expect("a snapshot again");
    let mut reader = raft_node::store::snapshot::StreamReader::open(file).expect("its header");
    let mut records = 0;
    while reader
        .next_record()
        .expect("every record and the CRC")
        .is_some()
    {
        records += 1;
    }
    assert!(records > 40, "{records} records");
}

/// Node `id`'s answer to a read of `path`: status and reason.
async fn read(cluster: &TestCluster, id: u64, path: &str) -> Option<(u16, Value)> {
    let resp = cluster
        .http
        .get(format!("{}{path}", cluster.api_url(id)))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let status = resp.status().as_u16();
    Some((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_diverges_is_named_corrupt_serves_no_reads_and_does_not_lead() {
    const INTERVAL_SECS: u64 = 1;
    let (mut cluster, target) =
        cluster_with_stopped_follower(|c| c.storage.hash_check_interval_secs = INTERVAL_SECS).await;
    cluster.restart_with_env(target, &[("FAILPOINTS", "sm.check.diverge=return")]);
    let started = Instant::now();
    // Handed the leadership at once, it must not keep it once named.
    let _ = cluster.bazaar(&["leader", "transfer", &target.to_string()]);
    let named = wait_for("the corrupt alarm naming the diverged node", || async {
        for id in cluster.live_ids() {
            let info = cluster.cluster_info(id).await?;
            if let Some(alarm) = info
                .alarms
                .iter()
                .find(|a| a.kind.as_str() == "corrupt" && a.member == target)
            {
                return Some(alarm.clone());
            }
        }
        None
    })
    .await;
    println!(
        "corrupt alarm on node {target} {} ms after its restart (interval {INTERVAL_SECS} s): {}",
        started.elapsed().as_millis(),
        named.detail
    );
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != target)
        .collect();
    wait_for("the named node to hand leadership over", || async {
        let leader = cluster.leader().await;
        others.contains(&leader).then_some(())
    })
    .await;
    // Every read on the named node is refused; the others answer.
    wait_for("the named node to apply its alarm", || async {
        let (status, body) = read(&cluster, target, "/products/Tux").await?;
        (status == 503 && body["error"]["reason"] == "corrupt").then_some(())
    })
    .await;
    for path in [
        "/products/Tux",
        "/products/Tux?consistency=stale",
        "/orders/1",
        "/readyz",
    ] {
        let (status, body) = read(&cluster, target, path).await.expect("an answer");
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"]["reason"], "corrupt", "{path}: {body}");
    }
    for id in &others {
        let (status, body) = read(&cluster, *id, "/orders/1").await.expect("an answer");
        assert_eq!(status, 200, "node {id}: {body}");
    }
    let list = cluster.bazaar(&["alarm", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains(&format!("corrupt on node {target}")),
        "{list:?}"
    );
    // Orders still flow through the healthy majority.
    match cluster
        .place_order("Fox", 1, "after-corrupt", PATIENCE)
        .await
    {
        Attempt::Acked(_) => {}
        other => panic!("an order after the alarm: {other:?}"),
    }
}
