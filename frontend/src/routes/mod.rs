//! The public HTTP API: the node's read and write routes, plus the frontend's own
//! health, cluster and metrics routes, under the standard layers, all from one route table
//! (`table`) that a test holds against the frontend's OpenAPI document; which class each
//! request is in for load shedding ([`classify`]), and the per-client rate on every route
//! that is shed.

mod admin;
mod catalog;
mod orders;
mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::Request;
use axum::Router;
use bazaar_api::MAX_API_BODY_BYTES;
use bazaar_service::respond::{method_not_allowed, unknown_route};
use bazaar_service::{standard_layers_admitting, Admission, Class, Limits, RouteTable};

use crate::paths::{plain_lookup, plain_search};
use crate::rate_limit::RateLimit;
use crate::state::AppState;

/// Slack above the request deadline before a route is cut off: the backend answers 503 on
/// its own at the deadline, so the route limit only catches what escapes it.
const ROUTE_SLACK: Duration = Duration::from_secs(2);

/// Every route this frontend serves. The router is built from these two tables alone, and
/// a test holds them against the frontend's OpenAPI document (`bazaar_api::openapi`), both
/// ways.
#[cfg(test)]
fn table() -> RouteTable<Arc<AppState>> {
    shed_routes().merge(status_routes())
}

/// The routes that can be shed (each in a class, see [`classify`]) and rate limited.
fn shed_routes() -> RouteTable<Arc<AppState>> {
    RouteTable::new()
        .get("/products", catalog::list_products)
        .get("/products/{name}", catalog::get_product)
        .get("/search", catalog::search)
        .post("/orders", orders::place_order)
        .get("/orders/{number}", orders::get_order)
        .merge(admin::table())
        .get("/cluster", status::cluster)
        .merge(crate::ui::table())
}

/// Health, readiness, version and metrics: never shed, never rate limited.
fn status_routes() -> RouteTable<Arc<AppState>> {
    RouteTable::new()
        .get("/livez", status::livez)
        .get("/readyz", status::readyz)
        .get("/health", status::readyz)
        .get("/version", status::version)
        .get("/metrics", status::metrics)
}

/// The frontend's routes under the standard layers, shedding by `admission`'s bounds and,
/// with a `rate`, holding each client to it on every route that can be shed.
pub fn router(
    state: Arc<AppState>,
    request_deadline: Duration,
    admission: &Admission,
    rate: Option<&RateLimit>,
) -> Router {
    let metrics = state.registry.clone();
    let mut public = shed_routes().into_router();
    if let Some(rate) = rate {
        public = public.layer(rate.layer());
    }
    let router = public
        .merge(status_routes().into_router())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    standard_layers_admitting(
        router,
        metrics.http(),
        Limits {
            body_bytes: MAX_API_BODY_BYTES,
            timeout: request_deadline + ROUTE_SLACK,
        },
        admission.with_classes(classify),
    )
}

