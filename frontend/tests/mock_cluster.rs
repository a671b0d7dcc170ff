//! Tests of the frontend library against in-process mock nodes that speak the node API
//! (envelope, x-bazaar-index, 421 with a leader hint, /watch NDJSON): leader routing,
//! idempotency keys across retries, singleflight, no stale fill, feed invalidation,
//! bad input and an unreachable cluster; load shedding (a class at its bound answers the
//! next request at once, and never forwards it) and the per-client rate limit.

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
use tokio::sync::{broadcast, oneshot};
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
    /// Product reads the test holds, taken by arriving reads in order (see [`HeldRead`]).
    held_reads: Mutex<std::collections::VecDeque<HeldRead>>,
    /// While set, `/watch` streams hold back changes (a feed node that lags): heartbeats
    /// carry only the index of the last change sent.
    feed_held: std::sync::atomic::AtomicBool,
    /// Single `POST /orders` that reached a node, counted as they arrive (before any hold).
    single_orders_arrived: AtomicUsize,
    /// While set, each single order waits for a permit of this semaphore before it is
    /// decided: the test holds orders in flight and lets them go.
    single_order_hold: Mutex<Option<Arc<tokio::sync::Semaphore>>>,
    /// While set, the leader sheds every order request (503 `overloaded`, as a node at its
    /// bound of writes in flight would).
    shed_orders: std::sync::atomic::AtomicBool,
    /// While set, the next single order is applied but answered 503 `unavailable` (its
    /// commit not confirmed in time), and the leader sheds every order from then on.
    unconfirm_then_shed: std::sync::atomic::AtomicBool,
    /// Nodes that shed every product read.
    shed_reads_on: Mutex<std::collections::HashSet<u64>>,
}

/// The node's side of a product read the test holds: it reports its arrival, reads the
/// catalog only when let (so the test decides which writes it sees), reports the index it
/// read at, and answers only when let.
struct HeldRead {
    arrived: oneshot::Sender<()>,
    read: oneshot::Receiver<()>,
    read_at: oneshot::Sender<u64>,
    answer: oneshot::Receiver<()>,
}

/// The test's side of a [`HeldRead`].
struct ReadControl {
    arrived: Option<oneshot::Receiver<()>>,
    read: Option<oneshot::Sender<()>>,
    read_at: Option<oneshot::Receiver<u64>>,
    answer: Option<oneshot::Sender<()>>,
}

impl ReadControl {
    async fn arrived(&mut self) {
        let arrived = self.arrived.take().expect("arrival awaited once");
        tokio::time::timeout(Duration::from_secs(10), arrived)
            .await
            .expect("the held read never reached the node")
            .expect("the node dropped the held read");
    }

    /// Lets the read take its snapshot of the catalog; returns the index it read at.
    async fn read(&mut self) -> u64 {
        let _ = self.read.take().expect("read let once").send(());
        let read_at = self.read_at.take().expect("read index awaited once");
        tokio::time::timeout(Duration::from_secs(10), read_at)
            .await
            .expect("the held read never read")
            .expect("the node dropped the held read")
    }

