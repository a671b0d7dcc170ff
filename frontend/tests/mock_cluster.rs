//! Tests of the frontend library against in-process mock nodes that speak the node API
//! (envelope, x-bazaar-index, 421 with a leader hint, /watch NDJSON): leader routing,
//! idempotency keys across retries, singleflight, no stale fill, feed invalidation,
//! bad input and an unreachable cluster.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bazaar_api::config::{ClusterConfig, NodeConfig};
use bazaar_api::{
    ApiError, BatchAnswer, BatchReply, ChangeEvent, ClusterInfo, Envelope, LeaderHint, NodeRole,
    OrderBatch, OrderRequest, OrderView, ProductView, Reason, SearchResult, WatchMessage,
    INDEX_HEADER,
};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::{CancellationToken, DropGuard};

/// State shared by every mock node: one replicated catalog, as Raft would make it look.
struct Shared {
    products: Mutex<HashMap<String, ProductView>>,
    index: AtomicU64,
    leader: AtomicU64,
    addrs: Mutex<HashMap<u64, String>>,
    changes: broadcast::Sender<ChangeEvent>,
    orders: Mutex<HashMap<String, OrderView>>,
    /// (node id, idempotency key) of every order attempt that reached a node.
    order_attempts: Mutex<Vec<(u64, String)>>,
    /// Order attempts the leader answers 503 before accepting (an election in progress).
    refuse_orders: AtomicUsize,
    product_reads: AtomicUsize,
    read_delay_ms: AtomicU64,
    /// How long the leader holds each single `POST /orders` before deciding it.
    single_order_delay_ms: AtomicU64,
    /// `POST /orders/batch` requests that reached the leader.
    batches: AtomicUsize,
    /// Orders in batches the leader applies but answers 503 for (not confirmed within its
    /// write deadline: the answer is lost, the order stands).
    unconfirmed_batch_orders: AtomicUsize,
}

impl Shared {
    fn new() -> Arc<Self> {
        let mut products = HashMap::new();
        for (name, topic) in [("Tux", "toys"), ("Fox", "toys"), ("Book", "books")] {
            products.insert(
                name.to_string(),
                ProductView {
                    name: name.into(),
                    title: format!("{name} plush"),
                    topic: topic.into(),
                    price: 1000,
                    quantity: 100,
                    version: 1,
                },
            );
        }
        Arc::new(Self {
            products: Mutex::new(products),
            index: AtomicU64::new(3),
            leader: AtomicU64::new(1),
            addrs: Mutex::new(HashMap::new()),
            changes: broadcast::channel(1024).0,
            orders: Mutex::new(HashMap::new()),
            order_attempts: Mutex::new(Vec::new()),
            refuse_orders: AtomicUsize::new(0),
            product_reads: AtomicUsize::new(0),
            read_delay_ms: AtomicU64::new(0),
            single_order_delay_ms: AtomicU64::new(0),
            batches: AtomicUsize::new(0),
            unconfirmed_batch_orders: AtomicUsize::new(0),
        })
    }

    /// Changes a product's stock as a write through some other path (another frontend,
    /// the restock timer) would, announcing it on the feed.
    fn set_quantity(&self, name: &str, quantity: u64) -> u64 {
        let index = self.index.fetch_add(1, Ordering::SeqCst) + 1;
        let topic = {
            let mut products = self.products.lock().unwrap();
            let p = products.get_mut(name).unwrap();
            p.quantity = quantity;
            p.version = index;
            p.topic.clone()
        };
        let _ = self.changes.send(ChangeEvent {
            index,
            products: vec![name.into()],
            topics: vec![topic],
        });
        index
    }
}

#[derive(Clone)]
struct Node {
    id: u64,
    shared: Arc<Shared>,
}

fn with_index<T: serde::Serialize>(status: StatusCode, body: T, index: u64) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(INDEX_HEADER, index.to_string().parse().unwrap());
    response
}

fn api_error(err: ApiError) -> Response {
    (
        StatusCode::from_u16(err.status()).unwrap(),
        Json(err.to_envelope()),
    )
        .into_response()
}

