//! The node's `api` listener: the public JSON routes, admin routes behind the token, status,
//! metrics and the change feed.

mod admin;
mod alarms;
mod audit;
mod backup;
mod batch_answer;
mod error;
mod lookup;
mod members;
mod order_batch;
mod reads;
mod state;
mod status;
mod watch;
mod watch_slots;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use axum::middleware;
use axum::routing::{get, patch, post};
use axum::Router;
use bazaar_api::{LOOKUP_PATH, MAX_API_BODY_BYTES, ORDER_BATCH_PATH};
use bazaar_service::auth::require_token;
use bazaar_service::respond::{method_not_allowed, unknown_route};
use bazaar_service::{standard_layers, Limits};

pub use backup::clear_leftovers as clear_backup_leftovers;
pub use error::{read_index_error, store_error, write_error};
pub use state::AppState;
pub use watch_slots::WatchSlots;

/// Longest any `api` route may take to produce its answer's head. Above the node's own
/// read and write deadlines, so those answer first with their own reason.
pub const API_ROUTE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a backup may take to be dumped before its download starts.
pub const BACKUP_ROUTE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub fn api_router(state: AppState) -> Router {
    // One shared state: axum clones it per request, and cloning an Arc is one atomic
    // increment instead of one per field.
    let state = Arc::new(state);
    let metrics = state.metrics.clone();
    let admin = Router::new()
        .route("/admin/products", post(admin::upsert_product))
        .route("/admin/products/{name}", patch(admin::update_product))
        .route("/admin/restock", post(admin::restock))
        .route("/admin/membership/learners", post(members::add_learner))
        .route("/admin/membership/promote", post(members::promote))
        .route("/admin/membership/remove", post(members::remove))
        .route("/admin/leader/transfer", post(members::transfer))
        .route("/admin/alarms/disarm", post(alarms::disarm))
        .layer(middleware::from_fn_with_state(
            state.admin_token.clone(),
            require_token,
        ));
    // A backup streams for as long as the state takes to send: its own, longer time limit.
    let backup = Router::new()
        .route("/admin/backup", get(backup::backup))
        .layer(middleware::from_fn_with_state(
            state.admin_token.clone(),
            require_token,
        ));
    let router = Router::new()
        .route("/products", get(reads::list_products))
        .route("/products/{name}", get(reads::get_product))
        .route("/search", get(reads::search))
        .route(LOOKUP_PATH, post(lookup::lookup_products))
        .route("/orders", post(writes::place_order))
        .route(ORDER_BATCH_PATH, post(order_batch::place_orders))
        .route("/orders/{number}", get(reads::get_order))
        .route("/cluster", get(status::cluster))
        .route("/cluster/members", get(members::list))
        .route("/livez", get(status::livez))
        .route("/readyz", get(status::readyz))
        .route("/health", get(status::readyz))
        .route("/version", get(status::version))
        .route("/metrics", get(status::metrics))
        .route("/watch", get(watch::watch))
        .merge(admin)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    let backup = standard_layers(
        backup.with_state(state),
        metrics.http(),
        Limits {
            body_bytes: MAX_API_BODY_BYTES,
            timeout: BACKUP_ROUTE_TIMEOUT,
        },
    );
    standard_layers(
        router,
        metrics.http(),
        Limits {
            body_bytes: MAX_API_BODY_BYTES,
            timeout: API_ROUTE_TIMEOUT,
        },
    )
    .merge(backup)
}