    fn answer(&mut self) {
        let _ = self.answer.take().expect("answer let once").send(());
    }
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
            held_reads: Mutex::new(std::collections::VecDeque::new()),
            feed_held: std::sync::atomic::AtomicBool::new(false),
            single_orders_arrived: AtomicUsize::new(0),
            single_order_hold: Mutex::new(None),
            shed_orders: std::sync::atomic::AtomicBool::new(false),
            unconfirm_then_shed: std::sync::atomic::AtomicBool::new(false),
            shed_reads_on: Mutex::new(std::collections::HashSet::new()),
        })
    }

    /// Holds the next product read that reaches any node (after those already held).
    fn hold_next_read(&self) -> ReadControl {
        let (arrived_tx, arrived_rx) = oneshot::channel();
        let (read_tx, read_rx) = oneshot::channel();
        let (read_at_tx, read_at_rx) = oneshot::channel();
        let (answer_tx, answer_rx) = oneshot::channel();
        self.held_reads.lock().unwrap().push_back(HeldRead {
            arrived: arrived_tx,
            read: read_rx,
            read_at: read_at_tx,
            answer: answer_rx,
        });
        ReadControl {
            arrived: Some(arrived_rx),
            read: Some(read_tx),
            read_at: Some(read_at_rx),
            answer: Some(answer_tx),
        }
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
            archived: None,
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

/// A node's answer to a request it sheds at its bound.
fn shed() -> Response {
    let mut response = api_error(ApiError::overloaded("writes", 3));
    response
        .headers_mut()
        .insert("retry-after", "3".parse().unwrap());
    response
}

async fn product(State(node): State<Node>, Path(name): Path<String>) -> Response {
    node.shared.product_reads.fetch_add(1, Ordering::SeqCst);
    if node.shared.shed_reads_on.lock().unwrap().contains(&node.id) {
        return shed();
    }
    let held = node.shared.held_reads.lock().unwrap().pop_front();
    let held = match held {
        Some(held) => {
            let _ = held.arrived.send(());
            let _ = held.read.await;
            Some((held.read_at, held.answer))
        }
        None => None,
    };
    let index = node.shared.index.load(Ordering::SeqCst);
    let found = node.shared.products.lock().unwrap().get(&name).cloned();
    if let Some((read_at, answer)) = held {
        let _ = read_at.send(index);
        let _ = answer.await;
    }
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
    node.shared
        .single_orders_arrived
        .fetch_add(1, Ordering::SeqCst);
    if node.shared.shed_orders.load(Ordering::SeqCst) {
        return shed();
    }
    if node
        .shared
        .unconfirm_then_shed
        .swap(false, Ordering::SeqCst)
    {
        let _applied = order(&node, &headers, req);
        node.shared.shed_orders.store(true, Ordering::SeqCst);
        return api_error(ApiError::unavailable("not committed within 2000 ms"));
    }
    let hold = node.shared.single_order_hold.lock().unwrap().clone();
    if let Some(hold) = hold {
        if let Ok(permit) = hold.acquire().await {
            permit.forget();
        }
    }
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
    if shared.shed_orders.load(Ordering::SeqCst) {
        return shed();
    }
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
        archived: None,
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
        alarms: Vec::new(),
        archived_upto: 0,
        archives: Vec::new(),
    };
    with_index(StatusCode::OK, Envelope::new(info), index)
}

