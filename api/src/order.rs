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
