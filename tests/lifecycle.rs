//! The data lifecycle with real processes and the real CLI: replacing a failed member while
//! orders flow, moving the leader (by command and on SIGTERM), backing up and restoring into
//! a new cluster, and the bad inputs an operator can give each of them.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{cli_json, signal, wait_for, Attempt, TestCluster};
use serde_json::Value;

/// Patience of one order placed by the background load (failovers included).
const ORDER_PATIENCE: Duration = Duration::from_secs(20);
/// The product these tests order: stocked so that it never runs out.
const PRODUCT: &str = "Lifecycle";

/// Creates [`PRODUCT`] on the cluster's leader.
async fn stock_product(cluster: &TestCluster) {
    cluster
        .create_product(PRODUCT, "Lifecycle test item", 1_000_000_000)
        .await;
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `bazaar member add` of node `new` (already in the cluster file and started) through
/// `leader_url`, waiting until it has caught up.
fn add_member_and_wait(cluster: &TestCluster, leader_url: &str, new: u64) -> std::process::Output {
    let node = cluster.config.node(new).expect("the new node");
    let id = new.to_string();
    cluster.bazaar(&[
        "--url", leader_url, "--json", "member", "add", &id, "--api", &node.api, "--raft",
        &node.raft, "--wait", "60s",
    ])
}

/// Orders placed one after another until `stop`, each with its own key; returns the
/// acknowledged ones by key.
async fn place_until(
    cluster: Arc<TestCluster>,
    stop: Arc<AtomicBool>,
    prefix: &'static str,
) -> BTreeMap<String, u64> {
    let mut acked = BTreeMap::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("{prefix}-{n}");
        match cluster.place_order(PRODUCT, 1, &key, ORDER_PATIENCE).await {
            Attempt::Acked(order) => {
                acked.insert(key, order.number);
            }
            Attempt::Rejected(status, body) => panic!("order {key} refused: {status} {body}"),
            // Not acknowledged: it need not be there, and a retry with its key below
            // settles it either way.
            Attempt::Indeterminate(_) => {}
        }
    }
    acked
}

/// Every acknowledged order is on `node`, and a retry of its key returns the same order.
async fn assert_orders_kept(cluster: &TestCluster, node: u64, acked: &BTreeMap<String, u64>) {
    for (key, number) in acked {
        let order = cluster.get_order(node, *number).await;
        assert!(
            order.is_some(),
            "order {number} ({key}) is missing on node {node}"
        );
        match cluster.place_order(PRODUCT, 1, key, ORDER_PATIENCE).await {
            Attempt::Acked(again) => assert_eq!(
                again.number, *number,
                "a retry of key {key} made a new order"
            ),
            other => panic!("retry of {key}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_voter_is_replaced_from_the_cli_while_orders_flow() {
    let mut cluster = TestCluster::start(3).await;
    stock_product(&cluster).await;
    let leader = cluster.leader().await;
    let failed = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    cluster.kill(failed);
    let new = cluster.add_node();
    let leader_url = cluster.api_url(leader);
    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(place_until(cluster.clone(), stop.clone(), "replace"));
    let c = cluster.clone();
    let (added, promoted, removed, members) = tokio::task::spawn_blocking(move || {
        let base = ["--url", leader_url.as_str(), "--json", "member"];
        let add = add_member_and_wait(&c, &leader_url, new);
        let promote = c.bazaar(&[&base[..], &["promote", &new.to_string()]].concat());
        let remove = c.bazaar(&[&base[..], &["remove", &failed.to_string()]].concat());
        let list = c.bazaar(&[&base[..], &["list"]].concat());
        (add, promote, remove, list)
    })
    .await
    .expect("cli thread");
    cli_json(&added);
    cli_json(&promoted);
    cli_json(&removed);
    let members = cli_json(&members);
    let ids: Vec<(u64, bool)> = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["id"].as_u64().expect("id"),
                m["voter"].as_bool().expect("voter"),
            )
        })
        .collect();
    let mut expected: Vec<(u64, bool)> = [1, 2, 3, new]
        .into_iter()
        .filter(|id| *id != failed)
        .map(|id| (id, true))
        .collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "the failed node is gone and the new one votes"
    );
    stop.store(true, Ordering::Relaxed);
    let acked = load.await.expect("order load");
    assert!(!acked.is_empty(), "orders flowed during the replacement");
    let info = wait_for("the new member to apply everything", || async {
        let leader_info = cluster.cluster_info(leader).await?;
        let mine = cluster.cluster_info(new).await?;
        (mine.applied_index >= leader_info.commit_index
            && mine.state_digest == leader_info.state_digest)
            .then_some(mine)
    })
    .await;
    assert!(info.members.iter().all(|m| m.id != failed));
    assert_orders_kept(&cluster, new, &acked).await;
}

