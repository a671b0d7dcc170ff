//! `RouteTable`: a router built route by route that keeps the list of what it serves,
//! each `(method, path)` as added, so a test can hold a process's routes against its
//! OpenAPI document (`bazaar_api::openapi::compare_routes`) without starting it. A route
//! added to the router is in the list by construction.

use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;

/// `(METHOD, path)`: `("GET", "/products/{name}")`, the path in axum's syntax (OpenAPI's).
pub type Route = (&'static str, &'static str);

/// A router and the routes it serves.
pub struct RouteTable<S = ()> {
    router: Router<S>,
    routes: Vec<Route>,
}

impl<S> Default for RouteTable<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self {
            router: Router::new(),
            routes: Vec::new(),
        }
    }
}

impl<S> RouteTable<S>
where
    S: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.on("GET", path, routing::get(handler))
    }

    pub fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.on("POST", path, routing::post(handler))
    }

    pub fn patch<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.on("PATCH", path, routing::patch(handler))
    }

    fn on(mut self, method: &'static str, path: &'static str, route: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, route);
        self.routes.push((method, path));
        self
    }

    /// Both tables' routes (axum panics on a route served twice, as `Router::merge` does).
    pub fn merge(mut self, other: RouteTable<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }

    /// Changes the router without adding a route: a layer, a guard.
    pub fn map_router(mut self, change: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = change(self.router);
        self
    }

    /// Every route served, in the order added.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok() -> &'static str {
        "ok"
    }

    #[test]
    fn the_table_lists_every_route_it_serves() {
        let guarded = RouteTable::<()>::new()
            .post("/admin/x", ok)
            .map_router(|r| {
                r.layer(axum::middleware::from_fn(
                    |req, next: axum::middleware::Next| next.run(req),
                ))
            });
        let table = RouteTable::new()
            .get("/a", ok)
            .post("/a", ok)
            .patch("/b/{name}", ok)
            .merge(guarded);
        assert_eq!(
            table.routes(),
            &[
                ("GET", "/a"),
                ("POST", "/a"),
                ("PATCH", "/b/{name}"),
                ("POST", "/admin/x")
            ]
        );
        let _router: Router = table.into_router();
    }
}
