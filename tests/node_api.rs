//! The node API's contract from the outside: envelope, status codes, bad input, auth,
//! not-leader answers, admin changes and idempotent retries.

mod common;

use common::{TestCluster, PEER_TOKEN, TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The `X-Bazaar-Index` an answer carries.
fn index_of(resp: &reqwest::Response) -> Option<u64> {
    resp.headers()
        .get("x-bazaar-index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

async fn status_and_body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn assert_error(status: u16, body: &Value, expected: u16, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(
        body["error"]["code"], expected,
        "{what}: envelope code: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: message: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_4xx_with_the_error_envelope_and_never_a_5xx() {
    let cluster = TestCluster::start_in_process(3).await;
    let leader = cluster.leader().await;
    let base = cluster.api_url(leader);
    let http = &cluster.http;
    let post = |body: String| {
        http.post(format!("{base}/orders"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let cases: Vec<(&str, String, u16)> = vec![
        ("malformed JSON", "{\"name\": ".into(), 400),
        ("not an object", "[1,2]".into(), 400),
        ("missing quantity", json!({"name": "Tux"}).to_string(), 400),
        ("missing name", json!({"quantity": 1}).to_string(), 400),
        (
            "quantity as string",
            json!({"name": "Tux", "quantity": "2"}).to_string(),
            400,
        ),
        (
            "quantity zero",
            json!({"name": "Tux", "quantity": 0}).to_string(),
            400,
        ),
        (
            "quantity negative",
            json!({"name": "Tux", "quantity": -3}).to_string(),
            400,
        ),
        (
            "quantity fractional",
            json!({"name": "Tux", "quantity": 1.5}).to_string(),
            400,
        ),
        (
            "quantity above maximum",
            json!({"name": "Tux", "quantity": 10_001}).to_string(),
            400,
        ),
        (
            "bad product name",
            json!({"name": "a/b", "quantity": 1}).to_string(),
            400,
        ),
        (
            "unknown product",
            json!({"name": "Unicorn", "quantity": 1}).to_string(),
            404,
        ),
        (
            "insufficient stock",
            json!({"name": "Tux", "quantity": 5000}).to_string(),
            409,
        ),
        (
            "oversized body",
            format!(
                "{{\"name\": \"{}\", \"quantity\": 1}}",
                "x".repeat(70 * 1024)
            ),
            413,
        ),
    ];
    for (what, body, expected) in cases {
        let (status, body) = status_and_body(post(body).await.expect("answer")).await;
        assert_error(status, &body, expected, what);
    }

    let gets: Vec<(&str, String, u16)> = vec![
        ("unknown order", "/orders/999999".into(), 404),
        ("non-numeric order", "/orders/abc".into(), 400),
        ("negative order", "/orders/-1".into(), 400),
        ("unknown product", "/products/Unicorn".into(), 404),
        ("bad product name", "/products/a%2Fb".into(), 400),
        ("search without topic", "/search".into(), 400),
        (
            "bad consistency",
            "/products/Tux?consistency=sometimes".into(),
            400,
        ),
        ("unknown query field", "/products?colour=red".into(), 400),
        ("page too large", "/products?limit=100000".into(), 400),
        ("unknown route", "/nowhere".into(), 404),
    ];
    for (what, path, expected) in gets {
        let (status, body) = status_and_body(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .expect("answer"),
        )
        .await;
        assert_error(status, &body, expected, what);
    }

    let long_key = "k".repeat(200);
    let resp = http
        .post(format!("{base}/orders"))
        .header("idempotency-key", long_key)
        .json(&json!({"name": "Tux", "quantity": 1}))
        .send()
        .await
        .expect("answer");
    let (status, body) = status_and_body(resp).await;
    assert_error(status, &body, 400, "idempotency key too long");

    // Stock was never touched by any of the above.
    assert_eq!(cluster.stock(leader, "Tux").await, Some(100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_writes_admin_auth_and_not_leader_answers() {
    let cluster = TestCluster::start_in_process(3).await;
    let leader = cluster.leader().await;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("follower");
    let base = cluster.api_url(leader);
    let http = &cluster.http;

    // Catalog and search, with the applied index on every read.
    let resp = http
        .get(format!("{base}/products"))
        .send()
        .await
        .expect("answer");
    assert!(resp.headers().contains_key("x-bazaar-index"));
    let (status, body) = status_and_body(resp).await;
    assert_eq!(status, 200);
    assert!(body["data"]["total"].as_u64().unwrap() >= 14, "{body}");
    let (status, body) = status_and_body(
        http.get(format!("{base}/search?topic=distributed%20systems"))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["data"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"RPCs for Noobs"), "{names:?}");
    let (_, tux) = status_and_body(
        http.get(format!("{base}/products/Tux"))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(tux["data"]["price"], json!(25.99));
    assert_eq!(tux["data"]["quantity"], 100);

    // An order answers 200 with order_number; a retry with the same key returns it again.
    let order = |key: &'static str, qty: u64| {
        http.post(format!("{base}/orders"))
            .header("idempotency-key", key)
            .json(&json!({"name": "Tux", "quantity": qty}))
            .send()
    };
    let (status, first) = status_and_body(order("key-1", 2).await.expect("answer")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["order_number"], first["data"]["number"]);
    assert_eq!(first["data"]["total"], json!(51.98));
    let (status, again) = status_and_body(order("key-1", 2).await.expect("answer")).await;
    assert_eq!((status, &again), (200, &first));
    let (status, body) = status_and_body(order("key-1", 3).await.expect("answer")).await;
    assert_error(status, &body, 422, "key reused for a different order");
    let number = first["data"]["number"].as_u64().unwrap();
    let (status, fetched) = status_and_body(
        http.get(format!("{}/orders/{number}", cluster.api_url(follower)))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["data"]["name"], "Tux");
    assert_eq!(fetched["data"]["quantity"], 2);

    // A write on a follower names the leader.
    let resp = http
        .post(format!("{}/orders", cluster.api_url(follower)))
        .json(&json!({"name": "Tux", "quantity": 1}))
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), StatusCode::MISDIRECTED_REQUEST);
    let hint = resp
        .headers()
        .get("x-bazaar-leader")
        .expect("leader header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(hint.starts_with(&format!("{leader} ")), "{hint}");
    let (_, body) = status_and_body(resp).await;
    assert_eq!(body["error"]["leader"]["id"], leader);

    // Admin routes need the token; peer RPC too.
    let spec = json!({"name": "Yo-yo", "title": "Wooden yo-yo", "topic": "toys", "price": 3.5, "quantity": 7});
    let (status, body) = status_and_body(
        http.post(format!("{base}/admin/products"))
            .json(&spec)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_error(status, &body, 401, "admin without token");
    let (status, body) = status_and_body(
        http.post(format!("{base}/admin/products"))
            .bearer_auth("wrong-token")
            .json(&spec)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_error(status, &body, 401, "admin with a wrong token");
    let raft = http
        .post(format!("{}/raft/vote", cluster.raft_url(leader)))
        .body(vec![1, 2, 3])
        .send()
        .await
        .expect("answer");
    assert_eq!(raft.status(), StatusCode::UNAUTHORIZED);
    // Separate secrets: the admin token opens no peer route, the peer token no admin route.
    let raft = http
        .post(format!("{}/raft/vote", cluster.raft_url(leader)))
        .bearer_auth(TOKEN)
        .body(vec![1, 2, 3])
        .send()
        .await
        .expect("answer");
    assert_eq!(raft.status(), StatusCode::UNAUTHORIZED);
    let raft = http
        .post(format!("{}/raft/vote", cluster.raft_url(leader)))
        .bearer_auth(PEER_TOKEN)
        .body(vec![1, 2, 3])
        .send()
        .await
        .expect("answer");
    assert_eq!(
        raft.status(),
        StatusCode::BAD_REQUEST,
        "the peer token passes; the body does not decode"
    );
    let (status, body) = status_and_body(
        http.post(format!("{base}/admin/products"))
            .bearer_auth(PEER_TOKEN)
            .json(&spec)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_error(status, &body, 401, "admin with the peer token");

    let (status, body) = status_and_body(
        http.post(format!("{base}/admin/products"))
            .bearer_auth(TOKEN)
            .json(&spec)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["quantity"], 7);
    let (status, body) = status_and_body(
        http.patch(format!("{base}/admin/products/Yo-yo"))
            .bearer_auth(TOKEN)
            .json(&json!({"price": 4.25}))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["price"], json!(4.25));
    let (status, body) = status_and_body(
        http.post(format!("{base}/admin/restock"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": "Yo-yo", "amount": 3}))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["quantity"], 10);
    let (status, body) = status_and_body(
        http.patch(format!("{base}/admin/products/Unicorn"))
            .bearer_auth(TOKEN)
            .json(&json!({"quantity": 1}))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_error(status, &body, 404, "patch of an unknown product");

    // The new product is visible on a follower, linearizably.
    assert_eq!(cluster.stock(follower, "Yo-yo").await, Some(10));

    // Status routes.
    let (status, body) = status_and_body(
        http.get(format!("{base}/cluster"))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["leader"], leader);
    assert_eq!(body["data"]["members"].as_array().unwrap().len(), 3);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("bazaar_node_raft_term "), "{metrics}");
    assert!(
        metrics.contains("# TYPE bazaar_node_orders_created counter"),
        "orders are a counter: {metrics}"
    );
    assert!(
        metrics.contains("bazaar_node_http_requests_total{route=\"/orders\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "bazaar_node_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/products/{name}\"}"
        ),
        "{metrics}"
    );
    // Every answer carries a request id: the caller's when it sent one.
    let answer = http
        .get(format!("{base}/products/Tux"))
        .header("x-request-id", "test-request-7")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.headers()["x-request-id"], "test-request-7");
    let answer = http
        .get(format!("{base}/products/Tux"))
        .send()
        .await
        .expect("answer");
    assert!(answer.headers().get("x-request-id").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_change_feed_streams_changes_and_resets_when_too_old() {
    let cluster = TestCluster::start_in_process(3).await;
    let leader = cluster.leader().await;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("follower");
    let applied = cluster
        .cluster_info(follower)
        .await
        .expect("info")
        .applied_index;
    let mut resp = cluster
        .http
        .get(format!(
            "{}/watch?from={applied}",
            cluster.api_url(follower)
        ))
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .expect("watch answers");
    assert_eq!(resp.status(), 200);
    let key = "feed-1";
    assert!(matches!(
        cluster
            .place_order("Marbles", 1, key, std::time::Duration::from_secs(10))
            .await,
        common::Attempt::Acked(_)
    ));
    let mut buffer = String::new();
    let change = loop {
        let chunk = resp
            .chunk()
            .await
            .expect("stream open")
            .expect("stream not ended");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(line) = buffer.lines().find(|l| l.contains("\"change\"")) {
            break serde_json::from_str::<Value>(line).expect("a JSON line");
        }
    };
    assert_eq!(change["products"], json!(["Marbles"]));
    assert_eq!(change["topics"], json!(["toys"]));
    assert!(change["index"].as_u64().unwrap() > applied);

    drop(resp);
    // A restarted node holds no changes from before its start: resuming from 0 is a reset.
    let mut cluster = cluster;
    cluster.kill(follower);
    cluster.restart(follower);
    common::wait_for("the restarted follower to catch up", || async {
        cluster
            .cluster_info(follower)
            .await
            .filter(|i| i.applied_index > applied)
    })
    .await;
    let mut resp = cluster
        .http
        .get(format!("{}/watch?from=0", cluster.api_url(follower)))
        .send()
        .await
        .expect("watch answers");
    let first = resp.chunk().await.expect("stream").expect("a line");
    let line: Value =
        serde_json::from_slice(first.split(|b| *b == b'\n').next().unwrap()).expect("json");
    assert_eq!(line["type"], "reset", "{line}");
}

/// `POST /orders/batch` (what a frontend sends): each order gets exactly the answer
/// `POST /orders` gives the same input, under its own key; a retried batch returns the
/// first orders; a follower refuses the whole batch with where the leader is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_batch_answers_each_order_as_a_single_order_would() {
    let cluster = TestCluster::start_in_process(3).await;
    let leader = cluster.leader().await;
    let http = &cluster.http;
    let batch = json!({"orders": [
        {"key": "batch-a", "order": {"name": "Tux", "quantity": 1}},
        {"key": "batch-b", "order": {"name": "Tux", "quantity": 2}},
        {"key": "batch-c", "order": {"name": "NoSuchThing", "quantity": 1}},
        {"key": "batch-d", "order": {"name": "Tux", "quantity": 0}},
        {"key": "", "order": {"name": "Tux", "quantity": 1}},
        {"key": "batch-e", "order": {"name": "Tux", "quantity": 5000}},
    ]});
    let send = |id: u64, body: Value| {
        http.post(format!("{}/orders/batch", cluster.api_url(id)))
            .json(&body)
            .send()
    };
    let (status, first) = status_and_body(send(leader, batch.clone()).await.expect("answer")).await;
    assert_eq!(status, 200, "{first}");
    let results = first["results"].as_array().expect("results").clone();
    assert_eq!(results.len(), 6, "{first}");
    assert_eq!(results[0]["status"], 200, "{first}");
    assert_eq!(results[1]["status"], 200, "{first}");
    let a = results[0]["body"]["data"]["number"]
        .as_u64()
        .expect("number");
    let b = results[1]["body"]["data"]["number"]
        .as_u64()
        .expect("number");
    assert_ne!(a, b);
    assert_eq!(results[1]["body"]["data"]["quantity"], 2);
    assert!(
        results[0]["index"].as_u64().is_some_and(|i| i > 0),
        "{first}"
    );
    // The rejections are what a single order with the same input gets.
    for (i, (name, quantity, key)) in [
        ("NoSuchThing", 1, "single-c"),
        ("Tux", 0, "single-d"),
        ("Tux", 1, ""),
    ]
    .into_iter()
    .enumerate()
    {
        let resp = http
            .post(format!("{}/orders", cluster.api_url(leader)))
            .header("Idempotency-Key", key)
            .json(&json!({"name": name, "quantity": quantity}))
            .send()
            .await
            .expect("answer");
        let (single_status, single) = status_and_body(resp).await;
        let item = &results[2 + i];
        assert_eq!(item["status"], single_status, "{item} vs {single}");
        assert_error(
            single_status,
            &item["body"],
            single_status,
            "batch rejection",
        );
        assert_eq!(item["body"]["error"]["reason"], single["error"]["reason"]);
    }
    // A refusal for want of stock was decided by the state machine at a log index, which
    // it carries like a placed order does (a cache orders it against what it holds); a
    // bad request never reached the log.
    let refused = &results[5];
    assert_eq!(refused["status"], 409, "{refused}");
    assert_eq!(refused["body"]["error"]["reason"], "insufficient_stock");
    let placed_at = results[1]["index"].as_u64().expect("index");
    assert!(
        refused["index"].as_u64().is_some_and(|i| i >= placed_at),
        "{refused}"
    );
    assert!(results[3]["index"].is_null(), "{first}");
    let resp = http
        .post(format!("{}/orders", cluster.api_url(leader)))
        .header("Idempotency-Key", "single-e")
        .json(&json!({"name": "Tux", "quantity": 5000}))
        .send()
        .await
        .expect("answer");
    let index = index_of(&resp);
    let (status, body) = status_and_body(resp).await;
    assert_error(status, &body, 409, "single refusal");
    assert!(index.is_some_and(|i| i >= placed_at), "{index:?}");
    // The same batch again: the same orders, nothing doubled.
    let stock = cluster.stock(leader, "Tux").await.expect("stock");
    let (status, again) = status_and_body(send(leader, batch).await.expect("answer")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["results"][0]["body"]["data"]["number"], a);
    assert_eq!(again["results"][1]["body"]["data"]["number"], b);
    assert_eq!(cluster.stock(leader, "Tux").await, Some(stock));
    // A follower answers for the whole batch: 421 naming the leader.
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let one = json!({"orders": [{"key": "batch-f", "order": {"name": "Tux", "quantity": 1}}]});
    let (status, body) = status_and_body(send(follower, one).await.expect("answer")).await;
    assert_error(status, &body, 421, "batch on a follower");
    assert_eq!(body["error"]["leader"]["id"], leader, "{body}");
    // An empty batch, or one above the limit, is a bad request.
    let (status, body) =
        status_and_body(send(leader, json!({"orders": []})).await.expect("answer")).await;
    assert_error(status, &body, 400, "empty batch");
    let many: Vec<Value> = (0..=bazaar_api::MAX_ORDERS_PER_BATCH)
        .map(|i| json!({"key": format!("many-{i}"), "order": {"name": "Tux", "quantity": 1}}))
        .collect();
    let (status, body) =
        status_and_body(send(leader, json!({"orders": many})).await.expect("answer")).await;
    assert_error(status, &body, 400, "oversized batch");
}

/// `POST /lookup` (what a frontend sends for lookups that arrive together): one
/// linearizable read on any node, each name answered as `GET /products/{name}` would be
/// there, with the read's index; bad or empty lookups are 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lookup_answers_each_name_as_a_single_lookup_would() {
    let cluster = TestCluster::start_in_process(3).await;
    let leader = cluster.leader().await;
    let http = &cluster.http;
    let send = |id: u64, body: Value| {
        http.post(format!("{}/lookup", cluster.api_url(id)))
            .json(&body)
            .send()
    };
    for id in cluster.ids() {
        let resp = send(id, json!({"names": ["Tux", "NoSuchThing", "a/b", "Tux"]}))
            .await
            .expect("answer");
        let index = index_of(&resp).expect("the read's index");
        let (status, body) = status_and_body(resp).await;
        assert_eq!(status, 200, "node {id}: {body}");
        let results = body["results"].as_array().expect("results").clone();
        assert_eq!(results.len(), 4, "{body}");
        let single = http
            .get(format!("{}/products/Tux", cluster.api_url(id)))
            .send()
            .await
            .expect("answer");
        let (_, tux) = status_and_body(single).await;
        assert_eq!(results[0]["status"], 200, "{body}");
        assert_eq!(
            results[0]["body"], tux,
            "the answer GET /products/Tux gives"
        );
        assert_eq!(results[0]["index"], index, "{body}");
        assert_eq!(results[3], results[0], "{body}");
        assert_error(404, &results[1]["body"], 404, "unknown name in a lookup");
        assert_eq!(results[1]["status"], 404, "{body}");
        assert_eq!(results[2]["status"], 400, "{body}");
        assert_error(400, &results[2]["body"], 400, "bad name in a lookup");
    }
    let (status, body) =
        status_and_body(send(leader, json!({"names": []})).await.expect("answer")).await;
    assert_error(status, &body, 400, "empty lookup");
    let many: Vec<String> = (0..=bazaar_api::MAX_LOOKUPS_PER_BATCH)
        .map(|i| format!("n{i}"))
        .collect();
    let (status, body) =
        status_and_body(send(leader, json!({"names": many})).await.expect("answer")).await;
    assert_error(status, &body, 400, "oversized lookup");
}
