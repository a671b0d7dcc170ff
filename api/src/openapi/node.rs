//! A node's routes as the document describes them: the `api` listener (public reads and
//! orders, a frontend's batches, status, the change feed, the admin and operations routes
//! behind the admin token) and the `raft` listener (peer RPC behind the peer token, bincode
//! bodies). Each lists the reasons its handler can answer with.

use utoipa::openapi::server::{Server, ServerBuilder, ServerVariableBuilder};
use utoipa::openapi::ObjectBuilder;

use super::spec::{integer, text_response, Auth, HeaderDoc, Op, Param, Payload};
use crate::alarm::{DisarmAnswer, DisarmRequest, RaiseAlarmRequest, SpaceReport};
use crate::archive::{ArchiveCommitAnswer, ArchiveCommitRequest, ArchiveHeader};
use crate::backup::StreamHeader;
use crate::batch::BatchReply;
use crate::cluster::{
    ClusterInfo, MemberId, MembersView, MembershipChange, NodeLiveness, Readiness, TransferOutcome,
    TransferRequest, VersionInfo,
};
use crate::lookup::{ProductLookup, LOOKUP_PATH, MAX_LOOKUPS_PER_BATCH};
use crate::order::{OrderRequest, OrderView};
use crate::order_batch::{OrderBatch, MAX_ORDERS_PER_BATCH, ORDER_BATCH_PATH};
use crate::peer::{paths, ArchiveDigestRequest, CampaignRequest, StateCheckReport};
use crate::product::{ProductList, ProductPatch, ProductSpec, ProductView, RestockRequest};
use crate::reason::Reason;
use crate::watch::WatchMessage;
use crate::{DEFAULT_PAGE, MAX_PAGE};

/// Tags of the node's document, in the order a reader meets them.
pub const TAGS: [(&str, &str); 8] = [
    (
        "catalog",
        "Product reads: linearizable on every node unless `?consistency=stale`.",
    ),
    (
        "orders",
        "Placing orders (through the leader's log) and reading them.",
    ),
    (
        "status",
        "Health, readiness, the cluster's view, version, metrics and this document.",
    ),
    (
        "feed",
        "The change feed frontends follow to invalidate their caches.",
    ),
    (
        "frontend",
        "Batches a frontend sends: many lookups or orders in one request.",
    ),
    (
        "admin",
        "Catalog changes through the log (admin token), each leaving an audit line.",
    ),
    (
        "operations",
        "Membership, leadership, alarms, backups and archives (admin token).",
    ),
    (
        "peer",
        "The `raft` listener: Raft RPC between nodes (peer token, bincode bodies). Served on \
         the node's `raft` address, not its `api` address.",
    ),
];

/// What a linearizable read can answer besides its own refusals.
const READ: [Reason; 4] = [
    Reason::Corrupt,
    Reason::StorageFailed,
    Reason::NoLeader,
    Reason::Unavailable,
];

/// What a write through the log can answer besides its own refusals.
const WRITE: [Reason; 5] = [
    Reason::NotLeader,
    Reason::NoLeader,
    Reason::Unavailable,
    Reason::StorageFailed,
    Reason::Internal,
];

fn linearizable_read() -> &'static str {
    "Linearizable on every node: a read index from the leader (a follower asks it), then \
     this node's state once applied up to that index. `?consistency=stale` reads this \
     node's applied state as it is."
}

fn forwarded_for() -> Param {
    Param::header(
        "X-Forwarded-For",
        "The client's address as a forwarding frontend saw it, for the audit line.",
        utoipa::openapi::Object::with_type(utoipa::openapi::Type::String),
    )
}

/// The routes of a node's `api` listener.
pub fn api_ops() -> Vec<Op> {
    let mut ops = public_ops();
    ops.extend(status_ops());
    ops.extend(admin_ops());
    ops.into_iter().map(shed_answers).collect()
}

