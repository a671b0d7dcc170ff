//! Archiving old orders with real processes and the real CLI: save and commit, lookups on
//! both sides of the mark on every node, retries of archived keys, files that must be
//! refused (damaged, foreign, overlapping), a replica whose orders differ from the file,
//! nodes killed during the commit and the reclaim, and a backup and restore after it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bazaar_api::archive::{read_archive, ArchiveHeader, ArchiveWriter};
use bazaar_api::OrderRecord;
use bazaar_api::{AlarmKind, ClusterInfo, OrderView};
use common::{cli_json, wait_for, Attempt, TestCluster};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(20);
const PRODUCT: &str = "Ledger";

/// A cluster whose idempotency records last `retention` entries and whose replicas compare
/// their whole state every second.
async fn cluster(retention: u64) -> TestCluster {
    let cluster = TestCluster::start_with(3, |c| {
        c.raft.dedupe_retention_entries = retention;
        c.storage.hash_check_interval_secs = 1;
    })
    .await;
    cluster
        .create_product(PRODUCT, "Archive test item", 1_000_000_000)
        .await;
    cluster
}

/// Places orders `prefix-0..n` one after another; returns them by key.
async fn place(cluster: &TestCluster, prefix: &str, n: usize) -> BTreeMap<String, OrderView> {
    let mut acked = BTreeMap::new();
    for i in 0..n {
        let key = format!("{prefix}-{i}");
        match cluster.place_order(PRODUCT, 1, &key, PATIENCE).await {
            Attempt::Acked(o) => {
                acked.insert(key, o);
            }
            other => panic!("order {key}: {other:?}"),
        }
    }
    acked
}

