//! `POST /orders/batch`, from a frontend to the leader: the orders that arrived while the
//! frontend's previous forward was in flight, sent as one request. Each keeps its own
//! idempotency key and gets its own answer, exactly what `POST /orders` would have said.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::order::OrderRequest;

/// Most orders in one batch: even with the longest keys and names the body stays well
/// inside [`crate::limits::MAX_API_BODY_BYTES`].
pub const MAX_ORDERS_PER_BATCH: usize = 128;

/// The route a frontend forwards batches to.
pub const ORDER_BATCH_PATH: &str = "/orders/batch";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderBatch {
    pub orders: Vec<KeyedOrder>,
}

/// One order of a batch and its idempotency key (the `Idempotency-Key` it would have
/// carried on its own).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyedOrder {
    pub key: String,
    pub order: OrderRequest,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchAnswer, BatchReply};
    use serde_json::value::RawValue;

    #[test]
    fn answers_carry_their_envelope_untouched() {
        let reply = BatchReply {
            results: vec![BatchAnswer {
                status: 200,
                index: Some(7),
                body: RawValue::from_string(r#"{"data":{"number":1}}"#.into()).unwrap(),
            }],
        };
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            text,
            r#"{"results":[{"status":200,"index":7,"body":{"data":{"number":1}}}]}"#
        );
        let back: BatchReply = serde_json::from_str(&text).unwrap();
        assert_eq!(back.results[0].body.get(), r#"{"data":{"number":1}}"#);
        assert_eq!(back.results[0].index, Some(7));
    }

    #[test]
    fn the_longest_batch_fits_the_body_limit() {
        let order = KeyedOrder {
            key: "k".repeat(crate::MAX_IDEMPOTENCY_KEY_LEN),
            order: OrderRequest {
                name: "n".repeat(crate::MAX_PRODUCT_NAME_LEN),
                quantity: crate::MAX_ORDER_QUANTITY,
            },
        };
        let batch = OrderBatch {
            orders: vec![order; MAX_ORDERS_PER_BATCH],
        };
        let size = serde_json::to_vec(&batch).unwrap().len();
        assert!(size < crate::limits::MAX_API_BODY_BYTES, "{size} bytes");
    }
}