/// The node's routes that are never shed (`http::classify` in raft-node): status, the
/// change feed (its own cap), this document, and the backup and archive streams.
pub const NEVER_SHED: [&str; 9] = [
    "/livez",
    "/readyz",
    "/health",
    "/version",
    "/metrics",
    "/openapi.json",
    "/watch",
    "/admin/backup",
    "/admin/archive/stream",
];

/// Every other route may answer 503 `overloaded` at once when its class is at its bound.
fn shed_answers(op: Op) -> Op {
    if NEVER_SHED.contains(&op.path) {
        return op;
    }
    op.errors(&[Reason::Overloaded])
}

fn public_ops() -> Vec<Op> {
    vec![
        Op::get("/products", "catalog", "One page of the catalog, by name")
            .describe(linearizable_read())
            .param(Param::query(
                "offset",
                "Products to skip (0 by default).",
                integer(0),
            ))
            .param(Param::query(
                "limit",
                &format!("Page size: 1 to {MAX_PAGE} ({DEFAULT_PAGE} by default)."),
                ObjectBuilder::from(integer(1))
                    .maximum(Some(MAX_PAGE as f64))
                    .default(Some(DEFAULT_PAGE.into())),
            ))
            .param(Param::consistency())
            .ok("The page", Payload::envelope::<ProductList>())
            .ok_header(HeaderDoc::index())
            .errors(&[Reason::BadRequest])
            .errors(&READ),
        Op::get("/products/{name}", "catalog", "One product")
            .describe(linearizable_read())
            .param(Param::product_name())
            .param(Param::consistency())
            .ok(
                "The product; `quantity` is its stock",
                Payload::envelope::<ProductView>(),
            )
            .ok_header(HeaderDoc::index())
            .errors(&[Reason::BadRequest, Reason::UnknownProduct])
            .errors(&READ),
        Op::get("/search", "catalog", "The products of one topic")
            .describe(linearizable_read())
            .param(
                Param::query(
                    "topic",
                    "The topic, exactly (non-empty).",
                    ObjectBuilder::new()
                        .schema_type(utoipa::openapi::Type::String)
                        .min_length(Some(1))
                        .examples(["toys"]),
                )
                .required(),
            )
            .param(Param::consistency())
            .ok(
                "The topic's products",
                Payload::envelope::<crate::SearchResult>(),
            )
            .ok_header(HeaderDoc::index())
            .errors(&[Reason::BadRequest])
            .errors(&READ),
        Op::post("/orders", "orders", "Place an order")
            .describe(
                "Decided by the leader's log: acknowledged only once a majority has synced it \
                 and it is applied. Stock never goes below zero. Every order the log decided, \
                 placed or refused, carries `X-Bazaar-Index`, its entry's index.",
            )
            .param(Param::idempotency_key())
            .body(Payload::json::<OrderRequest>())
            .ok("The order placed", Payload::envelope::<OrderView>())
            .ok_header(HeaderDoc::index())
            .errors(&[
                Reason::UnknownProduct,
                Reason::InsufficientStock,
                Reason::Archived,
                Reason::KeyReused,
                Reason::NoSpace,
            ])
            .errors(&WRITE)
            .refusals_carry_index(),
        Op::get("/orders/{number}", "orders", "One order")
            .describe(linearizable_read())
            .also(
                "An order archived out of the hot state answers 410 `archived`, naming the \
                 archive (`bazaar archive get FILE N` reads it from the file).",
            )
            .param(Param::path(
                "number",
                "The order number (1, 2, 3, ...).",
                integer(1),
            ))
            .param(Param::consistency())
            .ok("The order", Payload::envelope::<OrderView>())
            .ok_header(HeaderDoc::index())
            .errors(&[
                Reason::BadRequest,
                Reason::UnknownOrder,
                Reason::Archived,
                Reason::Internal,
            ])
            .errors(&READ),
        Op::post(
            LOOKUP_PATH,
            "frontend",
            "Many product lookups at one read index",
        )
        .describe(&format!(
            "From a frontend to any node: 1 to {MAX_LOOKUPS_PER_BATCH} names, answered \
                 together at one linearizable read. Each item is what `GET /products/{{name}}` \
                 would have answered there (200 with the product, 400 or 404 with the error \
                 envelope), in the order asked."
        ))
        .body(Payload::json::<ProductLookup>())
        .ok(
            "One answer per name (not enveloped)",
            Payload::json::<BatchReply>(),
        )
        .ok_header(HeaderDoc::index())
        .errors(&READ),
        Op::post(
            ORDER_BATCH_PATH,
            "frontend",
            "Many orders, proposed together",
        )
        .describe(&format!(
            "From a frontend to the leader: 1 to {MAX_ORDERS_PER_BATCH} orders that \
                 arrived while its previous forward was in flight, each with its own \
                 idempotency key. Each item is what `POST /orders` would have answered it \
                 (status, envelope and its entry's index). A node that does not lead answers \
                 421 for the whole batch."
        ))
        .body(Payload::json::<OrderBatch>())
        .ok(
            "One answer per order (not enveloped)",
            Payload::json::<BatchReply>(),
        )
        .errors(&[Reason::NotLeader, Reason::NoLeader]),
        Op::get("/watch", "feed", "The change feed (NDJSON)")
            .describe(
                "One JSON line per message: `change` (the products and topics an applied \
                 entry changed), `heartbeat` every 250 ms when quiet, `reset` (drop the cache \
                 and resume from its index). A stream more than 1,000 entries behind ends \
                 with a `reset`; one asked from further back starts with one. No token, by \
                 decision: it shows no more than the public reads. At most \
                 `raft.watch_max_streams` streams at once.",
            )
            .param(Param::query(
                "from",
                "Send the changes after this log index (0 by default).",
                integer(0),
            ))
            .ok(
                "A stream of `WatchMessage` lines, open until the client or the node ends it",
                Payload::ndjson::<WatchMessage>(
                    "Newline-delimited JSON: one `WatchMessage` per line.",
                ),
            )
            .errors(&[Reason::BadRequest, Reason::Unavailable]),
    ]
}

