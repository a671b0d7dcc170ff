//! Answers to a batch (orders from `POST /orders/batch`, lookups from `POST /lookup`): one
//! per item, in the batch's order, each what the item's own request would have answered.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

/// The answers, in the order of the batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchReply {
    pub results: Vec<BatchAnswer>,
}

/// One item's answer: the status and body its single request (`POST /orders`,
/// `GET /products/{name}`) would have had, and the log index it reflects (its
/// `X-Bazaar-Index`): an order's entry, placed or refused, or the read's applied index;
/// none when it never reached the log.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchAnswer {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The envelope, `{"data": ...}` or `{"error": ...}`, passed on as it is.
    #[schema(value_type = Object)]
    pub body: Box<RawValue>,
}