async fn product(State(node): State<Node>, Path(name): Path<String>) -> Response {
    node.shared.product_reads.fetch_add(1, Ordering::SeqCst);
    let index = node.shared.index.load(Ordering::SeqCst);
    let found = node.shared.products.lock().unwrap().get(&name).cloned();
    let delay = node.shared.read_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match found {
        Some(p) => with_index(StatusCode::OK, Envelope::new(p), index),
        None => api_error(ApiError::unknown_product(&name)),
    }
}

async fn search(State(node): State<Node>, Query(q): Query<HashMap<String, String>>) -> Response {
    let index = node.shared.index.load(Ordering::SeqCst);
    let topic = q.get("topic").cloned().unwrap_or_default();
    let mut products: Vec<ProductView> = node
        .shared
        .products
        .lock()
        .unwrap()
        .values()
        .filter(|p| p.topic == topic)
        .cloned()
        .collect();
    products.sort_by(|a, b| a.name.cmp(&b.name));
    with_index(
        StatusCode::OK,
        Envelope::new(SearchResult { topic, products }),
        index,
    )
}

async fn single_order(
    State(node): State<Node>,
    headers: HeaderMap,
    Json(req): Json<OrderRequest>,
) -> Response {
    let delay = node.shared.single_order_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    order(&node, &headers, req)
}

/// `POST /orders/batch`: each order decided as a single one would be, in batch order.
async fn order_batch(State(node): State<Node>, Json(batch): Json<OrderBatch>) -> Response {
    let shared = &node.shared;
    shared.batches.fetch_add(1, Ordering::SeqCst);
    let mut results = Vec::new();
    for item in batch.orders {
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", item.key.parse().unwrap());
        let answer = order(&node, &headers, item.order);
        if answer.status() == StatusCode::MISDIRECTED_REQUEST {
            return answer;
        }
        let unconfirmed = shared
            .unconfirmed_batch_orders
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let outcome = if unconfirmed {
            let lost = ApiError::unavailable("not committed within 2000 ms").to_envelope();
            BatchAnswer {
                status: 503,
                index: None,
                body: serde_json::value::to_raw_value(&lost).unwrap(),
            }
        } else {
            let status = answer.status().as_u16();
            let index = answer
                .headers()
                .get(INDEX_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
                .await
                .unwrap();
            BatchAnswer {
                status,
                index,
                body: serde_json::from_slice(&body).unwrap(),
            }
        };
        results.push(outcome);
    }
    Json(BatchReply { results }).into_response()
}

fn order(node: &Node, headers: &HeaderMap, req: OrderRequest) -> Response {
    let shared = &node.shared;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    shared
        .order_attempts
        .lock()
        .unwrap()
        .push((node.id, key.clone()));
    let leader = shared.leader.load(Ordering::SeqCst);
    if leader != node.id {
        let api = shared.addrs.lock().unwrap()[&leader].clone();
        return api_error(ApiError::not_leader(Some(LeaderHint { id: leader, api })));
    }
    if shared
        .refuse_orders
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return api_error(ApiError::unavailable("no quorum yet"));
    }
    if let Some(first) = shared.orders.lock().unwrap().get(&key) {
        return with_index(StatusCode::OK, Envelope::new(first.clone()), first.index);
    }
    let (index, view, topic) = {
        let mut products = shared.products.lock().unwrap();
        let Some(p) = products.get_mut(&req.name) else {
            return api_error(ApiError::unknown_product(&req.name));
        };
        if p.quantity < req.quantity {
            return api_error(ApiError::new(
                Reason::InsufficientStock,
                "insufficient stock",
            ));
        }
        let index = shared.index.fetch_add(1, Ordering::SeqCst) + 1;
        p.quantity -= req.quantity;
        p.version = index;
        let number = shared.orders.lock().unwrap().len() as u64 + 1;
        let view = OrderView {
            number,
            order_number: number,
            name: req.name.clone(),
            quantity: req.quantity,
            unit_price: p.price,
            total: p.price * req.quantity,
            index,
        };
        (index, view, p.topic.clone())
    };
    shared.orders.lock().unwrap().insert(key, view.clone());
    let _ = shared.changes.send(ChangeEvent {
        index,
        products: vec![req.name],
        topics: vec![topic],
    });
    with_index(StatusCode::OK, Envelope::new(view), index)
}

