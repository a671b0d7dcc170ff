//! Order bodies: the request a shopper sends and the order the store keeps.

use serde::{Deserialize, Serialize};

use super::price::{as_decimal, Cents};

/// Most units one order may ask for.
pub const MAX_ORDER_QUANTITY: u64 = 10_000;

/// `POST /orders` body: `{"name": "Tux", "quantity": 2}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderRequest {
    pub name: String,
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderView {
    /// Dense order number: 1, 2, 3, ...
    pub number: u64,
    /// The same number under the name the toy-store clients read.
    pub order_number: u64,
    /// The product ordered.
    pub name: String,
    pub quantity: u64,
    #[serde(with = "as_decimal")]
    pub unit_price: Cents,
    #[serde(with = "as_decimal")]
    pub total: Cents,
    /// Log index of the entry that created the order.
    pub index: u64,
}
