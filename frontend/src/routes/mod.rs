//! The public HTTP API: the node's read and write routes, plus the frontend's own
//! health, cluster and metrics routes, under the standard layers.

mod admin;
mod catalog;
mod orders;
mod status;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use bazaar_api::MAX_API_BODY_BYTES;
use bazaar_service::respond::{method_not_allowed, unknown_route};
use bazaar_service::{standard_layers, Limits};

use crate::state::AppState;

/// Slack above the request deadline before a route is cut off: the backend answers 503 on
/// its own at the deadline, so the route limit only catches what escapes it.
const ROUTE_SLACK: Duration = Duration::from_secs(2);

pub fn router(state: Arc<AppState>, request_deadline: Duration) -> Router {
    let metrics = state.registry.clone();
    let router = Router::new()
        .route("/products", get(catalog::list_products))
        .route("/products/{name}", get(catalog::get_product))
        .route("/search", get(catalog::search))
        .route("/orders", post(orders::place_order))
        .route("/orders/{number}", get(orders::get_order))
        .route("/admin/{*rest}", any(admin::admin))
        .route("/livez", get(status::livez))
        .route("/readyz", get(status::readyz))
        .route("/health", get(status::readyz))
        .route("/version", get(status::version))
        .route("/cluster", get(status::cluster))
        .route("/metrics", get(status::metrics))
        .merge(crate::ui::router())
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    standard_layers(
        router,
        metrics.http(),
        Limits {
            body_bytes: MAX_API_BODY_BYTES,
            timeout: request_deadline + ROUTE_SLACK,
        },
    )
}