async fn cluster(State(node): State<Node>) -> Response {
    let shared = &node.shared;
    let index = shared.index.load(Ordering::SeqCst);
    let leader = shared.leader.load(Ordering::SeqCst);
    let leader_api = shared.addrs.lock().unwrap().get(&leader).cloned();
    let info = ClusterInfo {
        cluster_name: "mock".into(),
        id: node.id,
        role: if leader == node.id {
            NodeRole::Leader
        } else {
            NodeRole::Follower
        },
        leader: Some(leader),
        leader_api,
        term: 1,
        commit_index: index,
        applied_index: index,
        last_log_index: index,
        snapshot_index: 0,
        purged_index: 0,
        members: Vec::new(),
        orders: shared.orders.lock().unwrap().len() as u64,
        state_digest: String::new(),
    };
    with_index(StatusCode::OK, Envelope::new(info), index)
}

/// `/watch`: changes as they happen, a heartbeat every 100 ms. Changes before the
/// connection are not replayed; the tests only change things while connected.
async fn watch(State(node): State<Node>) -> Response {
    let shared = node.shared.clone();
    let mut rx = shared.changes.subscribe();
    let stream = async_stream(
        move |tx: tokio::sync::mpsc::Sender<Result<String, Infallible>>| async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                let message = tokio::select! {
                    change = rx.recv() => match change {
                        Ok(event) => WatchMessage::Change(event),
                        Err(_) => return,
                    },
                    _ = tick.tick() => WatchMessage::Heartbeat { index: shared.index.load(Ordering::SeqCst) },
                };
                let line = serde_json::to_string(&message).unwrap() + "\n";
                if tx.send(Ok(line)).await.is_err() {
                    return;
                }
            }
        },
    );
    Response::new(Body::from_stream(stream))
}

/// A channel-backed stream fed by a spawned task.
fn async_stream<F, Fut>(f: F) -> tokio_stream_like::Receiver
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<String, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(f(tx));
    tokio_stream_like::Receiver(rx)
}

mod tokio_stream_like {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Receiver(pub tokio::sync::mpsc::Receiver<Result<String, Infallible>>);

    impl futures::Stream for Receiver {
        type Item = Result<String, Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0.poll_recv(cx)
        }
    }
}

struct Mock {
    shared: Arc<Shared>,
    nodes: Vec<NodeConfig>,
}

async fn start_mock(n: u64) -> Mock {
    let shared = Shared::new();
    let mut nodes = Vec::new();
    for id in 1..=n {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        shared.addrs.lock().unwrap().insert(id, addr.clone());
        let app = Router::new()
            .route("/products/{name}", get(product))
            .route("/search", get(search))
            .route("/orders", post(single_order))
            .route("/orders/batch", post(order_batch))
            .route("/cluster", get(cluster))
            .route("/watch", get(watch))
            .with_state(Node {
                id,
                shared: shared.clone(),
            });
        tokio::spawn(async move { axum::serve(listener, app).await });
        nodes.push(NodeConfig {
            id,
            api: addr,
            raft: format!("127.0.0.1:{}", 1 + id),
        });
    }
    Mock { shared, nodes }
}

/// A running frontend; dropping it stops the server.
struct Frontend {
    url: String,
    _stop: DropGuard,
}

