//! `POST /lookup`: the product lookups a frontend gathered while its earlier ones were in
//! flight, answered together at one linearizable read. Each name gets exactly what
//! `GET /products/{name}` would have answered at that read.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::Response;
use bazaar_api::{
    validate_product_name, ApiError, BatchReply, Consistency, Envelope, ProductLookup,
    MAX_LOOKUPS_PER_BATCH,
};
use bazaar_service::respond::{index_header, json, json_body};
use bazaar_service::ErrorResponse;

use super::batch_answer::{answer, error_answer};
use super::state::AppState;

pub async fn lookup_products(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ErrorResponse> {
    let lookup: ProductLookup = json_body(body)?;
    if lookup.names.is_empty() || lookup.names.len() > MAX_LOOKUPS_PER_BATCH {
        return Err(ApiError::bad_request(format!(
            "a lookup holds 1 to {MAX_LOOKUPS_PER_BATCH} names, not {}",
            lookup.names.len()
        ))
        .into());
    }
    let view = s.read_view(Consistency::Linearizable).await?;
    let index = view.applied_index();
    let results = lookup
        .names
        .iter()
        .map(|name| {
            if let Err(e) = validate_product_name(name) {
                return error_answer(&ApiError::bad_request(e), None);
            }
            match view.shop.products.get(name) {
                Some(p) => answer(200, Some(index), &Envelope { data: p.view() }),
                None => error_answer(&ApiError::unknown_product(name), None),
            }
        })
        .collect();
    // The read's index on the whole answer too, as on a single lookup.
    let mut response = json(&BatchReply { results });
    response
        .headers_mut()
        .insert(index_header(), HeaderValue::from(index));
    Ok(response)
}
