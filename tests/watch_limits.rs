//! `/watch` under many watchers, on real node processes: a node serves at most
//! `raft.watch_max_streams` streams and answers the next 503 with `Retry-After` and a reason,
//! frees a slot when a watcher goes, and keeps taking orders with every slot held by an idle
//! stream (one of them never reading at all). How much those streams cost an order is a
//! benchmark (BENCHMARKS.md, "A bounded change feed"), not asserted here.

mod common;

use std::time::Duration;

use common::{Attempt, TestCluster};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The cap in this test: a few hundred streams, every one of them held.
const STREAMS: usize = 300;
const ORDERS: usize = 40;

/// Opens `GET /watch?from=0` on `base` with its own connection; the status and the answer.
async fn open_stream(http: &reqwest::Client, base: &str) -> reqwest::Response {
    http.get(format!("{base}/watch?from=0"))
        .send()
        .await
        .expect("the node answers /watch")
}

/// A watcher that sends its request, reads the answer's head and then never reads again.
async fn never_reading_stream(addr: &str) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the node");
    tcp.write_all(b"GET /watch?from=0 HTTP/1.1\r\nHost: node\r\n\r\n")
        .await
        .expect("send the request");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(common::DEADLINE, tcp.read(&mut byte))
            .await
            .expect("the answer's head within the deadline")
            .expect("read the head");
        assert_eq!(n, 1, "the node closed the stream before its head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tcp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_are_capped_and_idle_ones_do_not_stop_orders() {
    let cluster = TestCluster::start_with(3, |c| c.raft.watch_max_streams = STREAMS).await;
    let leader = cluster.leader().await;
    let base = cluster.api_url(leader);
    let addr = cluster.config.node(leader).expect("leader").api.clone();
    // No overall timeout: these answers stream for as long as they are held.
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("http client");

    let _never_reads = never_reading_stream(&addr).await;
    let mut streams = Vec::new();
    for i in 1..STREAMS {
        let resp = open_stream(&http, &base).await;
        assert_eq!(resp.status(), 200, "stream {i} of {STREAMS}");
        streams.push(resp);
    }

    // One over the cap: 503, when to retry, and why.
    let over = open_stream(&http, &base).await;
    assert_eq!(over.status(), 503);
    assert!(
        over.headers().get("retry-after").is_some(),
        "{:?}",
        over.headers()
    );
    let body: Value = over.json().await.expect("an error envelope");
    assert_eq!(body["error"]["reason"], "unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("watch_max_streams")),
        "{body}"
    );

    // Every slot held by an idle stream: orders are still taken, one after another.
    let before = cluster
        .cluster_info(leader)
        .await
        .expect("the leader answers /cluster")
        .applied_index;
    for i in 0..ORDERS {
        match cluster
            .place_order(
                "Marbles",
                1,
                &format!("watch-idle-{i}"),
                Duration::from_secs(10),
            )
            .await
        {
            Attempt::Acked(_) => {}
            other => panic!("order {i} with {STREAMS} streams open: {other:?}"),
        }
    }

    // The held streams still carry the feed: the last one opened has every order's change.
    let mut last = streams.pop().expect("streams");
    let mut pending = String::new();
    let mut changes = 0;
    let read = tokio::time::timeout(common::DEADLINE, async {
        while changes < ORDERS {
            let chunk = last
                .chunk()
                .await
                .expect("the stream stays open")
                .expect("the stream has not ended");
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find('\n') {
                let line: Value = serde_json::from_str(&pending[..end]).expect("a JSON line");
                pending.drain(..=end);
                let is_order = line["type"] == "change"
                    && line["index"].as_u64().is_some_and(|i| i > before)
                    && line["products"] == serde_json::json!(["Marbles"]);
                changes += usize::from(is_order);
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "{changes} of {ORDERS} orders' changes within the deadline"
    );

    // A watcher that goes frees its slot.
    drop(last);
    let again = common::wait_for("a freed /watch slot to be taken again", || async {
        let resp = open_stream(&http, &base).await;
        (resp.status() == 200).then_some(resp)
    })
    .await;
    assert_eq!(again.status(), 200);
}
