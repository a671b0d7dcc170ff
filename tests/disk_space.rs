//! Whole-system tests of disk space you can see: each node's data dir on its own
//! size-limited tmpfs, where the free space is exactly what the node alone leaves, so its
//! figures (`bazaar_node_storage_bytes{part}`, `bazaar_node_disk_free_bytes`) can be held
//! to `df` and `du`, and a file written beside the data must show in them within seconds.
//!
//! These tests need root and `mount -t tmpfs`. Where mount is refused they print
//! "SKIPPED: ..." and return early: count them as skipped then, never as passed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::tmpfs::{data_places, Tmpfs};
use common::{metric_value, wait_within, TestCluster, POLL};

/// Each node's filesystem: room for its databases and a snapshot or two.
const TMPFS_MB: u64 = 160;
/// How soon a change on disk must show in the figures (they are measured every second).
const SHOWS_WITHIN: Duration = Duration::from_secs(5);

fn mounts() -> Result<BTreeMap<u64, Tmpfs>, String> {
    (1..=3u64)
        .map(|id| Tmpfs::mount(TMPFS_MB).map(|m| (id, m)))
        .collect()
}

async fn cluster_on(
    mounts: &BTreeMap<u64, Tmpfs>,
    tweak: impl FnOnce(&mut bazaar_api::config::ClusterConfig),
) -> TestCluster {
    let cluster = TestCluster::start_on(data_places(mounts), tweak).await;
    cluster.wait_converged().await;
    cluster
}

/// Bytes allocated under `dir`, as `du` counts them.
fn du(dir: &Path) -> u64 {
    let out = Command::new("du")
        .args(["-s", "-B1"])
        .arg(dir)
        .output()
        .expect("run du");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("du prints a size")
}

/// One node's figures as its `/metrics` shows them.
#[derive(Debug, Clone, Copy)]
struct Figures {
    log: u64,
    state: u64,
    snapshots: u64,
    free: u64,
}

async fn figures(cluster: &TestCluster, id: u64) -> Option<Figures> {
    let url = format!("{}/metrics", cluster.api_url(id));
    let part = |p: &'static str| {
        let url = url.clone();
        async move { metric_value(&url, &format!("bazaar_node_storage_bytes{{part=\"{p}\"}}")).await }
    };
    Some(Figures {
        log: part("log").await?,
        state: part("state").await?,
        snapshots: part("snapshots").await?,
        free: metric_value(&url, "bazaar_node_disk_free_bytes").await?,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_shows_its_data_size_by_part_and_its_free_space() {
    let mounts = match mounts() {
        Ok(m) => m,
        Err(why) => {
            common::skipped(&why);
            return;
        }
    };
    let cluster = cluster_on(&mounts, |_| {}).await;
    for id in cluster.ids() {
        let data = cluster.config.node_data_dir(id);
        let tmpfs = &mounts[&id];
        // The node alone writes on its tmpfs: once idle, its figures agree with du and df.
        let shown = wait_within(
            &format!("node {id}'s figures to agree with du and df"),
            SHOWS_WITHIN * 2,
            POLL,
            || async {
                let f = figures(&cluster, id).await?;
                let close = |a: u64, b: u64| a.abs_diff(b) <= 256 << 10;
                let agree = f.log > 0
                    && f.state > 0
                    && close(f.log, du(&data.join("raft")))
                    && close(f.state, du(&data.join("sm")))
                    && close(f.snapshots, du(&data.join("snapshots")))
                    && close(f.free, tmpfs.available());
                agree.then_some(f)
            },
        )
        .await;
        println!("node {id}: {shown:?}");
        // 20 MiB written beside the data: free space falls by as much, the parts do not move.
        let filler = vec![0x5Au8; 20 << 20];
        std::fs::write(tmpfs.filler(), &filler).expect("write the filler");
        wait_within(
            &format!("node {id}'s free space to fall by the filler"),
            SHOWS_WITHIN,
            POLL,
            || async {
                let f = figures(&cluster, id).await?;
                (f.free + (19 << 20) <= shown.free).then_some(())
            },
        )
        .await;
        tmpfs.free_filler();
        wait_within(
            &format!("node {id}'s free space to come back"),
            SHOWS_WITHIN,
            POLL,
            || async {
                let f = figures(&cluster, id).await?;
                (f.free + (4 << 20) >= shown.free).then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reserve_file_is_written_where_there_is_room_and_skipped_in_one_line_where_not() {
    const RESERVE: u64 = 40 << 20;
    let mounts = match mounts() {
        Ok(m) => m,
        Err(why) => {
            common::skipped(&why);
            return;
        }
    };
    // Node 3's disk is short before it starts: less than twice the reserve left.
    mounts[&3].fill_leaving(60 << 20);
    let cluster = cluster_on(&mounts, |c| {
        c.storage.reserve_bytes = RESERVE;
        c.storage.min_free_bytes = 0;
    })
    .await;
    for id in [1, 2] {
        let reserve = cluster.config.node_data_dir(id).join("reserve");
        let len = std::fs::metadata(&reserve).map(|m| m.len()).ok();
        assert_eq!(len, Some(RESERVE), "node {id}'s {}", reserve.display());
        // Allocated for real, and outside every part of the data size.
        assert!(mounts[&id].available() < (TMPFS_MB << 20) - RESERVE);
        let f = figures(&cluster, id).await.expect("node's figures");
        assert!(f.log + f.state + f.snapshots < RESERVE, "{f:?}");
    }
    assert!(!cluster.config.node_data_dir(3).join("reserve").exists());
    let log = cluster.node_log(3);
    assert_eq!(
        log.matches("running without the reserve file").count(),
        1,
        "{log}"
    );
    let url = format!("{}/readyz", cluster.api_url(3));
    common::wait_for("node 3 to be ready without its reserve", || async {
        let resp = reqwest::get(&url).await.ok()?;
        (resp.status() == 200).then_some(())
    })
    .await;
    // Deleting a reserve gives its room back, and the node sees it.
    let before = figures(&cluster, 1).await.expect("node 1's figures");
    std::fs::remove_file(cluster.config.node_data_dir(1).join("reserve")).expect("delete");
    wait_within(
        "node 1 to see the reserve's room",
        SHOWS_WITHIN,
        POLL,
        || async {
            let f = figures(&cluster, 1).await?;
            (f.free >= before.free + RESERVE - (1 << 20)).then_some(())
        },
    )
    .await;
}
