//! Which admission class a request to the node's `api` listener is in (load shedding,
//! `[limits.node]`): orders are writes, reads are linearizable unless they ask for
//! `consistency=stale`, catalog changes and membership are the operator's. Status, the
//! change feed (it has its own cap), this node's document and the backup and archive
//! streams (their own router) are in none and never shed, as `bazaar_api::openapi`'s
//! `NODE_NEVER_SHED` documents.

use axum::body::Body;
use axum::extract::MatchedPath;
use axum::http::Request;
use bazaar_api::{LOOKUP_PATH, ORDER_BATCH_PATH};
use bazaar_service::Class;

/// The class of `req`, by the route it matched; `None`: never shed.
pub fn classify(req: &Request<Body>) -> Option<Class> {
    let route = req.extensions().get::<MatchedPath>()?.as_str();
    let stale = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "consistency=stale"));
    let read = if stale {
        Class::CachedRead
    } else {
        Class::LinearizableRead
    };
    match route {
        "/orders" => Some(Class::Write),
        r if r == ORDER_BATCH_PATH => Some(Class::Write),
        "/products" | "/products/{name}" | "/search" | "/orders/{number}" => Some(read),
        r if r == LOOKUP_PATH => Some(Class::LinearizableRead),
        "/cluster" | "/cluster/members" => Some(Class::Admin),
        r if r.starts_with("/admin/") => Some(Class::Admin),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::routing::any;
    use axum::Router;
    use bazaar_api::openapi::NODE_NEVER_SHED as NEVER_SHED;
    use tower::ServiceExt;

    use super::*;
    use crate::http::api_table;

    /// What `classify` says of `method uri` once a router matched it to `route`.
    async fn class_of(method: &str, route: &str, uri: &str) -> Option<Class> {
        let app: Router = Router::new().route(
            route,
            any(|req: Request<Body>| async move { classify(&req).map_or("none", |c| c.as_str()) }),
        );
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .expect("a request");
        let answer = app.oneshot(req).await.expect("an answer");
        let body = axum::body::to_bytes(answer.into_body(), 1024)
            .await
            .expect("a body");
        Class::ALL
            .into_iter()
            .find(|c| c.as_str().as_bytes() == &body[..])
    }

    #[tokio::test]
    async fn reads_are_linearizable_unless_stale_and_orders_are_writes() {
        assert_eq!(
            class_of("POST", "/orders", "/orders").await,
            Some(Class::Write)
        );
        assert_eq!(
            class_of("GET", "/products/{name}", "/products/Tux").await,
            Some(Class::LinearizableRead)
        );
        assert_eq!(
            class_of("GET", "/products/{name}", "/products/Tux?consistency=stale").await,
            Some(Class::CachedRead)
        );
        assert_eq!(
            class_of("POST", "/admin/restock", "/admin/restock").await,
            Some(Class::Admin)
        );
        assert_eq!(class_of("GET", "/readyz", "/readyz").await, None);
    }

    /// Every route of the `api` listener is in a class, except the ones the document says
    /// are never shed; a route added without a thought for its class fails here.
    #[tokio::test]
    async fn every_route_is_in_a_class_but_the_documented_exceptions() {
        let table = api_table(Arc::from("token"));
        for (method, route) in table.routes() {
            let uri = route.replace("{name}", "Tux").replace("{number}", "7");
            let class = class_of(method, route, &uri).await;
            if NEVER_SHED.contains(route) {
                assert_eq!(class, None, "{method} {route} is never shed");
            } else {
                assert!(class.is_some(), "{method} {route} is in no class");
            }
        }
    }
}
