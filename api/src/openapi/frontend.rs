//! A frontend's routes as the document describes them: the public API passed to the nodes
//! (each derived from the node's own route, less the answers the frontend retries away and
//! plus its own 503), the admin routes it forwards when `frontend.admin` is on, its own
//! status routes, the storefront and this reference.

use super::node;
use super::spec::{HeaderDoc, Method, Op, Payload};
use crate::cluster::{ClusterAnswer, FrontendLiveness, NodesOverview, Readiness, VersionInfo};
use crate::reason::Reason;

/// Tags of the frontend's document.
pub const TAGS: [(&str, &str); 6] = [
    (
        "catalog",
        "Product reads, from the cache while its change feed is fresh, else from a node.",
    ),
    (
        "orders",
        "Orders, sent to the leader with one idempotency key for every retry.",
    ),
    (
        "status",
        "Health, readiness, the cluster's view with this frontend's cache and feed.",
    ),
    (
        "admin",
        "Catalog admin routes forwarded to the leader, only with `frontend.admin = true`.",
    ),
    (
        "storefront",
        "The shop page and its operator's cluster panel.",
    ),
    ("reference", "This document and the page that renders it."),
];

/// The node route `method path`, as the frontend passes it on.
fn from_node(method: Method, path: &'static str) -> Op {
    let op = node::api_ops()
        .into_iter()
        .find(|op| op.method == method && op.path == path)
        .unwrap_or_else(|| panic!("the node has no route {} {path}", method.as_str()));
    // A node's 5xx (but 507) and 421 answers are retried, on other nodes or the leader
    // named, until the request's deadline; then the frontend answers 503 itself.
    op.retain_errors(|r| (r.status() < 500 || r.status() == 507) && r != Reason::NotLeader)
        .errors(&[Reason::Unavailable, Reason::Timeout])
}

const PASSED_ON: &str = "Through a frontend: sent to a node (round robin, skipping failed \
    ones) and its answer passed on as it is. A node's 5xx answers are retried on the others \
    until `frontend.request_deadline_ms`; then 503 `unavailable` (sooner, after \
    `frontend.no_leader_grace_ms`, when no node shows a leader).";

fn x_cache() -> HeaderDoc {
    HeaderDoc::new(
        "X-Cache",
        "Which path answered: `hit` (the cache), `miss` (a node, the answer offered to the \
         cache) or `bypass` (a node: the cache is off or its feed is not fresh). Absent on a \
         read with a query, which always goes to a node.",
    )
}

fn cached_read(op: Op) -> Op {
    op.also(
        "Through a frontend, without a query: answered from the cache while its change feed \
         is fresh, else by a node (one read per key at a time). The frontend never answers \
         a product as of an older index than one it has already answered or acknowledged. \
         With a query (`?consistency=`) the read goes to a node as it is.",
    )
    .also(PASSED_ON)
    .ok_header(x_cache())
}

fn admin(op: Op) -> Op {
    op.tag("admin")
        .without_param("X-Forwarded-For")
        .errors(&[Reason::UnknownRoute])
        .also(
            "Through a frontend: forwarded to the leader only with `frontend.admin = true` \
             (else 404 `unknown_route`, as any route this frontend does not serve), with the \
             caller's `Authorization`, an `Idempotency-Key` (the caller's or a fresh one, the \
             same on every retry) and the caller's address in `X-Forwarded-For`. A product \
             change is invalidated in the cache before the answer.",
        )
}

fn asset(path: &'static str, tag: &'static str, summary: &str, content_type: &'static str) -> Op {
    Op::get(path, tag, summary)
        .ok(
            "The file, from the binary",
            Payload::bytes(content_type, "An embedded file."),
        )
        .ok_header(HeaderDoc::new(
            "Cache-Control",
            "`no-cache`: revalidated, so a new build's page is seen on the next load.",
        ))
        .retain_errors(|_| false)
}

