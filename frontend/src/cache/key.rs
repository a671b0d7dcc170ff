//! What the cache is keyed by: one product lookup or one topic search.

use crate::paths::{encode_segment, topic_query};

/// A cacheable read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// `GET /products/{name}`
    Product(String),
    /// `GET /search?topic=T`
    Topic(String),
}

impl CacheKey {
    /// The node request that answers this key, built only on a miss.
    pub fn node_path(&self) -> String {
        match self {
            CacheKey::Product(name) => format!("/products/{}", encode_segment(name)),
            CacheKey::Topic(topic) => format!("/search?{}", topic_query(topic)),
        }
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheKey::Product(name) => write!(f, "product:{name}"),
            CacheKey::Topic(topic) => write!(f, "topic:{topic}"),
        }
    }
}
