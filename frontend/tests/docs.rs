//! The API reference as a frontend serves it, with no node answering (the reference needs
//! none): `GET /docs` and its script and style sheet from the binary, each with its content
//! type, and `GET /openapi.json`, the frontend's document as `bazaar_api::openapi` builds
//! it. Every path of the document that takes no parameter is served (not the 404 of an
//! unknown route). The page's rendering in Chromium is `tests/storefront_browser.rs`'s.

use std::time::Duration;

use bazaar_api::config::{ClusterConfig, NodeConfig};
use bazaar_api::openapi::{file_text, frontend_document};
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use tokio::net::TcpListener;
use tokio_util::sync::{CancellationToken, DropGuard};

struct Frontend {
    url: String,
    _stop: DropGuard,
}

/// A frontend (admin routes on) whose only node is a port nothing listens on.
async fn start_frontend() -> Frontend {
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = gone.local_addr().unwrap().to_string();
    drop(gone);
    let mut config = ClusterConfig {
        nodes: vec![NodeConfig {
            id: 1,
            api: dead,
            raft: "127.0.0.1:1".into(),
        }],
        ..ClusterConfig::default()
    };
    config.frontend.request_deadline_ms = 500;
    // Served from memory whatever the load: no shedding for delay on a shared test machine.
    config.limits.frontend.queue_delay_ms = 0;
    // With the admin routes on, so that they are routed too (off, they answer 404).
    config.frontend.admin = true;
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
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Status, content type and body of `GET path`.
async fn get(fe: &Frontend, path: &str) -> (u16, String, reqwest::header::HeaderMap, String) {
    let answer = http()
        .get(format!("{}{path}", fe.url))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = answer.status().as_u16();
    let headers = answer.headers().clone();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, headers, answer.text().await.unwrap())
}

#[tokio::test]
async fn the_reference_page_and_its_document_are_served_from_the_binary() {
    let fe = start_frontend().await;

    let (status, content_type, headers, page) = get(&fe, "/docs").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(headers[CACHE_CONTROL], "no-cache");
    assert!(
        page.contains(r#"<script src="/ui/docs.js" defer></script>"#),
        "{page}"
    );
    assert!(page.contains(r#"href="/ui/docs.css""#), "{page}");

    let (status, content_type, _, script) = get(&fe, "/ui/docs.js").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/javascript; charset=utf-8");
    assert!(script.contains("/openapi.json"));

    let (status, content_type, _, style) = get(&fe, "/ui/docs.css").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/css; charset=utf-8");
    assert!(style.contains(".op"));

    let (status, content_type, _, document) = get(&fe, "/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/json");
    assert_eq!(document, file_text(&frontend_document()));
    let document: serde_json::Value = serde_json::from_str(&document).unwrap();
    assert_eq!(document["openapi"], "3.1.0");

    // Every parameterless GET the document lists is routed here (a node that does not
    // answer makes some of them 503, never an unknown route's 404).
    for (path, item) in document["paths"].as_object().unwrap() {
        if path.contains('{') || item.get("get").is_none() {
            continue;
        }
        let (status, _, _, body) = get(&fe, path).await;
        assert!(
            status != 404 && status != 405,
            "GET {path} answered {status}: {body}"
        );
    }
}
