//! Wire types shared by the node, the frontend and the client: one definition of every
//! JSON body, so the three crates cannot drift apart. Compiles without the `server`
//! feature (no RocksDB, no openraft).

mod cluster;
mod envelope;
mod error;
mod order;
mod price;
mod product;
mod watch;

pub use cluster::{ClusterInfo, MemberInfo, MembershipChange, NodeRole};
pub use envelope::{Envelope, ErrorBody, ErrorEnvelope};
pub use error::{ApiError, ErrorKind, LeaderHint};
pub use order::{OrderRequest, OrderView, MAX_ORDER_QUANTITY};
pub use price::{cents_to_decimal, parse_price, Cents};
pub use product::{
    validate_product_name, ProductList, ProductPatch, ProductSpec, ProductView, RestockRequest,
    SearchResult, MAX_PRODUCT_NAME_LEN,
};
pub use watch::{ChangeEvent, WatchMessage};

/// Response header carrying the applied log index a read was served at.
pub const INDEX_HEADER: &str = "x-bazaar-index";
/// Response header naming the leader on a not-leader answer: `<id> <api address>`.
pub const LEADER_HEADER: &str = "x-bazaar-leader";
/// Request header carrying a client's idempotency key for `POST /orders`.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// Largest request body the public API accepts (bytes); larger bodies get 413.
pub const MAX_API_BODY_BYTES: usize = 64 * 1024;
/// Longest idempotency key accepted (bytes).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;