fn status_ops() -> Vec<Op> {
    let readyz = |path| {
        Op::get(path, "status", "Whether this node can serve")
            .describe(
                "200 when this node knows a leader, a leader still has its quorum, and its \
                 applied index is within `raft.ready_max_lag_entries` of the commit index; \
                 else 503 with the reason.",
            )
            .ok("Ready", Payload::envelope::<Readiness>())
            .ok_header(HeaderDoc::index())
            .errors(&[Reason::NotReady, Reason::StorageFailed, Reason::Corrupt])
    };
    vec![
        Op::get("/cluster", "status", "This node's view of the cluster")
            .describe(
                "Members (with their versions), leader, term, indexes, the state digest, \
                 active alarms and archives.",
            )
            .ok("The view", Payload::envelope::<ClusterInfo>())
            .ok_header(HeaderDoc::index()),
        Op::get(
            "/cluster/members",
            "status",
            "The members and their progress",
        )
        .describe(
            "Every member; with match index and lag when the answering node leads \
                 (`leader_api` says where to ask otherwise).",
        )
        .ok("The members", Payload::envelope::<MembersView>())
        .ok_header(HeaderDoc {
            description: "The answering node's last log index.".into(),
            ..HeaderDoc::index()
        }),
        Op::get("/livez", "status", "Whether the process serves HTTP")
            .describe("Always 200 while the process serves.")
            .ok("Serving", Payload::envelope::<NodeLiveness>())
            .ok_header(HeaderDoc::index()),
        readyz("/readyz"),
        readyz("/health").also("An alias of `GET /readyz`."),
        Op::get("/version", "status", "This build")
            .ok("Version and commit", Payload::envelope::<VersionInfo>()),
        Op::get("/metrics", "status", "Prometheus metrics").ok(
            "Every `bazaar_node_*` series",
            Payload::bytes(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                "OpenMetrics text.",
            ),
        ),
        Op::get("/openapi.json", "status", "This document")
            .ok("The node's OpenAPI 3.1 document", Payload::document()),
    ]
}

