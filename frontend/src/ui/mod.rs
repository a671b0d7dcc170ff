//! The storefront at `/`: a shop page and an operator's cluster panel in plain HTML, CSS
//! and JavaScript compiled into the binary. The page speaks only the frontend's public
//! JSON API, so it shows exactly what any client sees; the one route added for it,
//! `GET /cluster/nodes`, gives each node's own status so the panel can show dead nodes.
//! The API reference (`/docs`, `/openapi.json`) is `docs.rs`, served the same way.

mod docs;
mod nodes;

use std::sync::Arc;

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use bazaar_service::RouteTable;

use crate::state::AppState;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const APP_CSS: &str = include_str!("app.css");

/// The page loads nothing from elsewhere and runs no inline script; saying so lets the
/// browser refuse anything injected into it.
const CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'",
);

/// The storefront's routes and the reference's.
pub fn table() -> RouteTable<Arc<AppState>> {
    RouteTable::new()
        .get("/", index)
        .get("/ui/app.js", app_js)
        .get("/ui/app.css", app_css)
        .get("/cluster/nodes", nodes::cluster_nodes)
        .merge(docs::table())
}

/// An embedded asset. `no-cache` makes the browser revalidate, so a rebuilt frontend's
/// page is seen on the next load rather than a stale copy mixed with new routes.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// An embedded HTML page, under the CSP.
fn page(body: &'static str) -> Response {
    let mut response = asset("text/html; charset=utf-8", body);
    response
        .headers_mut()
        .insert(HeaderName::from_static("content-security-policy"), CSP);
    response
}

async fn index() -> Response {
    page(INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page must reference exactly the assets this module serves, and only by
    /// same-origin paths (the CSP would block anything else).
    #[test]
    fn page_links_the_served_assets() {
        assert!(INDEX_HTML.contains(r#"src="/ui/app.js""#));
        assert!(INDEX_HTML.contains(r#"href="/ui/app.css""#));
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"));
        assert!(
            !INDEX_HTML.contains("<script>"),
            "inline scripts are blocked by the CSP"
        );
    }
}
