//! Read routes: products, search, orders. Linearizable on any node unless
//! `?consistency=stale`.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use bazaar_api::{
    validate_product_name, ApiError, Consistency, ProductList, SearchResult, DEFAULT_PAGE, MAX_PAGE,
};
use bazaar_service::respond::{ok, path, query};
use bazaar_service::ErrorResponse;
use serde::Deserialize;

use super::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
    #[serde(default)]
    consistency: Consistency,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    #[serde(default)]
    consistency: Consistency,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    topic: Option<String>,
    #[serde(default)]
    consistency: Consistency,
}

pub async fn list_products(
    State(s): State<Arc<AppState>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ErrorResponse> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(
            ApiError::bad_request(format!("limit must be between 1 and {MAX_PAGE}")).into(),
        );
    }
    let view = s.read_view(q.consistency).await?;
    let products = &view.shop.products;
    let list = ProductList {
        products: products
            .values()
            .skip(q.offset)
            .take(limit)
            .map(|p| p.view())
            .collect(),
        total: products.len(),
        offset: q.offset,
        limit,
    };
    Ok(ok(&list, view.applied_index()))
}

pub async fn get_product(
    State(s): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Response, ErrorResponse> {
    let name = path(name)?;
    let q = query(q)?;
    validate_product_name(&name).map_err(ApiError::bad_request)?;
    let view = s.read_view(q.consistency).await?;
    match view.shop.products.get(&name) {
        Some(p) => Ok(ok(&p.view(), view.applied_index())),
        None => Err(ApiError::unknown_product(&name).into()),
    }
}

pub async fn search(
    State(s): State<Arc<AppState>>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, ErrorResponse> {
    let q = query(q)?;
    let topic = match q.topic {
        Some(t) if !t.is_empty() => t,
        _ => return Err(ApiError::bad_request("query parameter `topic` is required").into()),
    };
    let view = s.read_view(q.consistency).await?;
    let products = view
        .shop
        .products
        .values()
        .filter(|p| p.topic == topic)
        .map(|p| p.view())
        .collect();
    Ok(ok(&SearchResult { topic, products }, view.applied_index()))
}

pub async fn get_order(
    State(s): State<Arc<AppState>>,
    number: Result<Path<String>, PathRejection>,
    q: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Response, ErrorResponse> {
    let raw = path(number)?;
    let q = query(q)?;
    let number: u64 = raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "order number must be a positive integer, got {raw:?}"
        ))
    })?;
    let view = s.read_view(q.consistency).await?;
    // Orders are numbered densely: one at or past the view's next number does not exist
    // yet at the index this read is served at, even if the database already has it.
    if number == 0 || number >= view.shop.next_order {
        return Err(ApiError::unknown_order(number).into());
    }
    if let Some(archive) = view.shop.archives.holding(number) {
        return Err(ApiError::archived(number, archive.view()).into());
    }
    match s.reader.order(&view, number).await? {
        Some(order) => Ok(ok(&order.view(), view.applied_index())),
        // Archived after `view` was taken: the database no longer holds it.
        None => match s.reader.current().shop.archives.holding(number) {
            Some(archive) => Err(ApiError::archived(number, archive.view()).into()),
            None => Err(ApiError::unknown_order(number).into()),
        },
    }
}
