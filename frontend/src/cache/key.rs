//! What the cache is keyed by: one product lookup or one topic search.

/// A cacheable read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
    /// `GET /products/{name}`
    Product(String),
    /// `GET /search?topic=T`
    Topic(String),
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheKey::Product(name) => write!(f, "product:{name}"),
            CacheKey::Topic(topic) => write!(f, "topic:{topic}"),
        }
    }
}
