//! Product bodies: what the catalog shows, what an admin upserts or patches.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::price::{as_decimal, as_optional_decimal, Cents};

/// Longest product name accepted.
pub const MAX_PRODUCT_NAME_LEN: usize = 64;
const MAX_TEXT_LEN: usize = 256;

/// A product as readers see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ProductView {
    #[schema(examples("Tux"))]
    pub name: String,
    pub title: String,
    pub topic: String,
    /// In currency units, at most two decimals (integer cents inside).
    #[serde(with = "as_decimal")]
    #[schema(value_type = f64, examples(25.99))]
    pub price: Cents,
    /// Units in stock (the earlier protocol's name).
    pub quantity: u64,
    /// Log index of the product's last change.
    pub version: u64,
}

/// An admin's full description of a product (`POST /admin/products`, the catalog file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9 _.-]+$",
        examples("Tux")
    )]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 256)]
    pub title: String,
    #[schema(min_length = 1, max_length = 256, examples("toys"))]
    pub topic: String,
    /// In currency units, at most two decimals, 0 to 1000000.
    #[serde(with = "as_decimal")]
    #[schema(value_type = f64, minimum = 0, maximum = 1000000, examples(3.5))]
    pub price: Cents,
    /// Units in stock.
    pub quantity: u64,
}

impl ProductSpec {
    /// Checks the fields a decoder cannot: name charset and lengths.
    pub fn validate(&self) -> Result<(), String> {
        validate_product_name(&self.name)?;
        if self.title.len() > MAX_TEXT_LEN {
            return Err(format!("title is longer than {MAX_TEXT_LEN} bytes"));
        }
        if self.topic.is_empty() || self.topic.len() > MAX_TEXT_LEN {
            return Err(format!("topic must be 1 to {MAX_TEXT_LEN} bytes"));
        }
        Ok(())
    }
}

/// A partial update (`PATCH /admin/products/{name}`): price and/or stock.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(
        default,
        with = "as_optional_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000)]
    pub price: Option<Cents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
}

/// `POST /admin/restock`: add `amount` units to `name`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestockRequest {
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[A-Za-z0-9 _.-]+$",
        examples("Tux")
    )]
    pub name: String,
    /// Units to add; above 0.
    #[schema(minimum = 1)]
    pub amount: u64,
}

/// `GET /products`: one page of the catalog, ordered by name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ProductList {
    pub products: Vec<ProductView>,
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

/// `GET /search?topic=T`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct SearchResult {
    pub topic: String,
    pub products: Vec<ProductView>,
}

/// Names are keys: 1–64 characters of `[A-Za-z0-9 _.-]`.
pub fn validate_product_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_PRODUCT_NAME_LEN {
        return Err(format!(
            "product name must be 1 to {MAX_PRODUCT_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ' ' | '_' | '.' | '-')))
    {
        return Err(format!(
            "product name may only hold letters, digits, space, '_', '.', '-' (found {bad:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_json_shows_price_as_decimal_and_stock_as_quantity() {
        let p = ProductView {
            name: "Tux".into(),
            title: "Tux the penguin".into(),
            topic: "toys".into(),
            price: 2599,
            quantity: 100,
            version: 7,
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["price"], serde_json::json!(25.99));
        assert_eq!(json["quantity"], 100);
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_product_name("RPCs for Noobs").is_ok());
        assert!(validate_product_name("").is_err());
        assert!(validate_product_name("a/b").is_err());
        assert!(validate_product_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn patch_rejects_unknown_fields() {
        assert!(serde_json::from_str::<ProductPatch>(r#"{"stock": 3}"#).is_err());
        let p: ProductPatch = serde_json::from_str(r#"{"price": 1.5}"#).unwrap();
        assert_eq!(p.price, Some(150));
    }
}