/// `/watch`: changes as they happen, a heartbeat every 100 ms. Changes before the
/// connection are not replayed; the tests only change things while connected. While
/// `feed_held` is set, changes wait in a backlog and heartbeats carry the index of the
/// last change sent, as a lagging node's feed would.
async fn watch(State(node): State<Node>) -> Response {
    let shared = node.shared.clone();
    let mut rx = shared.changes.subscribe();
    let stream = async_stream(
        move |tx: tokio::sync::mpsc::Sender<Result<String, Infallible>>| async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut backlog = std::collections::VecDeque::new();
            let mut sent = shared.index.load(Ordering::SeqCst);
            loop {
                tokio::select! {
                    change = rx.recv() => match change {
                        Ok(event) => backlog.push_back(event),
                        Err(_) => return,
                    },
                    _ = tick.tick() => {}
                };
                let mut lines = Vec::new();
                if !shared.feed_held.load(Ordering::SeqCst) {
                    while let Some(event) = backlog.pop_front() {
                        sent = sent.max(event.index);
                        lines.push(WatchMessage::Change(event));
                    }
                    if lines.is_empty() {
                        sent = sent.max(shared.index.load(Ordering::SeqCst));
                    }
                }
                if lines.is_empty() {
                    lines.push(WatchMessage::Heartbeat { index: sent });
                }
                for message in lines {
                    let line = serde_json::to_string(&message).unwrap() + "\n";
                    if tx.send(Ok(line)).await.is_err() {
                        return;
                    }
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

/// The defaults without shedding for delay: the frontend shares the test's runtime, and
/// other tests run beside it on 2 cores (the test about that shedding turns it on).
fn quiet_defaults() -> ClusterConfig {
    let mut config = ClusterConfig::default();
    config.limits.frontend.queue_delay_ms = 0;
    config
}

/// A running frontend; dropping it stops the server.
struct Frontend {
    url: String,
    _stop: DropGuard,
}

async fn start_frontend(nodes: Vec<NodeConfig>, deadline_ms: u64) -> Frontend {
    let mut config = ClusterConfig {
        nodes,
        ..quiet_defaults()
    };
    config.frontend.request_deadline_ms = deadline_ms;
    start_frontend_with(config).await
}

/// A frontend's config for `mock` that forwards one order at a time (no batching), so the
/// node sees each order as it is sent, with requests' deadline `deadline_ms`.
fn one_order_per_forward(mock: &Mock, deadline_ms: u64) -> ClusterConfig {
    let mut config = ClusterConfig {
        nodes: mock.nodes.clone(),
        ..quiet_defaults()
    };
    config.frontend.batch_orders = false;
    config.frontend.request_deadline_ms = deadline_ms;
    config
}

async fn start_frontend_with(config: ClusterConfig) -> Frontend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let shutdown = stop.clone();
    tokio::spawn(async move {
        frontend::run(config, listener, shutdown).await.unwrap();
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
    let fe = start_frontend(mock.nodes.clone(), 5000).await;
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
    let fe = start_frontend(mock.nodes.clone(), 5000).await;
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
    let fe = start_frontend(mock.nodes.clone(), 5000).await;
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
    let fe = start_frontend(mock.nodes.clone(), 5000).await;
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
    let fe = start_frontend(mock.nodes.clone(), 5000).await;
    wait_synced(&fe).await;
    let url = format!("{}/products/Book", fe.url);
    // The miss reads Book at the node, which holds its answer...
    let mut read = mock.shared.hold_next_read();
    let slow = tokio::spawn({
        let url = url.clone();
        async move { get_json(&url).await }
    });
    read.arrived().await;
    let read_at = read.read().await;
    // ... while the product changes and the feed brings the change to the frontend ...
    let changed_at = mock.shared.set_quantity("Book", 7);
    assert!(changed_at > read_at);
    wait_until("the feed to deliver the change", || async {
        get_json(&format!("{}/cluster", fe.url)).await.2["data"]["frontend"]["feed"]["last_index"]
            .as_u64()
            .is_some_and(|i| i >= changed_at)
    })
    .await;
    // ... and only then answers: the old value goes to its caller but is not stored.
    read.answer();
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
async fn an_archive_on_the_feed_is_reported_and_leaves_cached_products_alone() {
    let mock = start_mock(2).await;
    let fe = start_frontend(mock.nodes.clone(), 5000).await;
    wait_synced(&fe).await;
    let url = format!("{}/products/Fox", fe.url);
    get_json(&url).await;
    assert_eq!(x_cache(&get_json(&url).await.1), "hit");
    let index = mock.shared.index.fetch_add(1, Ordering::SeqCst) + 1;
    let _ = mock.shared.changes.send(ChangeEvent {
        index,
        products: vec![],
        topics: vec![],
        archived: Some(bazaar_api::ArchivedRange { from: 1, upto: 40 }),
    });
    wait_until("the frontend to report the archive", || async {
        get_json(&format!("{}/cluster", fe.url)).await.2["data"]["frontend"]["feed"]
            ["archived_upto"]
            == 40
    })
    .await;
    assert_eq!(
        x_cache(&get_json(&url).await.1),
        "hit",
        "an archive changes no product"
    );
}

#[tokio::test]
async fn feed_changes_invalidate_cached_entries() {
    let mock = start_mock(2).await;
    let fe = start_frontend(mock.nodes.clone(), 5000).await;
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
    let fe = start_frontend(dead, 800).await;
    let client = http();
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
    // Bad input is answered without the cluster: not one node request was attempted.
    assert_eq!(metric(&fe, "backend_reads_total").await, 0);
    assert_eq!(metric(&fe, "backend_writes_total").await, 0);

    for (n, request) in [
        client.get(format!("{}/products/Tux", fe.url)),
        client
            .post(format!("{}/orders", fe.url))
            .json(&serde_json::json!({"name": "Tux", "quantity": 1})),
        client.get(format!("{}/cluster", fe.url)),
    ]
    .into_iter()
    .enumerate()
    {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let env: serde_json::Value = r.json().await.unwrap();
        assert_eq!(env["error"]["code"], 503);
        // The backend gave up by its own rule (the request deadline or the no-leader
        // grace), not the route's time limit (`timeout`, 2 s later) nor a hang.
        assert_eq!(env["error"]["reason"], "unavailable", "{env}");
        assert_eq!(metric(&fe, "unavailable_total").await, n as u64 + 1);
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

/// `GET /products/Tux` through the frontend: quantity, `X-Cache` and the index served at.
async fn product_quantity(fe: &Frontend) -> (u64, String, u64) {
    product_quantity_owned(fe.url.clone()).await
}

/// A frontend on `mock` with `staleness_bound_ms`, its feed synced.
async fn synced_frontend(mock: &Mock, staleness_bound_ms: u64) -> Frontend {
    let mut config = ClusterConfig {
        nodes: mock.nodes.clone(),
        ..quiet_defaults()
    };
    config.frontend.staleness_bound_ms = staleness_bound_ms;
    let fe = start_frontend_with(config).await;
    wait_synced(&fe).await;
    fe
}

/// A frontend whose feed may lag for the whole test without the cache being bypassed.
async fn frontend_with_patient_feed(mock: &Mock) -> Frontend {
    synced_frontend(mock, 60_000).await
}

/// The stale read of the 10-minute chaos run of 2026-12-06 (issue 25), step by step. A
/// node answer that was served but not stored (here: a waiter's own re-read after its
/// shared flight came back older than an order it may have seen) left the cache free to
/// store, and then serve, a concurrent read taken at an older index: a client read 98,
/// then 99, with nothing adding stock in between. Every answer a node gives now raises
/// the key's mark before it is served, so the older fill is refused.
#[tokio::test]
async fn a_value_served_from_a_node_is_never_followed_by_an_older_cached_one() {
    let mock = start_mock(1).await;
    let fe = frontend_with_patient_feed(&mock).await;
    let shared = &mock.shared;
    let misses = metric(&fe, "cache_misses_total").await;
    // The feed's node lags from here on: only this frontend's own answers tell it
    // anything, as when the chaos run's feed was on a node that had been paused.
    shared.feed_held.store(true, Ordering::SeqCst);

    // R0 misses and reads Tux = 100 at index 3; its answer is held at the node.
    let mut r0_read = shared.hold_next_read();
    let r0 = tokio::spawn(product_quantity_owned(fe.url.clone()));
    r0_read.arrived().await;
    assert_eq!(r0_read.read().await, 3);
    // R1 misses too and waits on R0's flight.
    let r1 = tokio::spawn(product_quantity_owned(fe.url.clone()));
    wait_until("R1 to join R0's flight", || async {
        metric(&fe, "cache_misses_total").await == misses + 2
    })
    .await;
    // An order through this frontend: index 4, Tux = 99, answered (Tux's mark is 4).
    let r = http()
        .post(format!("{}/orders", fe.url))
        .json(&serde_json::json!({"name": "Tux", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[INDEX_HEADER], "4");

    // The flight comes back at index 3: R0 answers it (it began before the order was
    // answered); R1 finds it older than the order and reads again, alone (held).
    let mut r1_reread = shared.hold_next_read();
    r0_read.answer();
    assert_eq!(r0.await.unwrap().0, 100);
    r1_reread.arrived().await;
    // R2 misses, starts a flight of its own and reads Tux = 99 at index 4 (held).
    let mut r2_read = shared.hold_next_read();
    let r2 = tokio::spawn(product_quantity_owned(fe.url.clone()));
    r2_read.arrived().await;
    assert_eq!(r2_read.read().await, 4);
    // Another writer takes Tux to 98 at index 5; the lagging feed does not say so.
    assert_eq!(shared.set_quantity("Tux", 98), 5);
    // R1's re-read sees index 5 and R1 answers 98.
    assert_eq!(r1_reread.read().await, 5);
    r1_reread.answer();
    let (r1_quantity, _, r1_index) = r1.await.unwrap();
    assert_eq!((r1_quantity, r1_index), (98, 5));
    // R2's read at index 4 comes back: it may answer 99 (it began before R1 ended), but
    // it must not be kept for later readers.
    r2_read.answer();
    assert_eq!(r2.await.unwrap().0, 99);

    // R3 begins after R1 answered 98: it must not see 99.
    let (r3_quantity, r3_path, r3_index) = product_quantity(&fe).await;
    assert_eq!(
        (r3_quantity, r3_index),
        (98, 5),
        "read went back in time: 98 was served, then 99 from the {r3_path} path"
    );
}

/// [`product_quantity`] for a spawned task.
async fn product_quantity_owned(url: String) -> (u64, String, u64) {
    let (status, headers, body) = get_json(&format!("{url}/products/Tux")).await;
    assert_eq!(status, 200, "{body}");
    let index = headers[INDEX_HEADER].to_str().unwrap().parse().unwrap();
    (
        body["data"]["quantity"].as_u64().unwrap(),
        x_cache(&headers).to_string(),
        index,
    )
}

/// A read a client asks of a node directly (`?consistency=linearizable`) shows a newer
/// value than the cache holds while the feed lags: the plain lookup after it must not
/// answer the older cached value.
#[tokio::test]
async fn a_passthrough_read_is_never_followed_by_an_older_cached_one() {
    let mock = start_mock(1).await;
    let fe = frontend_with_patient_feed(&mock).await;
    let (quantity, path, _) = product_quantity(&fe).await;
    assert_eq!((quantity, path.as_str()), (100, "miss"));
    let (_, path, _) = product_quantity(&fe).await;
    assert_eq!(path, "hit", "Tux is cached at index 3");
    mock.shared.feed_held.store(true, Ordering::SeqCst);
    mock.shared.set_quantity("Tux", 90);
    let (status, _, body) =
        get_json(&format!("{}/products/Tux?consistency=linearizable", fe.url)).await;
    assert_eq!(
        (status.as_u16(), body["data"]["quantity"].as_u64()),
        (200, Some(90))
    );
    let (quantity, path, index) = product_quantity(&fe).await;
    assert_eq!(
        (quantity, index),
        (90, 4),
        "the cache answered an older value ({path}) after a node had answered 90"
    );
}

/// A feed whose node lags the cluster (paused, cut off) keeps sending heartbeats at its
/// own index. Once this frontend has seen a newer index than the feed delivers, the
/// cache stops answering within the staleness bound, so a change made by another writer
/// and not yet delivered is not hidden for longer than that.
#[tokio::test]
async fn a_lagging_feed_stops_the_cache_within_the_staleness_bound() {
    let mock = start_mock(1).await;
    let fe = synced_frontend(&mock, 300).await;
    let (quantity, path, _) = product_quantity(&fe).await;
    assert_eq!((quantity, path.as_str()), (100, "miss"));
    assert_eq!(product_quantity(&fe).await.1, "hit");
    // Another writer changes Tux; the feed's node does not deliver it.
    mock.shared.feed_held.store(true, Ordering::SeqCst);
    mock.shared.set_quantity("Tux", 90);
    // This frontend sees index 4 in an answer about another product.
    let (status, headers, _) =
        get_json(&format!("{}/products/Fox?consistency=linearizable", fe.url)).await;
    assert_eq!(
        (status.as_u16(), &headers[INDEX_HEADER]),
        (200, &"4".parse::<axum::http::HeaderValue>().unwrap())
    );
    let url = format!("{}/cluster", fe.url);
    wait_until(
        "the cache to stop answering behind a lagging feed",
        || async { get_json(&url).await.2["data"]["frontend"]["cache_serving"] == false },
    )
    .await;
    let (quantity, path, _) = product_quantity(&fe).await;
    assert_eq!((quantity, path.as_str()), (90, "bypass"));
    // The feed catches up: the cache answers again, with the change.
    mock.shared.feed_held.store(false, Ordering::SeqCst);
    wait_synced(&fe).await;
    assert_eq!(product_quantity(&fe).await.0, 90);
}

/// While the frontend's runtime is behind (tasks beside it hold both its threads 2 ms at
/// a time, so everything it has to do waits in a queue tens of ms long), reads and orders
/// are answered 503 `overloaded` ("behind") with Retry-After and never reach the node;
/// health and the operator's routes are not shed; once the runtime catches up, reads are
/// admitted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frontend_behind_sheds_reads_and_orders_but_not_health() {
    let mock = start_mock(1).await;
    let mut config = one_order_per_forward(&mock, 5_000);
    config.limits.frontend.queue_delay_ms = 5;
    config.limits.retry_after_secs = 3;
    config.frontend.admin = true;
    let fe = start_frontend_with(config).await;
    let (status, _, _) = get_json(&format!("{}/products/Tux", fe.url)).await;
    assert_eq!(status, 200, "not behind yet");
    assert_eq!(metric(&fe, "behind").await, 0);

    let busy = CancellationToken::new();
    let hogs: Vec<_> = (0..20)
        .map(|_| {
            let busy = busy.clone();
            tokio::spawn(async move {
                while !busy.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(2));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    let arrived_before = mock.shared.single_orders_arrived.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    let shed = loop {
        let r = http()
            .get(format!("{}/products/Tux", fe.url))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            break r;
        }
        assert!(Instant::now() < deadline, "never shed while behind");
    };
    assert_eq!(shed.headers()["retry-after"], "3");
    let body: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "overloaded", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("behind"), "{body}");
    // Still behind (the hogs go on): orders are shed too, and a shed one never reaches the
    // node (only those admitted, if a probe on time let one in, do).
    let mut admitted = 0;
    for i in 0.. {
        let r = place(&fe.url, &format!("while-behind-{i}")).await;
        if r.status() == 503 {
            break;
        }
        assert_eq!(r.status(), 200, "an order is either admitted or shed");
        admitted += 1;
        assert!(Instant::now() < deadline, "orders never shed while behind");
    }
    assert_eq!(
        mock.shared.single_orders_arrived.load(Ordering::SeqCst),
        arrived_before + admitted
    );
    // Health and metrics are never shed; the operator's routes are not shed for delay.
    let (status, _, _) = get_json(&format!("{}/livez", fe.url)).await;
    assert_eq!(status, 200);
    let admin = http()
        .get(format!("{}/cluster", fe.url))
        .send()
        .await
        .unwrap();
    assert_ne!(admin.status(), 503, "the cluster panel is the operator's");
    assert!(labelled(&fe, "shed_total", "cached_read").await >= 1);
    assert!(metric(&fe, "behind_episodes_total").await >= 1);

    busy.cancel();
    for hog in hogs {
        hog.await.unwrap();
    }
    wait_until("reads admitted once caught up", || async {
        get_json(&format!("{}/products/Tux", fe.url)).await.0 == 200
    })
    .await;
    assert_eq!(place(&fe.url, "after-catching-up").await.status(), 200);
}

/// A metric with labels, e.g. `shed_total{class="write"}`.
async fn labelled(fe: &Frontend, name: &str, class: &str) -> u64 {
    metric(fe, &format!("{name}{{class=\"{class}\"}}")).await
}

async fn place(url: &str, key: &str) -> reqwest::Response {
    http()
        .post(format!("{url}/orders"))
        .header("Idempotency-Key", key)
        .json(&serde_json::json!({"name": "Tux", "quantity": 1}))
        .send()
        .await
        .unwrap()
}

/// With the frontend's writes at their bound (the node holds every order), the next order
/// is answered 503 `overloaded` with `Retry-After` at once, and never reaches the node;
/// reads and health go on; once the held orders are answered, their slots take orders
/// again, and every order reached the node exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_over_the_write_bound_is_shed_at_once_and_never_forwarded() {
    let mock = start_mock(1).await;
    let hold = Arc::new(tokio::sync::Semaphore::new(0));
    *mock.shared.single_order_hold.lock().unwrap() = Some(hold.clone());
    let mut config = one_order_per_forward(&mock, 30_000);
    config.limits.frontend.writes = 4;
    config.limits.retry_after_secs = 2;
    let fe = start_frontend_with(config).await;
    wait_synced(&fe).await;

    let held: Vec<_> = (0..4)
        .map(|i| {
            let url = fe.url.clone();
            tokio::spawn(async move { place(&url, &format!("held-{i}")).await.status() })
        })
        .collect();
    wait_until("four orders held at the node", || async {
        mock.shared.single_orders_arrived.load(Ordering::SeqCst) == 4
    })
    .await;
    assert_eq!(labelled(&fe, "requests_in_flight", "write").await, 4);

    let start = Instant::now();
    let shed = place(&fe.url, "shed-1").await;
    let took = start.elapsed();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "2");
    let body: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "overloaded", "{body}");
    assert_eq!(body["error"]["code"], 503, "{body}");
    assert_eq!(body["error"]["retry_after_secs"], 2, "{body}");
    // At once: the held orders hold for the whole test, and the deadline is 30 s.
    assert!(took < Duration::from_secs(1), "shed after {took:?}");
    assert_eq!(labelled(&fe, "shed_total", "write").await, 1);
    // A shed answer keeps its connection: a client that sends on over it pays no new
    // connection (the cheapest refusal is one that leaves the socket as it was).
    let second = shed_then_livez_on_one_connection(&fe.url).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    assert_eq!(labelled(&fe, "shed_total", "write").await, 2);

    // Other classes and health are not held up by the writes' bound.
    let (status, _, _) = get_json(&format!("{}/products/Tux", fe.url)).await;
    assert_eq!(status, 200);
    let (status, h, _) = get_json(&format!("{}/products/Tux?consistency=stale", fe.url)).await;
    assert_eq!(status, 200, "a read the node answers is not shed");
    assert_eq!(x_cache(&h), "", "it went to the node");
    let (status, _, _) = get_json(&format!("{}/livez", fe.url)).await;
    assert_eq!(status, 200);
    assert_eq!(labelled(&fe, "shed_total", "cached_read").await, 0);

    hold.add_permits(4);
    for order in held {
        assert_eq!(order.await.unwrap(), 200);
    }
    wait_until("the write slots free", || async {
        labelled(&fe, "requests_in_flight", "write").await == 0
    })
    .await;
    // The slots take orders again.
    hold.add_permits(1);
    assert_eq!(place(&fe.url, "after-1").await.status(), 200);

    // Nothing lost, nothing doubled: each admitted order reached the node once, the shed
    // one never.
    let attempts = mock.shared.order_attempts.lock().unwrap().clone();
    let mut keys: Vec<&str> = attempts.iter().map(|(_, k)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["after-1", "held-0", "held-1", "held-2", "held-3"],
        "{attempts:?}"
    );
    assert_eq!(mock.shared.orders.lock().unwrap().len(), 5);
    assert_eq!(labelled(&fe, "shed_total", "write").await, 2);
}

/// Over one raw connection: an order (shed), then `GET /livez`; the second answer's head.
async fn shed_then_livez_on_one_connection(base: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = r#"{"name": "Tux", "quantity": 1}"#;
    let order = format!(
        "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Idempotency-Key: shed-2\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(order.as_bytes()).await.unwrap();
    // Read the shed answer whole: its head, then as many bytes as its Content-Length says.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .expect("the shed answer")
            .unwrap();
        assert!(n > 0, "closed before the shed answer");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("a content length");
    while got.len() < head_end + length {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed inside the shed answer");
        got.extend_from_slice(&buf[..n]);
    }
    socket
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
        .await
        .expect("an answer to the second request")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// `[limits.rate]` keyed by `X-Client-Id`: a client over its burst gets 429
/// `rate_limited` with `Retry-After`; another client, and health, do not.
#[tokio::test]
async fn a_client_over_its_rate_gets_429_and_another_client_does_not() {
    let mock = start_mock(1).await;
    let mut config = ClusterConfig {
        nodes: mock.nodes.clone(),
        ..quiet_defaults()
    };
    config.limits.rate.per_second = 1;
    config.limits.rate.burst = 3;
    config.limits.rate.client_header = "X-Client-Id".into();
    let fe = start_frontend_with(config).await;
    wait_synced(&fe).await;
    let url = format!("{}/products/Tux", fe.url);
    let from = |client: &str| http().get(&url).header("x-client-id", client.to_string());

    // The burst passes; at one request a second more, the next within a few is refused.
    let start = Instant::now();
    let mut passed = 0u64;
    let refused = loop {
        let r = from("alice").send().await.unwrap();
        if r.status() != 200 {
            break r;
        }
        passed += 1;
        assert!(passed < 20, "never limited");
    };
    let refilled = start.elapsed().as_secs();
    assert!(
        (3..=3 + refilled + 1).contains(&passed),
        "{passed} passed in {refilled} s"
    );
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "rate_limited", "{body}");
    assert_eq!(body["error"]["code"], 429, "{body}");

    // Another client has its own rate.
    assert_eq!(from("bob").send().await.unwrap().status(), 200);
    // Health is never limited.
    let health = http()
        .get(format!("{}/livez", fe.url))
        .header("x-client-id", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(metric(&fe, "rate_limited_total").await >= 1);
    assert!(metric(&fe, "rate_limit_clients").await >= 2);
}

/// Without a header configured, a client is its peer's address: another loopback address
/// is another client.
#[tokio::test]
async fn without_a_header_each_peer_address_is_a_client() {
    let mock = start_mock(1).await;
    let mut config = ClusterConfig {
        nodes: mock.nodes.clone(),
        ..quiet_defaults()
    };
    config.limits.rate.per_second = 1;
    config.limits.rate.burst = 2;
    let fe = start_frontend_with(config).await;
    wait_synced(&fe).await;
    let url = format!("{}/products/Tux", fe.url);
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .no_proxy()
            .local_address(std::net::IpAddr::from(ip))
            .build()
            .unwrap()
    };
    let first = from([127, 0, 0, 1]);
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(first.get(&url).send().await.unwrap().status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let second = from([127, 0, 0, 2]);
    assert_eq!(second.get(&url).send().await.unwrap().status(), 200);
}

/// A write the leader may have applied (its first attempt answered 503 `unavailable`)
/// and then shed on the retry is answered `unavailable`, not `overloaded`: `overloaded`
/// promises the client that nothing ran. Its retry with the key finds the first order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shed_retry_of_a_write_that_may_have_applied_is_unavailable_not_overloaded() {
    let mock = start_mock(1).await;
    let fe = start_frontend_with(one_order_per_forward(&mock, 10_000)).await;
    wait_synced(&fe).await;
    mock.shared
        .unconfirm_then_shed
        .store(true, Ordering::SeqCst);
    let r = place(&fe.url, "applied-then-shed").await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "unavailable", "{body}");
    assert_eq!(
        mock.shared.single_orders_arrived.load(Ordering::SeqCst),
        2,
        "the first attempt, then the shed retry"
    );
    assert_eq!(mock.shared.orders.lock().unwrap().len(), 1);

    mock.shared.shed_orders.store(false, Ordering::SeqCst);
    let r = place(&fe.url, "applied-then-shed").await;
    assert_eq!(r.status(), 200);
    assert_eq!(mock.shared.orders.lock().unwrap().len(), 1, "not doubled");
}

/// A node that sheds a request is answering, not failing: the frontend passes its 503
/// `overloaded` on at once, with the node's `Retry-After`, instead of retrying until the
/// request's deadline: a write (only the leader takes it) after one attempt, a read once
/// no other node took it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_sheds_is_heard_at_once_not_retried_into_the_deadline() {
    let mock = start_mock(2).await;
    let fe = start_frontend_with(one_order_per_forward(&mock, 30_000)).await;
    wait_synced(&fe).await;
    // The frontend knows the leader before the leader sheds.
    assert_eq!(place(&fe.url, "first").await.status(), 200);
    let arrived = mock.shared.single_orders_arrived.load(Ordering::SeqCst);

    mock.shared.shed_orders.store(true, Ordering::SeqCst);
    let start = Instant::now();
    let r = place(&fe.url, "shed-by-the-leader").await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(r.headers()["idempotency-key"], "shed-by-the-leader");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "overloaded", "{body}");
    assert_eq!(
        mock.shared.single_orders_arrived.load(Ordering::SeqCst),
        arrived + 1,
        "one attempt, not retried"
    );
    mock.shared.shed_orders.store(false, Ordering::SeqCst);
    assert_eq!(place(&fe.url, "shed-by-the-leader").await.status(), 200);

    // A read one node sheds is taken by the other; shed by both, it is answered at once.
    let url = format!("{}/products/Tux?consistency=stale", fe.url);
    mock.shared.shed_reads_on.lock().unwrap().insert(1);
    for _ in 0..4 {
        let (status, _, _) = get_json(&url).await;
        assert_eq!(status, 200, "node 2 takes what node 1 sheds");
    }
    mock.shared.shed_reads_on.lock().unwrap().insert(2);
    let start = Instant::now();
    let (status, headers, body) = get_json(&url).await;
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(body["error"]["reason"], "overloaded", "{body}");
}
