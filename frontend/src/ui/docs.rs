//! The API reference: `GET /openapi.json`, this frontend's OpenAPI 3.1 document (built once
//! from `bazaar_api::openapi`, the same text as the checked-in `openapi/frontend.json`), and
//! `GET /docs`, a page that renders it: HTML, CSS and JavaScript compiled into the binary,
//! which load nothing but themselves and the document (no CDN).

use std::sync::{Arc, LazyLock};

use axum::response::Response;
use bazaar_api::openapi::{file_text, frontend_document};
use bazaar_service::RouteTable;

use super::{asset, page};
use crate::state::AppState;

const DOCS_HTML: &str = include_str!("docs.html");
const DOCS_JS: &str = include_str!("docs.js");
const DOCS_CSS: &str = include_str!("docs.css");

/// Built on first use: the document never changes while the process runs.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| file_text(&frontend_document()));

pub fn table() -> RouteTable<Arc<AppState>> {
    RouteTable::new()
        .get("/docs", docs)
        .get("/ui/docs.js", docs_js)
        .get("/ui/docs.css", docs_css)
        .get("/openapi.json", openapi)
}

async fn docs() -> Response {
    page(DOCS_HTML)
}

async fn docs_js() -> Response {
    asset("text/javascript; charset=utf-8", DOCS_JS)
}

async fn docs_css() -> Response {
    asset("text/css; charset=utf-8", DOCS_CSS)
}

async fn openapi() -> Response {
    asset("application/json", DOCUMENT.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page loads only its own assets and the document, by same-origin paths.
    #[test]
    fn the_page_links_only_its_own_assets() {
        assert!(DOCS_HTML.contains(r#"src="/ui/docs.js""#));
        assert!(DOCS_HTML.contains(r#"href="/ui/docs.css""#));
        assert!(
            !DOCS_HTML.contains("<script>"),
            "inline scripts are blocked by the CSP"
        );
        for text in [DOCS_HTML, DOCS_JS, DOCS_CSS] {
            assert!(!text.contains("http://") && !text.contains("https://"));
        }
        assert!(DOCS_JS.contains(r#"fetch("/openapi.json""#));
        assert!(
            !DOCS_JS.contains("innerHTML"),
            "document text goes in as text only"
        );
    }

    #[test]
    fn the_served_document_is_the_frontends() {
        let served: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert_eq!(served["info"]["title"], "Bazaar frontend");
        assert!(served["paths"]["/docs"]["get"].is_object());
    }
}
