//! The public HTTP API: the node's read and write routes, plus the frontend's own
//! health, cluster and metrics routes, with an explicit body limit.

mod admin;
mod catalog;
mod orders;
pub(crate) mod status;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use raft_node::api::MAX_API_BODY_BYTES;

use crate::respond;
use crate::state::AppState;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/products", get(catalog::list_products))
        .route("/products/:name", get(catalog::get_product))
        .route("/search", get(catalog::search))
        .route("/orders", post(orders::place_order))
        .route("/orders/:number", get(orders::get_order))
        .route("/admin/*rest", any(admin::admin))
        .route("/health", get(status::health))
        .route("/cluster", get(status::cluster))
        .route("/metrics", get(status::metrics))
        .merge(crate::ui::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> Response {
    respond::status_error(
        StatusCode::NOT_FOUND,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    respond::status_error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
