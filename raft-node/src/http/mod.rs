//! The node's `api` listener: the public JSON routes, admin routes behind the token, status,
//! metrics and the change feed.

mod admin;
pub mod auth;
mod error;
mod reads;
mod respond;
mod state;
mod status;
mod watch;
mod writes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, patch, post};
use axum::Router;

pub use error::HttpError;
pub use state::AppState;

use crate::api::MAX_API_BODY_BYTES;
use crate::metrics::track_requests;

/// Every route the `api` listener serves, as metrics label them.
pub const API_ROUTES: &[&str] = &[
    "/products",
    "/products/:name",
    "/search",
    "/orders",
    "/orders/:number",
    "/cluster",
    "/health",
    "/metrics",
    "/watch",
    "/admin/products",
    "/admin/products/:name",
    "/admin/restock",
    "/admin/membership/learners",
    "/admin/membership/voters",
];

pub fn api_router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/admin/products", post(admin::upsert_product))
        .route("/admin/products/:name", patch(admin::update_product))
        .route("/admin/restock", post(admin::restock))
        .route("/admin/membership/learners", post(admin::add_learner))
        .route("/admin/membership/voters", post(admin::change_voters))
        .layer(middleware::from_fn_with_state(
            state.token.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/products", get(reads::list_products))
        .route("/products/:name", get(reads::get_product))
        .route("/search", get(reads::search))
        .route("/orders", post(writes::place_order))
        .route("/orders/:number", get(reads::get_order))
        .route("/cluster", get(status::cluster))
        .route("/health", get(status::health))
        .route("/metrics", get(status::metrics))
        .route("/watch", get(watch::watch))
        .merge(admin)
        .fallback(respond::no_route)
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            track_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
        // One shared state: axum clones it per request, and cloning an Arc is one atomic
        // increment instead of one per field.
        .with_state(Arc::new(state))
}
