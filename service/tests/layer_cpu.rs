//! The CPU one request costs through a router under the standard layer (a cache hit's
//! share of the frontend's work that is not the cache): `#[ignore]`d, run by hand with
//! `cargo test --release -p bazaar-service --test layer_cpu -- --ignored --nocapture`.
//! CPU is this thread's own time as the kernel counts it (`/proc/thread-self/schedstat`),
//! so other work on the machine adds little; the loop is repeated and the best run kept.

use std::time::Duration;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::Request;
use axum::routing::{get, post};
use axum::Router;
use bazaar_api::config::InFlightLimits;
use bazaar_service::{
    standard_layers, standard_layers_admitting, Admission, Class, Limits, MetricsBuilder,
};
use tower::ServiceExt;

/// Nanoseconds this thread has run on a CPU.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A router shaped like the frontend's: a dozen routes, a catch-all, a fallback; with
/// `shed`, under the layer that also sheds load (every route but health in a class).
fn router_with(shed: bool) -> Router {
    let metrics = MetricsBuilder::new("bench").build();
    let ok = || async { "{\"data\":{}}" };
    let router = Router::new()
        .route("/products", get(ok))
        .route("/products/{name}", get(ok))
        .route("/search", get(ok))
        .route("/orders", post(ok))
        .route("/orders/{number}", get(ok))
        .route("/admin/{*rest}", get(ok))
        .route("/livez", get(ok))
        .route("/readyz", get(ok))
        .route("/health", get(ok))
        .route("/version", get(ok))
        .route("/cluster", get(ok))
        .route("/metrics", get(ok));
    let limits = Limits {
        body_bytes: 64 * 1024,
        timeout: Duration::from_secs(5),
    };
    if !shed {
        return standard_layers(router, metrics.http(), limits);
    }
    fn classify(req: &Request<Body>) -> Option<Class> {
        match req.extensions().get::<MatchedPath>()?.as_str() {
            "/orders" => Some(Class::Write),
            "/products/{name}" | "/search" => Some(Class::CachedRead),
            "/products" | "/orders/{number}" => Some(Class::LinearizableRead),
            "/admin/{*rest}" | "/cluster" => Some(Class::Admin),
            _ => None,
        }
    }
    let admission = Admission::new(&InFlightLimits::frontend_defaults(), 1);
    standard_layers_admitting(
        router,
        metrics.http(),
        limits,
        admission.with_classes(classify),
    )
}

fn router() -> Router {
    router_with(false)
}

/// Best (lowest) CPU per request over five runs of `requests` on this thread.
fn measure(router: &Router, requests: u64, with_id: bool) -> f64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut best = f64::MAX;
    for _ in 0..5 {
        let per_request_ns = runtime.block_on(async {
            let start = thread_cpu_ns();
            for _ in 0..requests {
                let mut req = Request::get("/products/Tux");
                if with_id {
                    req = req.header("x-request-id", "bench-1");
                }
                let req = req.body(Body::empty()).expect("request");
                let response = router.clone().oneshot(req).await.expect("infallible");
                assert_eq!(response.status(), 200);
            }
            (thread_cpu_ns() - start) as f64 / requests as f64
        });
        best = best.min(per_request_ns);
    }
    best / 1000.0
}

#[test]
#[ignore = "a measurement, not a check: run by hand with --ignored --nocapture"]
fn cpu_per_request_through_the_standard_layer() {
    const REQUESTS: u64 = 200_000;
    let router = router();
    let with_id = measure(&router, REQUESTS, true);
    let generated = measure(&router, REQUESTS, false);
    // Two threads at once on one router, as two runtime workers serve one listener.
    let both: Vec<f64> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| measure(&router, REQUESTS, true)))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("thread"))
            .collect()
    });
    println!("standard layer + router, us CPU per request (best of 5 runs of {REQUESTS}):");
    println!("  one thread, request id sent:      {with_id:.2}");
    println!("  one thread, request id generated: {generated:.2}");
    println!(
        "  two threads at once, id sent:     {:.2} / {:.2}",
        both[0], both[1]
    );
    // The same router shedding load: a cached lookup classed, admitted and let go.
    let shedding = router_with(true);
    let plain_again = measure(&router, REQUESTS, true);
    let admitted = measure(&shedding, REQUESTS, true);
    println!("  one thread, id sent, no shedding (again): {plain_again:.2}");
    println!("  one thread, id sent, shedding (admitted): {admitted:.2}");
}