fn failed(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `bazaar archive save --upto N FILE` from node `id`.
fn save(cluster: &TestCluster, id: u64, upto: u64, file: &Path) -> std::process::Output {
    cluster.bazaar(&[
        "--url",
        &cluster.api_url(id),
        "--json",
        "archive",
        "save",
        "--upto",
        &upto.to_string(),
        &file.to_string_lossy(),
    ])
}

/// `bazaar archive commit FILE` through node `id` (the CLI finds the leader).
fn commit(cluster: &TestCluster, id: u64, file: &Path) -> std::process::Output {
    cluster.bazaar(&[
        "--url",
        &cluster.api_url(id),
        "--json",
        "archive",
        "commit",
        &file.to_string_lossy(),
    ])
}

/// Status and body of `GET /orders/N` on node `id` (linearizable).
async fn lookup(cluster: &TestCluster, id: u64, number: u64) -> (u16, Value) {
    let resp = cluster
        .http
        .get(format!("{}/orders/{number}", cluster.api_url(id)))
        .send()
        .await
        .expect("the node answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("a JSON body"))
}

/// Every live node answers 410 `archived`, naming `from..=upto`, for `archived`, and the
/// acknowledged order for each of `kept`.
async fn assert_split(
    cluster: &TestCluster,
    (from, upto): (u64, u64),
    archived: &[u64],
    kept: &[&OrderView],
) {
    for id in cluster.live_ids() {
        for number in archived {
            let (status, body) = lookup(cluster, id, *number).await;
            assert_eq!(status, 410, "order {number} on node {id}: {body}");
            assert_eq!(body["error"]["reason"], "archived", "{body}");
            assert_eq!(body["error"]["archive"]["from"], from, "{body}");
            assert_eq!(body["error"]["archive"]["upto"], upto, "{body}");
        }
        for order in kept {
            let (status, body) = lookup(cluster, id, order.number).await;
            assert_eq!(status, 200, "order {} on node {id}: {body}", order.number);
            let found: OrderView = serde_json::from_value(body["data"].clone()).expect("an order");
            assert_eq!(&found, *order);
        }
    }
}

/// Waits until every live node has applied the same state and reports `archived_upto`;
/// then lets three state checks pass and asserts that none named a member.
async fn converged_with_mark(cluster: &TestCluster, archived_upto: u64) -> ClusterInfo {
    let info = wait_for("every node to hold the archive", || async {
        let info = cluster.wait_converged().await;
        (info.archived_upto == archived_upto).then_some(info)
    })
    .await;
    let leader = cluster.leader().await;
    let checked_from = info.applied_index;
    wait_for("three state checks past the archive", || async {
        let now = cluster.cluster_info(leader).await?;
        (now.applied_index > checked_from + 3).then_some(())
    })
    .await;
    for id in cluster.live_ids() {
        let now = cluster.cluster_info(id).await.expect("cluster info");
        assert!(
            now.alarms.is_empty(),
            "no alarm after an archive, node {id}: {:?}",
            now.alarms
        );
    }
    info
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saved_orders_leave_every_node_and_retries_still_get_their_first_answer() {
    // 1000 entries of retention (the least allowed): the first orders are past it when the
    // archive commits, the last ones still within it.
    let cluster = cluster(1000).await;
    let first = place(&cluster, "early", 1200).await;
    let later = place(&cluster, "late", 30).await;
    let by_number: BTreeMap<u64, OrderView> = first
        .values()
        .chain(later.values())
        .map(|o| (o.number, o.clone()))
        .collect();
    let (from, upto) = (
        *by_number.keys().next().expect("orders"),
        first["early-1189"].number,
    );
    assert_eq!(from, 1);

    let follower = cluster.follower().await;
    let file = cluster.dir.path().join("orders.archive");
    let saved = cli_json(&save(&cluster, follower, upto, &file));
    assert_eq!(saved["from"], 1, "{saved}");
    assert_eq!(saved["upto"], upto, "{saved}");
    assert_eq!(saved["count"], upto, "{saved}");
    assert!(!Path::new(&format!("{}.part", file.display())).exists());
    // The file holds exactly the orders as they were acknowledged.
    let mut in_file = Vec::new();
    let contents = read_archive(std::fs::File::open(&file).expect("the archive"), |n, v| {
        in_file.push((n, OrderRecord::decode(v)?.view()));
        Ok(())
    })
    .expect("a whole archive");
    assert_eq!(
        contents.digest.hex(),
        saved["digest"].as_str().expect("digest")
    );
    for (n, view) in &in_file {
        assert_eq!(Some(view), by_number.get(n), "order {n} in the file");
    }
    let got =
        cli_json(&cluster.bazaar(&["--json", "archive", "get", &file.to_string_lossy(), "17"]));
    assert_eq!(got["number"], 17, "{got}");
    assert_eq!(
        got["total"],
        serde_json::to_value(&by_number[&17]).expect("json")["total"]
    );
    let inspected =
        cli_json(&cluster.bazaar(&["--json", "archive", "inspect", &file.to_string_lossy()]));
    assert_eq!(inspected["digest"], saved["digest"], "{inspected}");
    // Never overwritten.
    let before = std::fs::read(&file).expect("the archive");
    failed(&save(&cluster, follower, upto, &file));
    assert_eq!(std::fs::read(&file).expect("the archive"), before);

    let committed = cli_json(&commit(&cluster, follower, &file));
    assert_eq!(committed["archive"]["upto"], upto, "{committed}");
    assert_eq!(committed["already"], false, "{committed}");
    let info = converged_with_mark(&cluster, upto).await;
    assert_eq!(info.archives.len(), 1);
    assert_eq!(
        info.archives[0].digest,
        saved["digest"].as_str().expect("digest")
    );
    let kept: Vec<&OrderView> = by_number.range(upto + 1..).map(|(_, o)| o).collect();
    assert_split(&cluster, (1, upto), &[1, 17, upto], &kept).await;
    // Every member but the leader read its copy of the range ahead of the commit (at low
    // priority), so none read it while applying.
    let ids = cluster.ids();
    let read_ahead = ids
        .iter()
        .filter(|id| {
            cluster
                .node_log(**id)
                .contains("ahead of their archive commit")
        })
        .count();
    assert_eq!(read_ahead, ids.len() - 1, "all but the leader read ahead");

    // A retry of a key within retention gets its first answer; past it, a new order, as
    // it would have without the archive.
    let recent = &first["early-1185"];
    match cluster
        .place_order(PRODUCT, 1, "early-1185", PATIENCE)
        .await
    {
        Attempt::Acked(o) => assert_eq!(&o, recent, "the first answer"),
        other => panic!("retry of an archived order: {other:?}"),
    }
    let newest = later["late-29"].number;
    match cluster.place_order(PRODUCT, 1, "early-0", PATIENCE).await {
        Attempt::Acked(o) => assert_eq!(o.number, newest + 1, "numbers go on, never reused"),
        other => panic!("an expired key: {other:?}"),
    }

    // The same commit again changes nothing; a restart checks the state it left.
    let again = cli_json(&commit(&cluster, follower, &file));
    assert_eq!(again["already"], true, "{again}");
    let mut cluster = cluster;
    cluster.kill(follower);
    cluster.restart(follower);
    let restarted = converged_with_mark(&cluster, upto).await;
    assert_eq!(restarted.archives.len(), 1);
    assert_split(&cluster, (1, upto), &[upto], &kept).await;
}

/// Writes a well-formed archive of orders `from..=upto` whose values are `value(n)`.
fn forged(path: &Path, from: u64, upto: u64, value: impl Fn(u64) -> Vec<u8>) {
    let header = ArchiveHeader {
        from,
        upto,
        index: 1,
        node: 1,
        saved_at_ms: 0,
    };
    let mut w = ArchiveWriter::new(Vec::new(), &header).expect("writer");
    for n in from..=upto {
        w.order(n, &value(n)).expect("order");
    }
    let (bytes, _, _) = w.finish().expect("finish");
    std::fs::write(path, bytes).expect("write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_foreign_and_overlapping_archives_are_refused_and_name_no_one() {
    let cluster = cluster(1_000_000).await;
    let orders = place(&cluster, "o", 60).await;
    let leader = cluster.leader().await;
    let good = cluster.dir.path().join("good.archive");
    cli_json(&save(&cluster, leader, 40, &good));

    // A flipped byte: the CLI's check refuses it before anything is sent.
    let mut bytes = std::fs::read(&good).expect("archive");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    let damaged = cluster.dir.path().join("damaged.archive");
    std::fs::write(&damaged, &bytes).expect("write");
    let why = failed(&commit(&cluster, leader, &damaged));
    assert!(why.contains("damaged") || why.contains("checksum"), "{why}");

    // Well formed, but not this cluster's orders: the leader refuses it (409) before
    // proposing, so no replica is named.
    let foreign = cluster.dir.path().join("foreign.archive");
    forged(&foreign, 1, 40, |n| {
        format!("not an order {n}").into_bytes()
    });
    let why = failed(&commit(&cluster, leader, &foreign));
    assert!(why.contains("not a copy of this cluster's orders"), "{why}");

    // A truncated file.
    let truncated = cluster.dir.path().join("truncated.archive");
    let whole = std::fs::read(&good).expect("archive");
    std::fs::write(&truncated, &whole[..whole.len() - 10]).expect("write");
    failed(&commit(&cluster, leader, &truncated));

    // Nothing moved anywhere.
    let info = cluster.wait_converged().await;
    assert_eq!(info.archived_upto, 0);
    assert!(info.alarms.is_empty(), "{:?}", info.alarms);
    let all: Vec<&OrderView> = orders.values().collect();
    assert_split(&cluster, (0, 0), &[], &all).await;

    // The good one commits; one that overlaps it (or skips past the mark) is refused.
    cli_json(&commit(&cluster, leader, &good));
    converged_with_mark(&cluster, 40).await;
    let overlap = cluster.dir.path().join("overlap.archive");
    forged(&overlap, 30, 50, |n| format!("x{n}").into_bytes());
    let why = failed(&commit(&cluster, leader, &overlap));
    assert!(why.contains("must start at order 41"), "{why}");
    failed(&save(
        &cluster,
        leader,
        40,
        &cluster.dir.path().join("empty.archive"),
    ));
    let next = cluster.dir.path().join("next.archive");
    let saved = cli_json(&save(&cluster, leader, 55, &next));
    assert_eq!(saved["from"], 41, "{saved}");
    cli_json(&commit(&cluster, leader, &next));
    let info = converged_with_mark(&cluster, 55).await;
    assert_eq!(info.archives.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_whose_orders_differ_from_the_file_keeps_them_and_is_named_corrupt() {
    let mut cluster = cluster(1_000_000).await;
    let orders = place(&cluster, "d", 50).await;
    let leader = cluster.leader().await;
    let odd = cluster.follower().await;
    // Its digest of any range comes out different (a failpoint in the test build).
    cluster.kill(odd);
    cluster.restart_with_env(odd, &[("FAILPOINTS", "sm.archive.diverge=return")]);
    cluster.wait_converged().await;

    let file = cluster.dir.path().join("d.archive");
    cli_json(&save(&cluster, leader, 30, &file));
    cli_json(&commit(&cluster, leader, &file));
    let alarm = wait_for("the corrupt alarm for the odd replica", || async {
        let info = cluster.cluster_info(leader).await?;
        info.alarms
            .into_iter()
            .find(|a| a.kind == AlarmKind::Corrupt && a.member == odd)
    })
    .await;
    // The leader had it read its copy ahead of the commit, and said already then that
    // it differs.
    let leader_log = cluster.node_log(leader);
    assert!(
        leader_log.contains("differs from the file's digest"),
        "the leader did not name the odd copy ahead of the commit:\n{leader_log}"
    );
    // Named by its own report of the refused commit or by the next state check, whichever
    // came first; its log says which commit it refused.
    assert!(!alarm.detail.is_empty());
    wait_for("the odd replica to log the refused commit", || async {
        cluster
            .node_log(odd)
            .contains("differ from an archive")
            .then_some(())
    })
    .await;
    // The others removed the orders; the odd one kept them and answers no read.
    let healthy: Vec<u64> = cluster.ids().into_iter().filter(|id| *id != odd).collect();
    for id in &healthy {
        let (status, body) = lookup(&cluster, *id, 3).await;
        assert_eq!(status, 410, "node {id}: {body}");
    }
    let (status, body) = lookup(&cluster, odd, 3).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["reason"], "corrupt", "{body}");
    let odd_info = cluster.cluster_info(odd).await.expect("cluster info");
    assert_eq!(odd_info.archived_upto, 0, "the odd replica removed nothing");
    // Orders go on.
    match cluster.place_order(PRODUCT, 1, "after", PATIENCE).await {
        Attempt::Acked(o) => assert_eq!(o.number, orders.len() as u64 + 1),
        other => panic!("order after the refused commit: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_killed_during_the_commit_and_the_reclaim_come_back_consistent_and_restore() {
    let mut cluster = cluster(1_000_000).await;
    let orders = place(&cluster, "k", 120).await;
    let leader = cluster.leader().await;
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    let file = cluster.dir.path().join("k.archive");
    cli_json(&save(&cluster, others[0], 100, &file));

    // One follower is down when the commit is made; the other is held inside its first
    // reclaim slice (a failpoint) and killed there. Both come back and agree.
    cluster.kill(others[1]);
    cluster.restart_with_env(others[1], &[("FAILPOINTS", "reclaim.slice=sleep(120000)")]);
    // Back in the quorum before the other follower goes down.
    cluster.wait_converged().await;
    cluster.kill(others[0]);
    cli_json(&commit(&cluster, leader, &file));
    let held = others[1];
    wait_for("the follower's reclaim to start", || {
        let log = cluster.node_log(held);
        async move {
            log.contains("reclaiming archived orders' space")
                .then_some(())
        }
    })
    .await;
    assert!(
        !cluster
            .node_log(held)
            .contains("archived orders' space reclaimed"),
        "the reclaim finished before the kill"
    );
    cluster.kill(held);
    cluster.restart(held);
    cluster.restart(others[0]);
    converged_with_mark(&cluster, 100).await;
    let kept: Vec<&OrderView> = orders.values().filter(|o| o.number > 100).collect();
    assert_split(&cluster, (1, 100), &[1, 100], &kept).await;

    // A backup taken now carries the archive record; a cluster restored from it answers
    // as this one does.
    let backup = cluster.dir.path().join("after.backup");
    let saved = cli_json(&cluster.bazaar(&[
        "--url",
        &cluster.api_url(leader),
        "--json",
        "backup",
        "save",
        &backup.to_string_lossy(),
    ]));
    assert_eq!(saved["archives"], 1, "{saved}");
    assert_eq!(saved["orders"], 20, "{saved}");
    let restored = TestCluster::start_restored(3, &backup).await;
    let info = restored.wait_converged().await;
    assert_eq!(info.archived_upto, 100);
    assert_eq!(info.archives.len(), 1);
    assert_split(&restored, (1, 100), &[50], &kept).await;
}
