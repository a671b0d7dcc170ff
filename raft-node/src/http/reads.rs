//! Read routes: products, search, orders. Linearizable on any node unless
//! `?consistency=stale`.

use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::error::HttpError;
use super::respond::ok;
use super::state::{AppState, Consistency};
use crate::api::{validate_product_name, ApiError, ProductList, SearchResult};

/// Default and largest page of `GET /products`.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

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

pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, HttpError> {
    q.map(|Query(t)| t)
        .map_err(|e| HttpError(ApiError::bad_request(e.body_text())))
}

pub fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, HttpError> {
    p.map(|Path(t)| t)
        .map_err(|e| HttpError(ApiError::bad_request(e.body_text())))
}

pub async fn list_products(
    State(s): State<Arc<AppState>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(
            ApiError::bad_request(format!("limit must be between 1 and {MAX_PAGE}")).into(),
        );
    }
    s.read_barrier(q.consistency).await?;
    let (list, index) = s.reader.with(|st| {
        let products = st
            .shop
            .products
            .values()
            .skip(q.offset)
            .take(limit)
            .map(|p| p.view())
            .collect();
        let list = ProductList {
            products,
            total: st.shop.products.len(),
            offset: q.offset,
            limit,
        };
        (list, st.applied_index())
    });
    Ok(ok(list, index))
}

pub async fn get_product(
    State(s): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    q: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let name = path(name)?;
    let q = query(q)?;
    validate_product_name(&name).map_err(ApiError::bad_request)?;
    s.read_barrier(q.consistency).await?;
    let (product, index) = s.reader.with(|st| {
        (
            st.shop.products.get(&name).map(|p| p.view()),
            st.applied_index(),
        )
    });
    match product {
        Some(p) => Ok(ok(p, index)),
        None => Err(ApiError::not_found(format!("unknown product {name:?}")).into()),
    }
}

pub async fn search(
    State(s): State<Arc<AppState>>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let q = query(q)?;
    let topic = match q.topic {
        Some(t) if !t.is_empty() => t,
        _ => return Err(ApiError::bad_request("query parameter `topic` is required").into()),
    };
    s.read_barrier(q.consistency).await?;
    let (products, index) = s.reader.with(|st| {
        let products = st
            .shop
            .products
            .values()
            .filter(|p| p.topic == topic)
            .map(|p| p.view())
            .collect();
        (products, st.applied_index())
    });
    Ok(ok(SearchResult { topic, products }, index))
}

pub async fn get_order(
    State(s): State<Arc<AppState>>,
    number: Result<Path<String>, PathRejection>,
    q: Result<Query<ReadQuery>, QueryRejection>,
) -> Result<Response, HttpError> {
    let raw = path(number)?;
    let q = query(q)?;
    let number: u64 = raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "order number must be a positive integer, got {raw:?}"
        ))
    })?;
    s.read_barrier(q.consistency).await?;
    let index = s.reader.applied_index();
    match s.reader.order(number).await? {
        Some(order) => Ok(ok(order.view(), index)),
        None => Err(ApiError::not_found(format!("unknown order {number}")).into()),
    }
}