/// Entries a new member may replay in the test below (`raft.keep_entries_after_snapshot`).
const SHORT_REPLAY: u64 = 20;

/// A member added when the last snapshot lies far behind (here: none yet, well short of
/// `snapshot_every_entries`) installs a snapshot of the state as it was when it was added,
/// built for it, rather than replaying the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_member_starts_from_a_snapshot_of_the_state_when_it_was_added() {
    let mut cluster = TestCluster::start_with(3, |c| {
        c.raft.keep_entries_after_snapshot = SHORT_REPLAY;
    })
    .await;
    stock_product(&cluster).await;
    // One after another, so each order is an entry of its own.
    for n in 0..(3 * SHORT_REPLAY) {
        let key = format!("fresh-{n}");
        match cluster.place_order(PRODUCT, 1, &key, ORDER_PATIENCE).await {
            Attempt::Acked(_) => {}
            other => panic!("order {key}: {other:?}"),
        }
    }
    let leader = cluster.leader().await;
    let before = cluster
        .cluster_info(leader)
        .await
        .expect("the leader answers");
    assert_eq!(
        before.snapshot_index, 0,
        "no snapshot is due yet, so only the member add can build one"
    );
    let new = cluster.add_node();
    let added = add_member_and_wait(&cluster, &cluster.api_url(leader), new);
    cli_json(&added);
    let after = cluster
        .cluster_info(leader)
        .await
        .expect("the leader answers");
    assert!(
        after.snapshot_index >= before.applied_index,
        "the leader snapshotted before adding the member: snapshot at {}, applied {} when asked",
        after.snapshot_index,
        before.applied_index
    );
    let learner = wait_for("the new member to apply everything", || async {
        let mine = cluster.cluster_info(new).await?;
        (mine.applied_index >= before.applied_index).then_some(mine)
    })
    .await;
    assert!(
        learner.snapshot_index >= before.applied_index,
        "the new member installed the fresh snapshot (at {}) instead of replaying the log \
         up to {}",
        learner.snapshot_index,
        before.applied_index
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_membership_and_transfer_requests_are_refused_and_change_nothing() {
    let cluster = TestCluster::start(3).await;
    let leader = cluster.leader().await;
    let url = cluster.api_url(leader);
    let node = cluster.config.node(2).expect("node 2").clone();
    let before = cli_json(&cluster.bazaar(&["--url", &url, "--json", "member", "list"]));
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "member", "add", "2", "--api", &node.api, "--raft", &node.raft,
            ],
            "already",
        ),
        (&["member", "remove", "9"], "9"),
        (&["member", "promote", "9"], "9"),
        (&["leader", "transfer", "9"], "9"),
        (&["leader", "transfer", &leader.to_string()], "already"),
    ];
    for (args, says) in cases {
        let out = cluster.bazaar(&[&["--url", url.as_str()][..], args].concat());
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let after = cli_json(&cluster.bazaar(&["--url", &url, "--json", "member", "list"]));
    assert_eq!(
        before["members"], after["members"],
        "a refused change changed nothing"
    );
    assert_eq!(cluster.leader().await, leader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_last_voter_cannot_be_removed() {
    let cluster = TestCluster::start(1).await;
    let out = cluster.bazaar(&["--url", &cluster.api_url(1), "member", "remove", "1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("last voter"), "{}", stderr(&out));
    assert_eq!(cluster.leader().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leadership_moves_on_command_and_on_sigterm_without_losing_orders() {
    let cluster = TestCluster::start(3).await;
    stock_product(&cluster).await;
    let leader = cluster.leader().await;
    let target = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(place_until(cluster.clone(), stop.clone(), "transfer"));
    let out = cluster.bazaar(&[
        "--url",
        &cluster.api_url(leader),
        "--json",
        "leader",
        "transfer",
        &target.to_string(),
    ]);
    let outcome = cli_json(&out);
    assert_eq!(outcome["from"], leader);
    assert_eq!(outcome["to"], target);
    assert_eq!(cluster.leader().await, target);
    // A leader told to stop hands over before it exits.
    signal(cluster.pid(target), "TERM");
    let next = wait_for("a new leader", || async {
        for id in cluster.ids().into_iter().filter(|id| *id != target) {
            if cluster
                .cluster_info(id)
                .await?
                .leader
                .is_some_and(|l| l != target)
            {
                return Some(id);
            }
        }
        None
    })
    .await;
    wait_for("the old leader's log to say it handed over", || async {
        cluster
            .node_log(target)
            .contains("handed leadership over")
            .then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let acked = load.await.expect("order load");
    assert!(!acked.is_empty());
    assert_orders_kept(&cluster, next, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_restores_into_a_new_cluster_with_every_order_and_key() {
    let source = TestCluster::start(3).await;
    stock_product(&source).await;
    let mut acked = BTreeMap::new();
    for n in 0..20 {
        let key = format!("backup-{n}");
        match source.place_order(PRODUCT, 1, &key, ORDER_PATIENCE).await {
            Attempt::Acked(o) => {
                acked.insert(key, o.number);
            }
            other => panic!("order {key}: {other:?}"),
        }
    }
    let follower = {
        let leader = source.leader().await;
        source
            .ids()
            .into_iter()
            .find(|id| *id != leader)
            .expect("a follower")
    };
    let file = source.dir.path().join("shop.backup");
    let file_s = file.to_string_lossy().into_owned();
    let saved = cli_json(&source.bazaar(&[
        "--url",
        &source.api_url(follower),
        "--json",
        "backup",
        "save",
        &file_s,
    ]));
    assert!(saved["orders"].as_u64().expect("orders") >= acked.len() as u64);
    let inspected = cli_json(&source.bazaar(&["--json", "backup", "inspect", &file_s]));
    assert_eq!(saved, inspected, "inspect reads what save wrote");
    let again = source.bazaar(&[
        "--url",
        &source.api_url(follower),
        "backup",
        "save",
        &file_s,
    ]);
    assert!(!again.status.success(), "a backup never overwrites a file");
    let digest = saved["digest"].as_str().expect("digest").to_owned();

    let restored = TestCluster::start_restored(3, &file).await;
    let info = restored.wait_converged().await;
    assert!(info.applied_index >= saved["index"].as_u64().expect("index"));
    let leader = restored.leader().await;
    assert_orders_kept(&restored, leader, &acked).await;
    // New orders go on from where the backup ended.
    match restored
        .place_order("Tux", 1, "after-restore", ORDER_PATIENCE)
        .await
    {
        Attempt::Acked(o) => assert!(o.number > *acked.values().max().expect("orders")),
        other => panic!("order after restore: {other:?}"),
    }
    assert_ne!(digest, "", "the backup names its digest");

    // Restoring over a node that holds data is refused and leaves it as it was.
    let running = restored.config.node_data_dir(1);
    let out = restored.node_command(1, &["--restore", &file_s, "--seed-only"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already holds data"),
        "{}",
        stderr(&out)
    );
    assert!(running.join("raft").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn damaged_and_foreign_backups_are_refused_before_anything_is_written() {
    let cluster = TestCluster::start(1).await;
    let file = cluster.dir.path().join("good.backup");
    let file_s = file.to_string_lossy().into_owned();
    let out = cluster.bazaar(&["--url", &cluster.api_url(1), "backup", "save", &file_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    let good = std::fs::read(&file).expect("backup");
    let bad_dir = cluster.dir.path().join("bad");
    std::fs::create_dir_all(&bad_dir).expect("dir");
    // Damage inside a record (a product name's case) keeps the framing: only the checksum
    // can tell.
    let mut flipped = good.clone();
    let at = good
        .windows(3)
        .rposition(|w| w == b"Tux")
        .expect("the catalog is in the backup");
    flipped[at] ^= 0x20;
    let mut other_version = good.clone();
    other_version[8] = 99;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("flipped", flipped, "checksum"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("version", other_version, "version 99"),
        ("foreign", b"not a backup at all".to_vec(), "not a Bazaar"),
    ];
    for (name, bytes, says) in cases {
        let path = bad_dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        let path_s = path.to_string_lossy().into_owned();
        let out = cluster.bazaar(&["backup", "inspect", &path_s]);
        assert!(!out.status.success(), "{name}: inspect accepted it");
        assert!(stderr(&out).contains(says), "{name}: {}", stderr(&out));
        let data_dir = bad_dir.join(format!("{name}-data"));
        let restore = std::process::Command::new(common::binary("raft-node"))
            .args([
                "--config",
                &cluster.config_path().to_string_lossy(),
                "--id",
                "1",
            ])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--restore", &path_s, "--seed-only"])
            .output()
            .expect("raft-node");
        assert!(!restore.status.success(), "{name}: restore accepted it");
        assert!(
            stderr(&restore).contains(says),
            "{name}: {}",
            stderr(&restore)
        );
        assert!(
            !Path::new(&data_dir).exists(),
            "{name}: the data dir was touched"
        );
    }
}

/// The leader's view of the members (with progress).
async fn members_of(cluster: &TestCluster, leader: u64) -> Option<bazaar_api::MembersView> {
    let url = format!("{}/cluster/members", cluster.api_url(leader));
    let body: Value = cluster.http.get(url).send().await.ok()?.json().await.ok()?;
    serde_json::from_value(body["data"].clone()).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_learner_added_with_promote_becomes_a_voter_on_its_own_while_orders_flow() {
    let mut cluster = TestCluster::start(3).await;
    stock_product(&cluster).await;
    let leader = cluster.leader().await;
    let leader_url = cluster.api_url(leader);
    // A learner added without --promote, caught up first: it must stay a learner.
    let plain = cluster.add_node();
    cli_json(&add_member_and_wait(&cluster, &leader_url, plain));
    let promoted = cluster.add_node();
    let cluster = Arc::new(cluster);
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(place_until(cluster.clone(), stop.clone(), "promote"));

    let node = cluster.config.node(promoted).expect("the new node").clone();
    let id = promoted.to_string();
    let c = cluster.clone();
    let url = leader_url.clone();
    let added = tokio::task::spawn_blocking(move || {
        c.bazaar(&[
            "--url",
            &url,
            "--json",
            "member",
            "add",
            &id,
            "--api",
            &node.api,
            "--raft",
            &node.raft,
            "--promote",
        ])
    })
    .await
    .expect("cli thread");
    let added = cli_json(&added);
    let at_add = added["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["id"] == promoted)
        .expect("the new member is listed")
        .clone();
    assert_eq!(at_add["voter"], false, "added as a learner: {at_add}");

    // No `member promote`: the leader makes it a voter once it has caught up.
    let view = wait_for("the leader to promote the caught-up learner", || async {
        let view = members_of(&cluster, leader).await?;
        let member = view.members.iter().find(|m| m.id == promoted)?;
        member.voter.then_some(view)
    })
    .await;
    let plain_status = view
        .members
        .iter()
        .find(|m| m.id == plain)
        .expect("the plain learner is listed");
    assert!(
        !plain_status.voter,
        "a learner added without --promote stays a learner: {plain_status:?}"
    );
    // The log line follows the change's commit, which may come after the view shows it.
    wait_for("the leader to log the promotion", || async {
        cluster
            .node_log(leader)
            .contains("caught-up learner promoted to voter")
            .then_some(())
    })
    .await;

    stop.store(true, Ordering::Relaxed);
    let acked = load.await.expect("order load");
    assert!(!acked.is_empty(), "orders flowed during the promotion");
    wait_for("the promoted member to apply everything", || async {
        let leader_info = cluster.cluster_info(leader).await?;
        let mine = cluster.cluster_info(promoted).await?;
        (mine.applied_index >= leader_info.commit_index
            && mine.state_digest == leader_info.state_digest)
            .then_some(())
    })
    .await;
    assert_orders_kept(&cluster, promoted, &acked).await;
}
