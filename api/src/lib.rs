//! Bazaar's contract: every type that crosses a process boundary (the public JSON API, the
//! `/cluster` views of node and frontend, the change feed, Bazaar's own peer RPC bodies),
//! the error envelope, the one Idempotency-Key rule, the leader hint, the limits and the
//! cluster file, and the OpenAPI 3.1 documents of node and frontend built from them
//! (`openapi`). No runtime lives here (no tokio, axum, openraft or RocksDB): the frontend
//! and the client depend on this crate and never on the node.

mod alarm;
pub mod archive;
pub mod backup;
mod batch;
pub mod cluster;
pub mod codec;
pub mod config;
mod envelope;
mod error;
mod idempotency;
mod leader;
mod limits;
mod lookup;
pub mod openapi;
mod order;
mod order_batch;
pub mod peer;
mod price;
mod product;
mod read;
mod reason;
mod watch;

pub use alarm::{
    AlarmKind, AlarmView, DisarmAnswer, DisarmRequest, RaiseAlarmRequest, SpaceReport,
};
pub use batch::{BatchAnswer, BatchReply};
pub use cluster::{
    ClusterAnswer, ClusterInfo, FeedPhase, FeedStatus, FrontendLiveness, FrontendStatus, MemberId,
    MemberInfo, MemberStatus, MembersView, MembershipChange, NodeLiveness, NodeProbe, NodeRole,
    NodesOverview, ProbedRole, Readiness, TransferOutcome, TransferRequest, VersionInfo,
    FEATURE_ARCHIVE,
};
pub use envelope::{Envelope, ErrorBody, ErrorEnvelope};
pub use error::ApiError;
pub use idempotency::{IdempotencyKey, KeyError, MAX_IDEMPOTENCY_KEY_LEN};
pub use leader::LeaderHint;
pub use limits::{DEFAULT_PAGE, MAX_API_BODY_BYTES, MAX_PAGE};
pub use lookup::{ProductLookup, LOOKUP_PATH, MAX_LOOKUPS_PER_BATCH};
pub use order::{OrderRecord, OrderRequest, OrderView, MAX_ORDER_QUANTITY};
pub use order_batch::{KeyedOrder, OrderBatch, MAX_ORDERS_PER_BATCH, ORDER_BATCH_PATH};
pub use price::{cents_to_decimal, parse_price, Cents};
pub use product::{
    validate_product_name, ProductList, ProductPatch, ProductSpec, ProductView, RestockRequest,
    SearchResult, MAX_PRODUCT_NAME_LEN,
};
pub use read::Consistency;
pub use reason::Reason;
pub use watch::{ArchivedRange, ChangeEvent, WatchMessage};

/// Response header carrying the applied log index a read was served at.
pub const INDEX_HEADER: &str = "x-bazaar-index";
/// Response header naming the leader on a not-leader answer: `<id> <api address>`.
pub const LEADER_HEADER: &str = "x-bazaar-leader";
/// On a backup download: the state digest at the backup's index.
pub const DIGEST_HEADER: &str = "x-bazaar-digest";
/// Request header carrying a client's idempotency key for writes.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Request and response header carrying the request id, logged on every hop.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
