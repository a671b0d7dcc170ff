//! The node's `api` listener: the public JSON routes, admin routes behind the token, status,
//! metrics and the change feed.

mod admin;
mod alarms;
mod archive;
mod audit;
mod backup;
mod batch_answer;
mod error;
mod lookup;
mod members;
mod order_batch;
mod reads;
mod shedding;
mod state;
mod status;
mod watch;
mod watch_slots;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use axum::middleware;
use axum::Router;
use bazaar_api::{LOOKUP_PATH, MAX_API_BODY_BYTES, ORDER_BATCH_PATH};
use bazaar_service::auth::require_token;
use bazaar_service::respond::{method_not_allowed, unknown_route};
use bazaar_service::{standard_layers, standard_layers_admitting, Limits, RouteTable};

pub use backup::clear_leftovers as clear_backup_leftovers;
pub use error::{read_index_error, store_error, write_error};
pub use state::AppState;
pub use watch_slots::WatchSlots;

/// Longest any `api` route may take to produce its answer's head. Above the node's own
/// read and write deadlines, so those answer first with their own reason.
pub const API_ROUTE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest a backup may take to be dumped before its download starts.
pub const BACKUP_ROUTE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The public, status and admin routes of the `api` listener under the API route limit
/// (the admin part behind `token`). Built without a state, so a test can list them.
pub fn api_table(token: Arc<str>) -> RouteTable<Arc<AppState>> {
    let admin = RouteTable::new()
        .post("/admin/products", admin::upsert_product)
        .patch("/admin/products/{name}", admin::update_product)
        .post("/admin/restock", admin::restock)
        .post("/admin/membership/learners", members::add_learner)
        .post("/admin/membership/promote", members::promote)
        .post("/admin/membership/remove", members::remove)
        .post("/admin/leader/transfer", members::transfer)
        .post("/admin/alarms/disarm", alarms::disarm)
        .post("/admin/archive/commit", archive::commit)
        .map_router(|r| r.layer(middleware::from_fn_with_state(token, require_token)));
    RouteTable::new()
        .get("/products", reads::list_products)
        .get("/products/{name}", reads::get_product)
        .get("/search", reads::search)
        .post(LOOKUP_PATH, lookup::lookup_products)
        .post("/orders", writes::place_order)
        .post(ORDER_BATCH_PATH, order_batch::place_orders)
        .get("/orders/{number}", reads::get_order)
        .get("/cluster", status::cluster)
        .get("/cluster/members", members::list)
        .get("/livez", status::livez)
        .get("/readyz", status::readyz)
        .get("/health", status::readyz)
        .get("/version", status::version)
        .get("/metrics", status::metrics)
        .get("/openapi.json", status::openapi)
        .get("/watch", watch::watch)
        .merge(admin)
}

/// A backup or an archive streams for as long as it takes to send: its own, longer time
/// limit, behind the admin token.
pub fn backup_table(token: Arc<str>) -> RouteTable<Arc<AppState>> {
    RouteTable::new()
        .get("/admin/backup", backup::backup)
        .get("/admin/archive/stream", archive::stream)
        .map_router(|r| r.layer(middleware::from_fn_with_state(token, require_token)))
}

pub fn api_router(state: AppState) -> Router {
    // One shared state: axum clones it per request, and cloning an Arc is one atomic
    // increment instead of one per field.
    let state = Arc::new(state);
    let metrics = state.metrics.clone();
    let gate = state.admission.with_classes(shedding::classify);
    let backup = backup_table(state.admin_token.clone()).into_router();
    let router = api_table(state.admin_token.clone())
        .into_router()
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
    standard_layers_admitting(
        router,
        metrics.http(),
        Limits {
            body_bytes: MAX_API_BODY_BYTES,
            timeout: API_ROUTE_TIMEOUT,
        },
        gate,
    )
    .merge(backup)
}

#[cfg(test)]
mod tests {
    use bazaar_api::openapi::{compare_routes, node_routes, NodeListener};

    use super::*;

    /// The `api` listener serves exactly the routes the node's OpenAPI document lists for
    /// it, both ways: a route added without its description (or described and not served)
    /// fails here.
    #[test]
    fn the_api_listener_serves_exactly_the_documented_routes() {
        let token: Arc<str> = Arc::from("test-token");
        let mut served = api_table(token.clone()).routes().to_vec();
        served.extend_from_slice(backup_table(token).routes());
        if let Err(diff) = compare_routes(&served, &node_routes(NodeListener::Api)) {
            panic!("the node's api router and its OpenAPI document differ:\n{diff}");
        }
    }
}