fn admin_ops() -> Vec<Op> {
    let product_change = |op: Op| {
        op.param(Param::idempotency_key())
            .param(forwarded_for())
            .ok(
                "The product as it now is",
                Payload::envelope::<ProductView>(),
            )
            .ok_header(HeaderDoc {
                description: "The log index of the product's change.".into(),
                ..HeaderDoc::index()
            })
            .errors(&[Reason::KeyReused])
            .errors(&WRITE)
    };
    let members = |op: Op| {
        op.tag("operations")
            .param(forwarded_for())
            .ok(
                "The members after the change",
                Payload::envelope::<MembersView>(),
            )
            .ok_header(HeaderDoc {
                description: "The log index of the membership change.".into(),
                ..HeaderDoc::index()
            })
            .errors(&[
                Reason::Conflict,
                Reason::NotLeader,
                Reason::NoLeader,
                Reason::Unavailable,
            ])
    };
    vec![
        product_change(
            Op::post("/admin/products", "admin", "Create or replace a product")
                .body(Payload::json::<ProductSpec>()),
        )
        .errors(&[Reason::NoSpace]),
        product_change(
            Op::patch(
                "/admin/products/{name}",
                "admin",
                "Change a product's price or stock",
            )
            .describe("Give `price`, `quantity` or both.")
            .param(Param::product_name())
            .body(Payload::json::<ProductPatch>()),
        )
        .errors(&[Reason::UnknownProduct]),
        product_change(
            Op::post("/admin/restock", "admin", "Add units to a product's stock")
                .body(Payload::json::<RestockRequest>()),
        )
        .errors(&[Reason::UnknownProduct]),
        members(
            Op::post(
                "/admin/membership/learners",
                "operations",
                "Add a node as a learner",
            )
            .describe(
                "Through the leader. When the log since its last snapshot is long, the leader \
                 first snapshots the state as it is now, so the learner replays little log. \
                 With `promote: true` the leader makes it a voter once it is within \
                 `raft.ready_max_lag_entries` of its log (`bazaar member add --promote`).",
            )
            .body(Payload::json::<MembershipChange>()),
        ),
        members(
            Op::post(
                "/admin/membership/promote",
                "operations",
                "Make a caught-up learner a voter",
            )
            .body(Payload::json::<MemberId>()),
        )
        .errors(&[Reason::UnknownMember]),
        members(
            Op::post(
                "/admin/membership/remove",
                "operations",
                "Remove a member, voter or learner",
            )
            .describe("Refused when it would leave no voter or fewer live voters than a quorum.")
            .body(Payload::json::<MemberId>()),
        )
        .errors(&[Reason::UnknownMember]),
        Op::post(
            "/admin/leader/transfer",
            "operations",
            "Hand leadership to a voter",
        )
        .describe(
            "On the leader: pauses writes, waits until the target holds the whole log and has \
             it campaign. An empty body picks the most up-to-date voter.",
        )
        .param(forwarded_for())
        .optional_body(Payload::json::<TransferRequest>())
        .ok(
            "What the transfer did",
            Payload::envelope::<TransferOutcome>(),
        )
        .ok_header(HeaderDoc::index())
        .errors(&[
            Reason::UnknownMember,
            Reason::Conflict,
            Reason::NotLeader,
            Reason::NoLeader,
            Reason::Unavailable,
        ]),
        Op::post("/admin/alarms/disarm", "operations", "End alarms")
            .describe(
                "Through the leader's log. A `nospace` disarm first asks every voter for its \
                 space and is refused (409) while one is still short. An empty body disarms \
                 every kind.",
            )
            .param(forwarded_for())
            .optional_body(Payload::json::<DisarmRequest>())
            .ok("The alarms ended", Payload::envelope::<DisarmAnswer>())
            .ok_header(HeaderDoc::index())
            .errors(&[Reason::Conflict])
            .errors(&WRITE),
        Op::post(
            "/admin/archive/commit",
            "operations",
            "Remove archived orders from every replica",
        )
        .describe(
            "The leader checks the range and digest against its own orders (409, nothing \
             proposed, when they differ or the range is not the next one), then proposes the \
             removal; each replica applies it only if its own orders there hash to the \
             digest. A retried commit answers with `already: true`.",
        )
        .param(forwarded_for())
        .body(Payload::json::<ArchiveCommitRequest>())
        .ok(
            "The archive committed",
            Payload::envelope::<ArchiveCommitAnswer>(),
        )
        .ok_header(HeaderDoc::index())
        .errors(&[Reason::Conflict])
        .errors(&READ)
        .errors(&WRITE),
        Op::get(
            "/admin/backup",
            "operations",
            "A consistent backup, streamed",
        )
        .describe(&format!(
            "Every write acknowledged before the request (a linearizable barrier first), \
                 dumped from one RocksDB snapshot and streamed. The stream: `BAZAARSN`, a \
                 version byte, a JSON header ({}), every record, an end mark with the count \
                 and a CRC-32. `bazaar backup save` writes it to a file and checks it. Its \
                 time limit is 30 minutes.",
            schema_link::<StreamHeader>()
        ))
        .ok(
            "The backup stream",
            Payload::bytes("application/octet-stream", "The backup stream."),
        )
        .ok_header(HeaderDoc {
            description: "The applied index the backup holds.".into(),
            ..HeaderDoc::index()
        })
        .ok_header(HeaderDoc::new(
            "X-Bazaar-Digest",
            "The state digest at that index (hex), equal on every replica there.",
        ))
        .ok_header(HeaderDoc {
            integer: true,
            ..HeaderDoc::new("Content-Length", "The stream's length in bytes.")
        })
        .ok_header(HeaderDoc::new(
            "Content-Disposition",
            "`attachment; filename=\"bazaar-<index>.backup\"`",
        ))
        .errors(&READ)
        .errors(&[Reason::Internal]),
        Op::get(
            "/admin/archive/stream",
            "operations",
            "Orders after the last archive, as an archive file",
        )
        .describe(&format!(
            "Orders from the archived mark + 1 up to `upto`, read at one linearizable index \
             and streamed as an archive file: `BAZAARAR`, a version byte, a JSON header ({}), \
             the orders, a digest record, an end mark. `bazaar archive save` writes it to a \
             file and checks it before anything is committed.",
            schema_link::<ArchiveHeader>()
        ))
        .param(Param::query("upto", "The last order number to include.", integer(1)).required())
        .ok(
            "The archive stream",
            Payload::bytes("application/octet-stream", "The archive file's bytes."),
        )
        .ok_header(HeaderDoc {
            description: "The applied index the orders were read at.".into(),
            ..HeaderDoc::index()
        })
        .errors(&[Reason::BadRequest, Reason::Conflict])
        .errors(&READ),
    ]
    .into_iter()
    // Every admin route is behind the admin token (`require_token`).
    .map(|op| op.auth(Auth::Admin))
    .collect()
}