async fn start_frontend(
    nodes: Vec<NodeConfig>,
    deadline_ms: u64,
    options: frontend::Options,
) -> Frontend {
    let mut config = ClusterConfig {
        nodes,
        ..ClusterConfig::default()
    };
    config.frontend.request_deadline_ms = deadline_ms;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    tokio::spawn(async move {
        frontend::run_with(config, options, listener, shutdown)
            .await
            .unwrap();
    });
    Frontend {
        url,
        _stop: stop.drop_guard(),
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn get_json(url: &str) -> (StatusCode, HeaderMap, serde_json::Value) {
    let r = http().get(url).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

fn x_cache(headers: &HeaderMap) -> &str {
    headers
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the frontend's feed is synced, so lookups may be cached.
async fn wait_synced(fe: &Frontend) {
    let url = format!("{}/cluster", fe.url);
    wait_until("the change feed to sync", || async {
        get_json(&url).await.2["data"]["frontend"]["cache_serving"] == true
    })
    .await;
}

async fn metric(fe: &Frontend, name: &str) -> u64 {
    let text = http()
        .get(format!("{}/metrics", fe.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("bazaar_frontend_{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("metric {name} missing in {text}")) as u64
}

#[tokio::test]
async fn orders_follow_the_leader_and_invalidate_before_answering() {
    let mock = start_mock(3).await;
    mock.shared.leader.store(3, Ordering::SeqCst);
    let fe = start_frontend(mock.nodes.clone(), 5000, frontend::Options::default()).await;
    wait_synced(&fe).await;
    let url = format!("{}/products/Tux", fe.url);
    let (status, h, body) = get_json(&url).await;
    assert_eq!(status, 200);
    assert_eq!(x_cache(&h), "miss");
    assert_eq!(body["data"]["quantity"], 100);
    let (_, h, _) = get_json(&url).await;
    assert_eq!(x_cache(&h), "hit");
    let (_, h, search) = get_json(&format!("{}/search?topic=toys", fe.url)).await;
    assert_eq!(x_cache(&h), "miss");
    assert_eq!(search["data"]["products"][1]["quantity"], 100);

    let r = http()
        .post(format!("{}/orders", fe.url))
        .header("Idempotency-Key", "order-1")
        .json(&serde_json::json!({"name": "Tux", "quantity": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let order: serde_json::Value = r.json().await.unwrap();
    assert_eq!(order["data"]["order_number"], 1);
    // Routed to node 3 via the not-leader answer, with the client's key every time.
    let attempts = mock.shared.order_attempts.lock().unwrap().clone();
    assert_eq!(attempts.last().map(|a| a.0), Some(3), "{attempts:?}");
    assert!(
        attempts.iter().all(|(_, key)| key == "order-1"),
        "{attempts:?}"
    );

    // Read-your-writes: no waiting for the feed.
    let (_, h, body) = get_json(&url).await;
    assert_eq!(x_cache(&h), "miss");
    assert_eq!(body["data"]["quantity"], 97);
    let (_, h, search) = get_json(&format!("{}/search?topic=toys", fe.url)).await;
    assert_eq!(
        x_cache(&h),
        "miss",
        "the product's topic search was invalidated too"
    );
    assert_eq!(search["data"]["products"][1]["quantity"], 97);

    // The hint is kept: the next order goes straight to the leader.
    let before = mock.shared.order_attempts.lock().unwrap().len();
    let r = http()
        .post(format!("{}/orders", fe.url))
        .json(&serde_json::json!({"name": "Fox", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let generated = r.headers().get("idempotency-key").cloned();
    let attempts = mock.shared.order_attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), before + 1);
    assert_eq!(attempts[before].0, 3);
    assert_eq!(
        generated.as_ref().and_then(|v| v.to_str().ok()),
        Some(attempts[before].1.as_str()),
        "a generated key is sent to the node and echoed to the client"
    );
}

#[tokio::test]
async fn a_leaderless_window_is_retried_with_the_same_key() {
    let mock = start_mock(2).await;
    mock.shared.refuse_orders.store(3, Ordering::SeqCst);
    let fe = start_frontend(mock.nodes.clone(), 5000, frontend::Options::default()).await;
    let r = http()
        .post(format!("{}/orders", fe.url))
        .json(&serde_json::json!({"name": "Tux", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let attempts = mock.shared.order_attempts.lock().unwrap().clone();
    assert!(
        attempts.len() >= 4,
        "three refusals then success: {attempts:?}"
    );
    assert!(
        attempts.iter().all(|(_, k)| *k == attempts[0].1),
        "{attempts:?}"
    );
    assert_eq!(mock.shared.orders.lock().unwrap().len(), 1);
}

/// Orders that queue while the forwards are busy go to the leader in one batch. One the
/// leader applied but could not confirm in time (its answer in the batch is 503) is sent
/// again alone with its key, as a single order is retried: its client gets the order it
/// placed, nothing is doubled, and no client sees a 503 for an order that stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batched_order_the_leader_could_not_confirm_is_retried_alone_with_its_key() {
    let mock = start_mock(1).await;
    mock.shared
        .single_order_delay_ms
        .store(300, Ordering::SeqCst);
    mock.shared
        .unconfirmed_batch_orders
        .store(3, Ordering::SeqCst);
    let fe = start_frontend(mock.nodes.clone(), 5000, frontend::Options::default()).await;
    wait_synced(&fe).await;
    let place = |i: usize| {
        let url = format!("{}/orders", fe.url);
        async move {
            let r = http()
                .post(url)
                .header("Idempotency-Key", format!("queued-{i}"))
                .json(&serde_json::json!({"name": "Book", "quantity": 1}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, body)
        }
    };
    // The first orders hold every forward slot (each single order takes 300 ms at the
    // leader); the rest queue meanwhile and leave together.
    let answers = futures::future::join_all((0..12).map(place)).await;
    assert!(
        mock.shared.batches.load(Ordering::SeqCst) >= 1,
        "no batch was formed"
    );
    assert_eq!(
        mock.shared.unconfirmed_batch_orders.load(Ordering::SeqCst),
        0,
        "the leader left three orders unconfirmed"
    );
    let mut numbers = Vec::new();
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
        numbers.push(body["data"]["number"].as_u64().expect("number"));
    }
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 12, "each client has its own order");
    assert_eq!(mock.shared.orders.lock().unwrap().len(), 12, "none doubled");
    assert_eq!(mock.shared.products.lock().unwrap()["Book"].quantity, 88);
    // The unconfirmed orders reached the leader twice: in the batch, then alone.
    let attempts = mock.shared.order_attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 15, "{attempts:?}");
}

#[tokio::test]
async fn concurrent_misses_make_one_backend_read() {
    let mock = start_mock(2).await;
    mock.shared.read_delay_ms.store(300, Ordering::SeqCst);
    let fe = start_frontend(mock.nodes.clone(), 5000, frontend::Options::default()).await;
    wait_synced(&fe).await;
    let before = mock.shared.product_reads.load(Ordering::SeqCst);
    let url = format!("{}/products/Fox", fe.url);
    let lookups: Vec<_> = (0..10).map(|_| get_json(&url)).collect();
    let results = futures::future::join_all(lookups).await;
    for (status, _, body) in &results {
        assert_eq!(*status, 200);
        assert_eq!(body["data"]["name"], "Fox");
    }
    assert_eq!(mock.shared.product_reads.load(Ordering::SeqCst) - before, 1);
    assert_eq!(metric(&fe, "singleflight_shared_total").await, 9);
}

#[tokio::test]
async fn a_fill_older_than_a_feed_invalidation_is_not_stored() {
    let mock = start_mock(2).await;
    let options = frontend::Options {
        test_fill_delay: Some(Duration::from_millis(700)),
    };
    let fe = start_frontend(mock.nodes.clone(), 5000, options).await;
    wait_synced(&fe).await;
    let url = format!("{}/products/Book", fe.url);
    let slow = tokio::spawn({
        let url = url.clone();
        async move { get_json(&url).await }
    });
    // The read has been answered and sits in the fill window: change the product now.
    wait_until("the fill to reach the delay", || async {
        metric(&fe, "test_fill_delays_total").await == 1
    })
    .await;
    let changed_at = mock.shared.set_quantity("Book", 7);
    wait_until("the feed to deliver the change", || async {
        get_json(&format!("{}/cluster", fe.url)).await.2["data"]["frontend"]["feed"]["last_index"]
            .as_u64()
            .is_some_and(|i| i >= changed_at)
    })
    .await;
    let (_, _, old) = slow.await.unwrap();
    assert_eq!(
        old["data"]["quantity"], 100,
        "the slow read was served before the change"
    );
    assert_eq!(metric(&fe, "cache_fills_refused_total").await, 1);
    let (_, h, body) = get_json(&url).await;
    assert_eq!(
        x_cache(&h),
        "miss",
        "the old value must not have been cached"
    );
    assert_eq!(body["data"]["quantity"], 7);
    let (_, h, body) = get_json(&url).await;
    assert_eq!(x_cache(&h), "hit");
    assert_eq!(body["data"]["quantity"], 7);
}

#[tokio::test]
async fn feed_changes_invalidate_cached_entries() {
    let mock = start_mock(2).await;
    let fe = start_frontend(mock.nodes.clone(), 5000, frontend::Options::default()).await;
    wait_synced(&fe).await;
    let url = format!("{}/products/Fox", fe.url);
    get_json(&url).await;
    assert_eq!(x_cache(&get_json(&url).await.1), "hit");
    mock.shared.set_quantity("Fox", 42);
    wait_until("the change to reach the cache", || async {
        get_json(&url).await.2["data"]["quantity"] == 42
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_answered_without_the_cluster_and_an_unreachable_cluster_gives_503() {
    // Ports nothing listens on.
    let dead: Vec<NodeConfig> = (1..=2)
        .map(|id| {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            drop(l);
            NodeConfig {
                id,
                api: addr,
                raft: format!("127.0.0.1:{}", 1 + id),
            }
        })
        .collect();
    let fe = start_frontend(dead, 800, frontend::Options::default()).await;
    let client = http();
    let started = Instant::now();
    for (path, status) in [
        ("/products/a%2Fb", 400),
        ("/orders/abc", 400),
        ("/search", 400),
        ("/nowhere", 404),
    ] {
        let (got, _, body) = get_json(&format!("{}{path}", fe.url)).await;
        assert_eq!(got.as_u16(), status, "{path}: {body}");
        assert_eq!(body["error"]["code"], status, "{path}: {body}");
    }
    for (body, status) in [
        ("not json".to_string(), 400),
        (r#"{"name": "Tux", "quantity": 0}"#.to_string(), 400),
        (r#"{"name": "", "quantity": 1}"#.to_string(), 400),
        (
            format!(r#"{{"name": "{}", "quantity": 1}}"#, "x".repeat(70 * 1024)),
            413,
        ),
    ] {
        let r = client
            .post(format!("{}/orders", fe.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
        let env: serde_json::Value = r.json().await.unwrap();
        assert_eq!(env["error"]["code"], status);
    }
    let r = client
        .post(format!("{}/orders", fe.url))
        .header("Idempotency-Key", "k".repeat(129))
        .json(&serde_json::json!({"name": "Tux", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "bad input must not wait on nodes"
    );

    for request in [
        client.get(format!("{}/products/Tux", fe.url)),
        client
            .post(format!("{}/orders", fe.url))
            .json(&serde_json::json!({"name": "Tux", "quantity": 1})),
        client.get(format!("{}/cluster", fe.url)),
    ] {
        let started = Instant::now();
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1")
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "503 within the deadline"
        );
        let env: serde_json::Value = r.json().await.unwrap();
        assert_eq!(env["error"]["code"], 503);
    }
    let (status, _, body) = get_json(&format!("{}/livez", fe.url)).await;
    assert_eq!(status, 200, "serving: {body}");
    assert_eq!(body["data"]["feed"], "down");
    let (status, _, body) = get_json(&format!("{}/health", fe.url)).await;
    assert_eq!(
        status, 503,
        "/health is /readyz, and nothing answers: {body}"
    );
    assert_eq!(body["error"]["reason"], "not_ready");
}
