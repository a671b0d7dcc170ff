//! The frontend as a shop client meets it: the real `frontend` binary in front of real
//! `raft-node` processes. Read-your-writes through one frontend, changes from elsewhere
//! reaching its cache through the feed, the stale-fill race made deterministic
//! with the frontend's `reader.fill` failpoint, a cut change feed, a leader killed during concurrent
//! orders, and bad input answered exactly as a node answers it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::{Envelope, OrderView};
use common::{wait_for, Attempt, Frontend, TestCluster, TOKEN};
use serde_json::{json, Value};

/// Arms the frontend's `reader.fill` failpoint (its binary is built with the feature
/// `failpoints`, as scripts/test.sh and this package's dev-dependency do): each miss's fill
/// is held 1.5 s after the node's answer, on the async timer.
const HOLD_FILLS: (&str, &str) = ("FAILPOINTS", "reader.fill=return(1500)");
/// What the frontend logs when the failpoint holds a fill (`frontend/src/reader.rs`).
const FILL_HELD: &str = "failpoint reader.fill: holding the fill";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .expect("http client")
}

/// Status, `X-Cache` and JSON body of a GET.
async fn get(url: &str) -> (u16, String, Value) {
    let resp = http().get(url).send().await.expect("frontend answers");
    let status = resp.status().as_u16();
    let x_cache = resp
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.expect("body");
    (
        status,
        x_cache,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn order_via(fe: &Frontend, name: &str, quantity: u64, key: &str) -> (u16, Value) {
    let resp = http()
        .post(fe.url("/orders"))
        .header("Idempotency-Key", key)
        .json(&json!({"name": name, "quantity": quantity}))
        .send()
        .await
        .expect("frontend answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn frontend_view(fe: &Frontend) -> Option<Value> {
    let (status, _, body) = get(&fe.url("/cluster")).await;
    (status == 200).then(|| body["data"]["frontend"].clone())
}

/// Waits until the frontend's change feed is caught up, so lookups may be cached.
async fn wait_serving(fe: &Frontend) {
    wait_for("the frontend's feed to sync", || async {
        let (_, _, body) = get(&fe.url("/livez")).await;
        (body["data"]["cache_serving"] == true).then_some(())
    })
    .await;
}

/// Reads `path` twice: a miss that fills, then a hit. Returns the body.
async fn warm(fe: &Frontend, path: &str) -> Value {
    let (status, first, body) = get(&fe.url(path)).await;
    assert_eq!((status, first.as_str()), (200, "miss"), "{path}: {body}");
    let (status, second, again) = get(&fe.url(path)).await;
    assert_eq!((status, second.as_str()), (200, "hit"), "{path}");
    assert_eq!(again, body, "a hit returns what the miss returned");
    body
}

fn acked(attempt: Attempt) -> OrderView {
    match attempt {
        Attempt::Acked(order) => order,
        other => panic!("order not acknowledged: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_hit_then_miss_after_an_order_through_the_same_frontend() {
    let cluster = TestCluster::start_in_process(3).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    wait_serving(&fe).await;

    let before = warm(&fe, "/products/Tux").await;
    let stock = before["data"]["quantity"].as_u64().expect("quantity");
    let search = warm(&fe, "/search?topic=toys").await;
    assert!(
        search["data"]["products"]
            .as_array()
            .is_some_and(|p| p.len() >= 10),
        "{search}"
    );

    let (status, order) = order_via(&fe, "Tux", 2, "rw-1").await;
    assert_eq!(status, 200, "{order}");
    assert!(order["data"]["order_number"].as_u64().is_some(), "{order}");

    // Read-your-writes: the very next lookup is a miss that shows the order.
    let (status, x_cache, after) = get(&fe.url("/products/Tux")).await;
    assert_eq!((status, x_cache.as_str()), (200, "miss"));
    assert_eq!(after["data"]["quantity"], stock - 2);
    assert!(after["data"]["version"].as_u64() > before["data"]["version"].as_u64());
    let (_, x_cache, search) = get(&fe.url("/search?topic=toys")).await;
    assert_eq!(
        x_cache, "miss",
        "the product's topic search is invalidated too"
    );
    let tux = search["data"]["products"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "Tux"))
        .cloned()
        .expect("Tux in toys");
    assert_eq!(tux["quantity"], stock - 2);
    assert_eq!(get(&fe.url("/products/Tux")).await.1, "hit");

    // The order can be read back through the frontend, and stale reads pass through.
    let number = order["data"]["number"].as_u64().expect("number");
    let (status, _, fetched) = get(&fe.url(&format!("/orders/{number}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            fetched["data"]["name"].as_str(),
            fetched["data"]["quantity"].as_u64()
        ),
        (Some("Tux"), Some(2))
    );
    let (status, x_cache, _) = get(&fe.url("/products/Tux?consistency=stale")).await;
    assert_eq!((status, x_cache.as_str()), (200, ""));

    // /cluster is a node's view plus this frontend's; /metrics counts the same.
    let (status, _, view) = get(&fe.url("/cluster")).await;
    assert_eq!(status, 200);
    assert!(view["data"]["leader"].as_u64().is_some(), "{view}");
    let mine = &view["data"]["frontend"];
    assert!(
        mine["hits"].as_u64() >= Some(3) && mine["misses"].as_u64() >= Some(3),
        "{mine}"
    );
    assert!(mine["cache_size"].as_u64() >= Some(2), "{mine}");
    assert_eq!(mine["feed"]["state"], "synced", "{mine}");
    let metrics = http()
        .get(fe.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("bazaar_frontend_cache_hits_total "),
        "{metrics}"
    );

    // With --no-cache every lookup goes to a node, past the cache.
    let uncached = Frontend::start(&cluster, &["--no-cache"], &[]);
    for _ in 0..3 {
        let (status, x_cache, _) = get(&uncached.url("/products/Tux")).await;
        assert_eq!((status, x_cache.as_str()), (200, "bypass"));
    }
}

/// A refusal for want of stock shows the product as of the log index that decided it,
/// which may hold an order of ours whose answer was lost (it timed out and will be
/// retried): the frontend drops the cached product before answering the refusal, as it
/// does for a placed order, so no later lookup shows stock from before that index.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_order_drops_the_cached_product_before_it_is_answered() {
    let cluster = TestCluster::start_in_process(3).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    wait_serving(&fe).await;
    let stock = warm(&fe, "/products/Whale").await["data"]["quantity"]
        .as_u64()
        .expect("quantity");
    let (status, body) = order_via(&fe, "Whale", stock + 1, "refused-1").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["reason"], "insufficient_stock", "{body}");
    let (status, x_cache, now) = get(&fe.url("/products/Whale")).await;
    assert_eq!((status, x_cache.as_str()), (200, "miss"), "{now}");
    assert_eq!(now["data"]["quantity"], stock);
    assert_eq!(get(&fe.url("/products/Whale")).await.1, "hit");

    // Refusals that arrive together (and go to the leader in one batch) do the same.
    let keys: Vec<String> = (0..8).map(|i| format!("refused-batch-{i}")).collect();
    let refusals = futures::future::join_all(
        keys.iter()
            .map(|key| order_via(&fe, "Whale", stock + 1, key)),
    )
    .await;
    for (status, body) in &refusals {
        assert_eq!(*status, 409, "{body}");
    }
    let (status, x_cache, now) = get(&fe.url("/products/Whale")).await;
    assert_eq!((status, x_cache.as_str()), (200, "miss"), "{now}");
    assert_eq!(now["data"]["quantity"], stock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_made_elsewhere_reach_the_cache_through_the_feed() {
    let cluster = TestCluster::start_in_process(3).await;
    let fe1 = Frontend::start(&cluster, &[], &[]);
    let fe2 = Frontend::start(&cluster, &["--admin"], &[]);
    wait_serving(&fe1).await;
    let stock = warm(&fe1, "/products/Fox").await["data"]["quantity"]
        .as_u64()
        .expect("quantity");

    // An order placed on a node directly: the feed delivers it and the next read shows it,
    // not the entry cached before. (No wall-clock bound: it flakes on a loaded machine.
    // The staleness bound itself is the feed's freshness rule, `FeedState` in the
    // frontend, where a stale feed turns the cache off.)
    let order = acked(
        cluster
            .place_order("Fox", 1, "direct-1", common::DEADLINE)
            .await,
    );
    feed_passes(&fe1, order.index).await;
    let (_, x_cache, body) = get(&fe1.url("/products/Fox")).await;
    assert_eq!(body["data"]["quantity"].as_u64(), Some(stock - 1), "{body}");
    assert_ne!(x_cache, "hit", "the feed invalidated the cached entry");

    // An order through the second frontend.
    assert_eq!(get(&fe1.url("/products/Fox")).await.1, "hit");
    let (status, body) = order_via(&fe2, "Fox", 3, "fe2-1").await;
    assert_eq!(status, 200, "{body}");
    let index = body["data"]["index"].as_u64().expect("the order's index");
    feed_passes(&fe1, index).await;
    let (_, x_cache, body) = get(&fe1.url("/products/Fox")).await;
    assert_eq!(body["data"]["quantity"].as_u64(), Some(stock - 4), "{body}");
    assert_ne!(x_cache, "hit", "the feed invalidated the cached entry");

    // Admin routes pass through with their token; a change reaches the other cache.
    let patch = |auth: Option<&str>| {
        let mut req = http()
            .patch(fe2.url("/admin/products/Fox"))
            .json(&json!({"price": 21.5}));
        if let Some(token) = auth {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    assert_eq!(patch(None).await.expect("answer").status().as_u16(), 401);
    assert_eq!(
        patch(Some(TOKEN)).await.expect("answer").status().as_u16(),
        200
    );
    wait_for("the admin change to reach frontend 1", || async {
        let (_, _, body) = get(&fe1.url("/products/Fox")).await;
        (body["data"]["price"] == json!(21.5)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_fill_never_puts_back_an_old_value() {
    let cluster = TestCluster::start_in_process(3).await;
    let fe = Frontend::start(&cluster, &[], &[HOLD_FILLS]);
    wait_serving(&fe).await;
    let held_before = fe.log_lines_with(FILL_HELD);
    let slow = tokio::spawn({
        let url = fe.url("/products/Whale");
        async move { get(&url).await }
    });
    // The node has answered the miss; the fill is held by the failpoint. Change the
    // product now and let the feed deliver the invalidation inside that window.
    wait_for("the miss to reach the held fill", || async {
        (fe.log_lines_with(FILL_HELD) == held_before + 1).then_some(())
    })
    .await;
    let order = acked(
        cluster
            .place_order("Whale", 1, "race-1", common::DEADLINE)
            .await,
    );
    wait_for("the feed to pass the order", || async {
        let view = frontend_view(&fe).await?;
        (view["feed"]["last_index"].as_u64()? >= order.index).then_some(())
    })
    .await;
    let (status, _, old) = slow.await.expect("slow read");
    assert_eq!(status, 200);
    let old_stock = old["data"]["quantity"].as_u64().expect("quantity");
    let view = frontend_view(&fe).await.expect("frontend view");
    assert_eq!(view["fills_refused"], 1, "{view}");

    let (status, x_cache, now) = get(&fe.url("/products/Whale")).await;
    assert_eq!(
        (status, x_cache.as_str()),
        (200, "miss"),
        "the old value was not cached"
    );
    assert_eq!(now["data"]["quantity"], old_stock - 1);
    let (_, x_cache, again) = get(&fe.url("/products/Whale")).await;
    assert_eq!(x_cache, "hit");
    assert_eq!(again["data"]["quantity"], old_stock - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cut_feed_resumes_elsewhere_and_a_dead_one_bypasses_the_cache() {
    let mut cluster = TestCluster::start_with(3, |c| c.frontend.request_deadline_ms = 1500).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    wait_serving(&fe).await;
    let stock = warm(&fe, "/products/Python").await["data"]["quantity"]
        .as_u64()
        .expect("quantity");

    // Kill the node serving the feed: the feed moves to another node and resumes from
    // its last index, so an order committed meanwhile still invalidates the entry.
    let feed_node = wait_for("the feed's node", || async {
        frontend_view(&fe).await?["feed"]["node"].as_u64()
    })
    .await;
    cluster.kill(feed_node);
    acked(
        cluster
            .place_order("Python", 1, "cut-1", common::DEADLINE)
            .await,
    );
    wait_for(
        "the order to reach the cache over the resumed feed",
        || async {
            let (_, _, body) = get(&fe.url("/products/Python")).await;
            (body["data"]["quantity"].as_u64() == Some(stock - 1)).then_some(())
        },
    )
    .await;
    let view = wait_for("the feed to resync on another node", || async {
        let view = frontend_view(&fe).await?;
        (view["feed"]["state"] == "synced").then_some(view)
    })
    .await;
    assert_ne!(view["feed"]["node"].as_u64(), Some(feed_node), "{view}");
    warm_again(&fe, "/products/Python").await;

    // With every node down the feed is gone: past the staleness bound the cache stops
    // answering (503 from the dead cluster, not a hit), then resyncs after a restart.
    let live = cluster.live_ids();
    for id in &live {
        cluster.kill(*id);
    }
    wait_for("the cache to be bypassed", || async {
        let (status, x_cache, _) = get(&fe.url("/products/Python")).await;
        (status == 503 && x_cache != "hit").then_some(())
    })
    .await;
    let (live, _, health) = get(&fe.url("/livez")).await;
    assert_eq!(
        live, 200,
        "a frontend with no cluster still serves: {health}"
    );
    assert_eq!(health["data"]["feed"], "down", "{health}");
    assert_eq!(health["data"]["cache_serving"], false, "{health}");
    let (ready, _, body) = get(&fe.url("/readyz")).await;
    assert_eq!(ready, 503, "no node answers, so not ready: {body}");
    assert_eq!(body["error"]["reason"], "not_ready", "{body}");
    // With no node answering, a write does not wait out the 1.5 s request deadline: it is
    // refused once the no-leader grace has passed, and the answer says which rule ended it.
    let (status, answer) = order_via(&fe, "Python", 1, "no-cluster-1").await;
    assert_eq!(status, 503, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("no node showed a leader for"),
        "refused by the no-leader grace, not the deadline: {answer}"
    );
    for id in cluster.ids() {
        cluster.restart(id);
    }
    wait_serving(&fe).await;
    // Reads went to the nodes while the cache was bypassed, so it starts again empty:
    // the entry cached before the outage is not served.
    let (status, x_cache, body) = get(&fe.url("/products/Python")).await;
    assert_eq!((status, x_cache.as_str()), (200, "miss"), "{body}");
    wait_for("lookups to be cached again", || async {
        let (status, x_cache, body) = get(&fe.url("/products/Python")).await;
        (status == 200 && x_cache == "hit" && body["data"]["quantity"].as_u64() == Some(stock - 1))
            .then_some(())
    })
    .await;
}

/// Waits until `fe`'s change feed has passed `index`.
async fn feed_passes(fe: &Frontend, index: u64) {
    wait_for("the feed to pass the change", || async {
        let view = frontend_view(fe).await?;
        (view["feed"]["last_index"].as_u64()? >= index).then_some(())
    })
    .await;
}

/// Reads until a hit (the entry may have just been invalidated by the feed's replay).
async fn warm_again(fe: &Frontend, path: &str) {
    wait_for("a cache hit", || async {
        let (status, x_cache, _) = get(&fe.url(path)).await;
        (status == 200 && x_cache == "hit").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_kill_during_concurrent_orders_through_the_frontend_duplicates_nothing() {
    let mut cluster = TestCluster::start(3).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    let leader = cluster.leader().await;
    let baseline = cluster
        .cluster_info(leader)
        .await
        .expect("cluster info")
        .orders;
    let products = [
        "Tux", "Fox", "Python", "Whale", "Elephant", "Dolphin", "Lego", "Monopoly",
    ];

    let stop = Arc::new(AtomicBool::new(false));
    let acked_count = Arc::new(AtomicUsize::new(0));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..8usize {
        let (stop, acked_count, unavailable) =
            (stop.clone(), acked_count.clone(), unavailable.clone());
        let url = fe.url("/orders");
        workers.push(tokio::spawn(async move {
            let client = http();
            let mut results: BTreeMap<String, (u16, Value)> = BTreeMap::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("kill-{worker}-{i}");
                let name = products[(worker + i) % products.len()];
                // Retry a 503 (or a dropped connection) with the same key, as a client should.
                let started = Instant::now();
                let outcome = loop {
                    let sent = client
                        .post(&url)
                        .header("Idempotency-Key", &key)
                        .json(&json!({"name": name, "quantity": 1}))
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status().as_u16() != 503 => {
                            let status = resp.status().as_u16();
                            break (status, resp.json::<Value>().await.unwrap_or(Value::Null));
                        }
                        Ok(_) => {
                            unavailable.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => {}
                    }
                    assert!(
                        started.elapsed() < common::DEADLINE,
                        "order {key} never answered"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                };
                if outcome.0 == 200 {
                    acked_count.fetch_add(1, Ordering::Relaxed);
                }
                results.insert(key, outcome);
                i += 1;
            }
            results
        }));
    }
    wait_for("orders before the kill", || async {
        (acked_count.load(Ordering::Relaxed) >= 40).then_some(())
    })
    .await;
    cluster.kill(leader);
    let after_kill = acked_count.load(Ordering::Relaxed);
    wait_for("orders after the kill", || async {
        (acked_count.load(Ordering::Relaxed) >= after_kill + 40).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let mut results = BTreeMap::new();
    for worker in workers {
        results.extend(worker.await.expect("worker"));
    }

    let mut numbers = BTreeSet::new();
    let mut orders: Vec<OrderView> = Vec::new();
    for (key, (status, body)) in &results {
        assert_eq!(
            *status, 200,
            "{key}: every order succeeds after retry: {body}"
        );
        let order: Envelope<OrderView> = serde_json::from_value(body.clone()).expect("order body");
        assert!(
            numbers.insert(order.data.number),
            "{key}: order number {} acknowledged twice",
            order.data.number
        );
        orders.push(order.data);
    }
    for order in &orders {
        let (status, _, body) = get(&fe.url(&format!("/orders/{}", order.number))).await;
        assert_eq!(status, 200, "order {} exists: {body}", order.number);
        assert_eq!(body["data"]["name"], order.name.as_str());
        assert_eq!(body["data"]["quantity"], order.quantity);
    }
    let info = cluster.wait_converged().await;
    assert_eq!(
        info.orders - baseline,
        orders.len() as u64,
        "each acknowledged order exists exactly once ({} answers were 503 and retried)",
        unavailable.load(Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_is_answered_exactly_as_a_node_answers_it() {
    let cluster = TestCluster::start_in_process(3).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    let leader = cluster.leader().await;
    let node = cluster.api_url(leader);
    let client = http();
    let posts: Vec<(&str, String)> = vec![
        ("malformed JSON", "{\"name\": ".into()),
        ("not an object", "[1,2]".into()),
        ("missing quantity", json!({"name": "Tux"}).to_string()),
        (
            "quantity as string",
            json!({"name": "Tux", "quantity": "2"}).to_string(),
        ),
        (
            "quantity zero",
            json!({"name": "Tux", "quantity": 0}).to_string(),
        ),
        (
            "quantity negative",
            json!({"name": "Tux", "quantity": -3}).to_string(),
        ),
        (
            "quantity above maximum",
            json!({"name": "Tux", "quantity": 10_001}).to_string(),
        ),
        (
            "bad product name",
            json!({"name": "a/b", "quantity": 1}).to_string(),
        ),
        (
            "unknown product",
            json!({"name": "Unicorn", "quantity": 1}).to_string(),
        ),
        (
            "insufficient stock",
            json!({"name": "Tux", "quantity": 5000}).to_string(),
        ),
        (
            "oversized body",
            format!(
                "{{\"name\": \"{}\", \"quantity\": 1}}",
                "x".repeat(70 * 1024)
            ),
        ),
    ];
    for (what, body) in posts {
        let mut answers = Vec::new();
        for base in [&node, &fe.url] {
            let resp = client
                .post(format!("{base}/orders"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("answer");
            let status = resp.status().as_u16();
            let env: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(env["error"]["code"], status, "{what} at {base}: {env}");
            answers.push(status);
        }
        assert_eq!(answers[0], answers[1], "{what}: node vs frontend");
        assert!((400..500).contains(&answers[1]), "{what}: {answers:?}");
    }
    let gets = [
        "/orders/999999",
        "/orders/abc",
        "/orders/-1",
        "/products/Unicorn",
        "/products/a%2Fb",
        "/search",
        "/products/Tux?consistency=sometimes",
        "/products?colour=red",
        "/products?limit=100000",
        "/nowhere",
    ];
    for path in gets {
        let (node_status, node_body) = get_past_503(&format!("{node}{path}")).await;
        let (fe_status, fe_body) = get_past_503(&fe.url(path)).await;
        assert_eq!(
            node_status, fe_status,
            "{path}: node {node_body} vs frontend {fe_body}"
        );
        assert_eq!(fe_body["error"]["code"], fe_status, "{path}: {fe_body}");
    }
    // Nothing above changed any stock.
    assert_eq!(cluster.stock(leader, "Tux").await, Some(100));
}

/// Status and body of a GET, asked again while it answers 503: "retry shortly" is what a
/// node or frontend may say while starved of CPU (its read found no leader in time), not
/// its answer to the request.
async fn get_past_503(url: &str) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, body) = get(url).await;
        if status != 503 || Instant::now() > deadline {
            return (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many `POST /orders/batch` requests node `id` has answered with 200.
async fn batches_answered(cluster: &TestCluster, id: u64) -> u64 {
    route_answered(cluster, id, "/orders/batch").await
}

/// How many requests to `route` node `id` has answered with 200.
async fn route_answered(cluster: &TestCluster, id: u64, route: &str) -> u64 {
    let text = http()
        .get(format!("{}/metrics", cluster.api_url(id)))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find(|l| {
            l.starts_with("bazaar_node_http_requests_total{")
                && l.contains(&format!("route=\"{route}\""))
                && l.contains("status=\"200\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Concurrent orders through the frontend go to the leader in batches, and each still gets
/// its own answer: its own order, its own rejection, the same order again for a retried
/// key, and the stock moves by exactly what was acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_orders_share_requests_to_the_leader_and_keep_their_own_answers() {
    let cluster = TestCluster::start(3).await;
    let fe = Frontend::start(&cluster, &[], &[]);
    wait_serving(&fe).await;
    let leader = cluster.leader().await;
    cluster
        .create_product("Batched", "Batched item", 100_000)
        .await;

    // Bursts of concurrent orders until the leader has answered batches (a burst can, in
    // principle, be gathered one order at a time).
    let mut acked: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut quantity_acked = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    for burst in 0.. {
        let calls = (0..48u64).map(|i| {
            let url = fe.url("/orders");
            async move {
                let key = format!("burst-{burst}-{i}");
                // Every eighth order names a product that does not exist.
                let name = if i % 8 == 7 {
                    "NoSuchProduct"
                } else {
                    "Batched"
                };
                let quantity = 1 + i % 3;
                let resp = http()
                    .post(&url)
                    .header("Idempotency-Key", &key)
                    .json(&json!({"name": name, "quantity": quantity}))
                    .send()
                    .await
                    .expect("frontend answers");
                let status = resp.status().as_u16();
                let body = resp.json::<Value>().await.unwrap_or(Value::Null);
                (key, name, quantity, status, body)
            }
        });
        for (key, name, quantity, status, body) in futures::future::join_all(calls).await {
            if name == "NoSuchProduct" {
                assert_eq!(status, 404, "{key}: {body}");
                continue;
            }
            assert_eq!(status, 200, "{key}: {body}");
            let order: Envelope<OrderView> = serde_json::from_value(body).expect("an order");
            assert_eq!(order.data.quantity, quantity, "{key}");
            assert_eq!(order.data.name, "Batched");
            quantity_acked += quantity;
            acked.insert(key, (order.data.number, quantity));
        }
        if batches_answered(&cluster, leader).await > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no batch reached the leader after {burst} bursts"
        );
    }
    let numbers: BTreeSet<u64> = acked.values().map(|(number, _)| *number).collect();
    assert_eq!(numbers.len(), acked.len(), "every order got its own number");
    let stock = cluster.stock(leader, "Batched").await.expect("stock");
    assert_eq!(stock, 100000 - quantity_acked);

    // Every key again, concurrently: its first order, and the stock does not move.
    let retries = acked.iter().map(|(key, (number, quantity))| {
        let url = fe.url("/orders");
        async move {
            let resp = http()
                .post(&url)
                .header("Idempotency-Key", key)
                .json(&json!({"name": "Batched", "quantity": quantity}))
                .send()
                .await
                .expect("frontend answers");
            let status = resp.status().as_u16();
            (
                key,
                *number,
                status,
                resp.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    });
    for (key, number, status, body) in futures::future::join_all(retries).await {
        assert_eq!(status, 200, "{key}: {body}");
        assert_eq!(body["data"]["number"], number, "{key}: {body}");
    }
    assert_eq!(cluster.stock(leader, "Batched").await, Some(stock));
}

/// Concurrent lookups through a `--no-cache` frontend go to the nodes in batches
/// (`POST /lookup`, one read index for many), and each gets what a node answers for that
/// product alone: its stock, or 404 for a name that does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uncached_lookups_share_requests_and_keep_their_own_answers() {
    let cluster = TestCluster::start_in_process(3).await;
    let fe = Frontend::start(&cluster, &["--no-cache"], &[]);
    let leader = cluster.leader().await;
    let names = ["Tux", "Fox", "Whale", "Python"];
    let mut stocks = BTreeMap::new();
    for name in names {
        stocks.insert(name, cluster.stock(leader, name).await.expect("stock"));
    }
    let batches = || async {
        let mut total = 0;
        for id in cluster.ids() {
            total += route_answered(&cluster, id, "/lookup").await;
        }
        total
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    for burst in 0.. {
        let calls = (0..48usize).map(|i| {
            let name = if i % 5 == 4 {
                "NoSuchProduct"
            } else {
                names[i % 5]
            };
            let url = fe.url(&format!("/products/{name}"));
            async move { (name, get(&url).await) }
        });
        for (name, (status, x_cache, body)) in futures::future::join_all(calls).await {
            assert_eq!(x_cache, "bypass", "{name}: {body}");
            match stocks.get(name) {
                Some(stock) => {
                    assert_eq!(status, 200, "{name}: {body}");
                    assert_eq!(body["data"]["name"], name, "{body}");
                    assert_eq!(body["data"]["quantity"], *stock, "{name}: {body}");
                }
                None => {
                    assert_eq!(status, 404, "{name}: {body}");
                    assert_eq!(body["error"]["reason"], "unknown_product", "{body}");
                }
            }
        }
        if batches().await > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no lookup batch after {burst} bursts"
        );
    }
}