fn schema_link<T: utoipa::ToSchema>() -> String {
    format!("`{}`", T::name())
}

/// The `raft` listener's server: a node's `raft` address.
fn raft_server() -> Server {
    ServerBuilder::new()
        .url("http://{raft}")
        .description(Some(
            "A node's `raft` listener (https with a client certificate when `[tls]` is set)",
        ))
        .parameter(
            "raft",
            ServerVariableBuilder::new()
                .default_value("127.0.0.1:7101")
                .description(Some("The node's `raft` address from the cluster file")),
        )
        .build()
}

/// The routes of a node's `raft` listener.
pub fn raft_ops() -> Vec<Op> {
    let peer = |path: &'static str, summary: &str, decodes_body: bool| {
        let op = Op::post(path, "peer", summary)
            .auth(Auth::Peer)
            .errors(&[Reason::BodyTooLarge])
            .servers(vec![raft_server()])
            .other(
                500,
                text_response("The answer could not be encoded (plain text)."),
            );
        if decodes_body {
            op.other(
                400,
                text_response("`undecodable body: ...` (plain text, not the envelope)."),
            )
        } else {
            op
        }
    };
    vec![
        peer(paths::APPEND, "AppendEntries (openraft)", true)
            .body(Payload::bincode_opaque("openraft's `AppendEntriesRequest`"))
            .ok(
                "openraft's answer",
                Payload::bincode_opaque("`Result<AppendEntriesResponse, RaftError>`"),
            ),
        peer(paths::VOTE, "RequestVote (openraft)", true)
            .body(Payload::bincode_opaque("openraft's `VoteRequest`"))
            .ok(
                "openraft's answer",
                Payload::bincode_opaque("`Result<VoteResponse, RaftError>`"),
            ),
        peer(paths::SNAPSHOT, "One chunk of a snapshot (openraft)", true)
            .body(Payload::bincode_opaque(
                "openraft's `InstallSnapshotRequest` (chunks of up to 3 MiB)",
            ))
            .ok(
                "openraft's answer",
                Payload::bincode_opaque(
                    "`Result<InstallSnapshotResponse, RaftError<InstallSnapshotError>>`",
                ),
            ),
        peer(paths::READ_INDEX, "A read index from the leader", false)
            .describe(
                "A follower serving a linearizable read asks the leader; one leadership \
                 confirmation serves every read waiting when it was issued.",
            )
            .ok(
                "The read index, or why not",
                Payload::bincode_opaque(
                    "`Result<u64, ReadIndexError>` (`NotLeader(Option<LeaderHint>)`, \
                     `Unavailable(String)` or `Overloaded(usize)`)",
                ),
            ),
        peer(paths::CAMPAIGN, "Campaign: the leader hands over", true)
            .describe("The target campaigns only while it still follows that leader in that term.")
            .body(Payload::bincode::<CampaignRequest>("The request"))
            .ok(
                "Whether it started its campaign",
                Payload::bincode_opaque("`Result<(), String>`"),
            ),
        peer(paths::ALARM, "Raise an alarm through the leader", true)
            .describe("A member short of space (`nospace`), or named `corrupt`, asks the leader.")
            .body(Payload::bincode::<RaiseAlarmRequest>("The alarm"))
            .ok(
                "Whether the leader raised it",
                Payload::bincode_opaque("`Result<(), String>`"),
            ),
        peer(paths::SPACE, "This member's disk figures", false)
            .describe("A leader asks every voter before it disarms `nospace`.")
            .ok(
                "The figures",
                Payload::bincode::<SpaceReport>("`Result<SpaceReport, String>`"),
            ),
        peer(
            paths::STATE_CHECK,
            "This member's state at a check entry",
            true,
        )
        .describe(
            "The leader's periodic consistency check: digest, content sum and disk scan at \
             the `CheckState` entry's index (none before this member applied it).",
        )
        .body(Payload::bincode_opaque("The entry's index, a `u64`"))
        .ok(
            "The report",
            Payload::bincode::<StateCheckReport>("`Result<Option<StateCheckReport>, String>`"),
        ),
        peer(
            paths::ARCHIVE_DIGEST,
            "This member's digest of a range of orders",
            true,
        )
        .describe(
            "The leader asks before it proposes an archive commit of the range: the member \
             reads its own copy at low priority and keeps the digest, so applying the commit \
             need not read the range again. Refused while the member has not applied every \
             order of the range.",
        )
        .body(Payload::bincode::<ArchiveDigestRequest>("The range"))
        .ok(
            "The digest (16 hex digits), or why there is none",
            Payload::bincode_opaque("`Result<String, String>`"),
        ),
    ]
}
