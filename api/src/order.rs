//! Order bodies: the request a shopper sends and the order the store keeps.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::price::{as_decimal, Cents};

/// Most units one order may ask for.
pub const MAX_ORDER_QUANTITY: u64 = 10_000;

/// `POST /orders` body: `{"name": "Tux", "quantity": 2}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct OrderRequest {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9 _.-]+$",
        examples("Tux")
    )]
    pub name: String,
    #[schema(minimum = 1, maximum = 10000, examples(2))]
    pub quantity: u64,
}

impl OrderRequest {
    pub fn validate(&self) -> Result<(), String> {
        super::product::validate_product_name(&self.name)?;
        if self.quantity == 0 || self.quantity > MAX_ORDER_QUANTITY {
            return Err(format!(
                "quantity must be between 1 and {MAX_ORDER_QUANTITY}, got {}",
                self.quantity
            ));
        }
        Ok(())
    }
}

/// An order as the store keeps it (`POST /orders` answer and `GET /orders/{n}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct OrderView {
    /// Dense order number: 1, 2, 3, ...
    pub number: u64,
    /// The same number under the name the toy-store clients read.
    pub order_number: u64,
    /// The product ordered.
    pub name: String,
    pub quantity: u64,
    #[serde(with = "as_decimal")]
    #[schema(value_type = f64, examples(25.99))]
    pub unit_price: Cents,
    #[serde(with = "as_decimal")]
    #[schema(value_type = f64, examples(51.98))]
    pub total: Cents,
    /// Log index of the entry that created the order.
    pub index: u64,
}

/// An order as the node stores it (in its state, its snapshots and backups, and archive
/// files; the node's codec writes a version byte, then bincode). Readers of an archive
/// decode it offline with `OrderRecord::decode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub number: u64,
    pub product: String,
    pub quantity: u64,
    pub unit_price: Cents,
    pub total: Cents,
    pub index: u64,
    /// The idempotency key (or the id the node gave a keyless request) that placed it.
    pub request_id: String,
}

impl OrderRecord {
    pub fn view(&self) -> OrderView {
        OrderView {
            number: self.number,
            order_number: self.number,
            name: self.product.clone(),
            quantity: self.quantity,
            unit_price: self.unit_price,
            total: self.total,
            index: self.index,
        }
    }
}
