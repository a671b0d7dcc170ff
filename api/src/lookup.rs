//! `POST /lookup`, from a frontend to any node: the product lookups that arrived while
//! the frontend's earlier ones were in flight, answered together at one linearizable read
//! (a [`crate::BatchReply`]). Each name gets what `GET /products/{name}` would have answered.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most names in one lookup: even the longest names keep the body well inside
/// [`crate::limits::MAX_API_BODY_BYTES`].
pub const MAX_LOOKUPS_PER_BATCH: usize = 128;

/// The route a frontend sends lookups to.
pub const LOOKUP_PATH: &str = "/lookup";

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductLookup {
    pub names: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_lookup_fits_the_body_limit() {
        let lookup = ProductLookup {
            names: vec!["n".repeat(crate::MAX_PRODUCT_NAME_LEN); MAX_LOOKUPS_PER_BATCH],
        };
        let size = serde_json::to_vec(&lookup).unwrap().len();
        assert!(size < crate::limits::MAX_API_BODY_BYTES, "{size} bytes");
    }
}