/// Every route of a frontend.
pub fn ops() -> Vec<Op> {
    let readyz = |path| {
        Op::get(path, "status", "Whether this frontend can serve")
            .describe(
                "Asks every node (each within the probe timeout): 200 when some node answers \
                 and a leader is known, else 503 `not_ready` with the reason.",
            )
            .ok("Ready", Payload::envelope::<Readiness>())
            .errors(&[Reason::NotReady])
    };
    let page = |op: Op| {
        op.ok_header(HeaderDoc::new(
            "Content-Security-Policy",
            "Same-origin only, no inline script.",
        ))
    };
    let ops = vec![
        from_node(Method::Get, "/products").also(PASSED_ON),
        cached_read(from_node(Method::Get, "/products/{name}")),
        cached_read(from_node(Method::Get, "/search")),
        from_node(Method::Post, "/orders")
            .also(
                "Through a frontend: the body and key are checked here (400 without asking the \
                 cluster), then the order goes to the leader, with others that arrived \
                 meanwhile in one `POST /orders/batch`, under one idempotency key for every \
                 retry. A leader that moved (421) or could not confirm in time (503) is \
                 retried with the same key until the deadline. The cached product and its \
                 topic are invalidated before the answer.",
            )
            .ok_header(HeaderDoc::new(
                "Idempotency-Key",
                "The key the order went with (the caller's, or a fresh one), also on a 503: \
                 retry with it and the order is never placed twice.",
            )),
        from_node(Method::Get, "/orders/{number}").also(PASSED_ON),
        admin(from_node(Method::Post, "/admin/products")),
        admin(from_node(Method::Patch, "/admin/products/{name}")),
        admin(from_node(Method::Post, "/admin/restock")),
        admin(from_node(Method::Post, "/admin/alarms/disarm")),
        admin(from_node(Method::Post, "/admin/archive/commit")),
        Op::get("/livez", "status", "Whether the process serves HTTP")
            .describe("Always 200 while the process serves; says whether the cache serves.")
            .ok("Serving", Payload::envelope::<FrontendLiveness>()),
        readyz("/readyz"),
        readyz("/health").also("An alias of `GET /readyz`."),
        Op::get("/version", "status", "This build")
            .ok("Version and commit", Payload::envelope::<VersionInfo>()),
        Op::get(
            "/cluster",
            "status",
            "A node's view of the cluster, and this frontend's",
        )
        .describe(
            "One node's `GET /cluster` (round robin), with this frontend's cache, change \
                 feed and leader hint under `frontend`.",
        )
        .ok("The view", Payload::envelope::<ClusterAnswer>())
        .errors(&[Reason::Unavailable]),
        Op::get("/metrics", "status", "Prometheus metrics").ok(
            "Every `bazaar_frontend_*` series",
            Payload::bytes(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                "OpenMetrics text.",
            ),
        ),
        Op::get("/cluster/nodes", "storefront", "Every node's own status")
            .describe(
                "The panel's source: every configured node's `GET /cluster`, asked \
                 concurrently with a 500 ms timeout (a node that does not answer shows as \
                 `down`), with the leader at the highest term and this frontend's status.",
            )
            .ok("Every node", Payload::envelope::<NodesOverview>())
            .ok_header(HeaderDoc::new(
                "Cache-Control",
                "`no-store`: a status panel is never shown a remembered answer.",
            )),
        page(asset(
            "/",
            "storefront",
            "The storefront page",
            "text/html; charset=utf-8",
        )),
        asset(
            "/ui/app.js",
            "storefront",
            "The storefront's script",
            "text/javascript; charset=utf-8",
        ),
        asset(
            "/ui/app.css",
            "storefront",
            "The storefront's style sheet",
            "text/css; charset=utf-8",
        ),
        page(asset(
            "/docs",
            "reference",
            "This reference, rendered",
            "text/html; charset=utf-8",
        )),
        asset(
            "/ui/docs.js",
            "reference",
            "The reference page's script",
            "text/javascript; charset=utf-8",
        ),
        asset(
            "/ui/docs.css",
            "reference",
            "The reference page's style sheet",
            "text/css; charset=utf-8",
        ),
        Op::get("/openapi.json", "reference", "This document")
            .ok("The frontend's OpenAPI 3.1 document", Payload::document())
            .retain_errors(|_| false),
    ];
    ops.into_iter().map(shed_answers).collect()
}

/// Health, readiness, version and metrics are never shed (`routes::classify` in the
/// frontend); every other route may answer 503 `overloaded` at once when its class is at
/// its bound, and 429 `rate_limited` when the per-client rate is on.
pub const NEVER_SHED: [&str; 5] = ["/livez", "/readyz", "/health", "/version", "/metrics"];

fn shed_answers(op: Op) -> Op {
    if NEVER_SHED.contains(&op.path) {
        return op;
    }
    op.errors(&[Reason::Overloaded, Reason::RateLimited])
}