/// Which bound a request counts against, by the route it matched (and, for the reads the
/// cache may answer, its query). Health, readiness, version and metrics are in none and
/// never shed; neither are unknown routes, answered 404 at once.
pub fn classify(req: &Request<Body>) -> Option<Class> {
    let route = req.extensions().get::<MatchedPath>()?.as_str();
    let query = req.uri().query();
    let cached_if = |plain: bool| {
        if plain {
            Class::CachedRead
        } else {
            Class::LinearizableRead
        }
    };
    match route {
        "/orders" => Some(Class::Write),
        "/products/{name}" => Some(cached_if(plain_lookup(query))),
        "/search" => Some(cached_if(plain_search(query))),
        "/products" | "/orders/{number}" => Some(Class::LinearizableRead),
        // The page, the API reference and their files, from memory like a cache hit.
        "/" | "/ui/app.js" | "/ui/app.css" | "/docs" | "/ui/docs.js" | "/ui/docs.css"
        | "/openapi.json" => Some(Class::CachedRead),
        // The operator's: catalog changes and the cluster panel, which asks every node.
        "/cluster" | "/cluster/nodes" => Some(Class::Admin),
        admin if admin.starts_with("/admin/") => Some(Class::Admin),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;
    use axum::routing::any;
    use tower::ServiceExt;

    /// What `classify` says of a request to `uri` once it matched `route` (`MatchedPath` is
    /// set by a router, as in the standard layer).
    async fn class_of(method: Method, route: &'static str, uri: &str) -> Option<Class> {
        let app: Router = Router::new().route(
            route,
            any(|req: Request<Body>| async move {
                match classify(&req) {
                    None => "none",
                    Some(class) => class.as_str(),
                }
            }),
        );
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let answer = app.oneshot(req).await.unwrap();
        let body = axum::body::to_bytes(answer.into_body(), 1024)
            .await
            .unwrap();
        Class::ALL
            .into_iter()
            .find(|c| c.as_str().as_bytes() == &body[..])
    }

    const CASES: [(&str, &str, &str, Option<Class>); 18] = [
        ("POST", "/orders", "/orders", Some(Class::Write)),
        (
            "GET",
            "/products/{name}",
            "/products/Tux",
            Some(Class::CachedRead),
        ),
        (
            "GET",
            "/products/{name}",
            "/products/Tux?consistency=stale",
            Some(Class::LinearizableRead),
        ),
        (
            "GET",
            "/search",
            "/search?topic=toys",
            Some(Class::CachedRead),
        ),
        (
            "GET",
            "/search",
            "/search?topic=toys&consistency=linearizable",
            Some(Class::LinearizableRead),
        ),
        (
            "GET",
            "/products",
            "/products?limit=5",
            Some(Class::LinearizableRead),
        ),
        (
            "GET",
            "/orders/{number}",
            "/orders/7",
            Some(Class::LinearizableRead),
        ),
        ("GET", "/", "/", Some(Class::CachedRead)),
        ("GET", "/ui/app.js", "/ui/app.js", Some(Class::CachedRead)),
        ("GET", "/ui/app.css", "/ui/app.css", Some(Class::CachedRead)),
        (
            "POST",
            "/admin/restock",
            "/admin/restock",
            Some(Class::Admin),
        ),
        ("GET", "/cluster", "/cluster", Some(Class::Admin)),
        (
            "GET",
            "/cluster/nodes",
            "/cluster/nodes",
            Some(Class::Admin),
        ),
        ("GET", "/livez", "/livez", None),
        ("GET", "/readyz", "/readyz", None),
        ("GET", "/health", "/health", None),
        ("GET", "/version", "/version", None),
        ("GET", "/metrics", "/metrics", None),
    ];

    #[tokio::test]
    async fn each_route_is_in_its_class_and_health_in_none() {
        for (method, route, uri, want) in CASES {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(class_of(method, route, uri).await, want, "{uri}");
        }
    }

    /// A route added without a thought for its class would be in none, and never shed:
    /// every route that can be shed is in a class, and the status routes in none.
    #[tokio::test]
    async fn every_route_of_the_table_is_in_its_class() {
        let concrete = |route: &str| route.replace("{name}", "Tux").replace("{number}", "7");
        let shed = shed_routes();
        assert!(shed.routes().len() >= 15, "{:?}", shed.routes());
        for (method, route) in shed.routes() {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let class = class_of(method, route, &concrete(route)).await;
            assert!(class.is_some(), "route {route} is in no class");
        }
        for (method, route) in status_routes().routes() {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            assert_eq!(class_of(method, route, route).await, None, "{route}");
        }
    }

    /// The routes the router serves are the routes the frontend's OpenAPI document lists,
    /// both ways: a route added without its description (or described and not served)
    /// fails here.
    #[test]
    fn the_router_serves_exactly_the_documented_routes() {
        use bazaar_api::openapi::{compare_routes, frontend_routes};
        let table = table();
        if let Err(diff) = compare_routes(table.routes(), &frontend_routes()) {
            panic!("the frontend's router and its OpenAPI document differ:\n{diff}");
        }
    }
}
