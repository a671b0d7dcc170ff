//! The frontend's cache: a versioned LRU with a TTL backstop, no-stale-fill watermarks,
//! and singleflight for concurrent misses.

mod answer;
mod key;
mod singleflight;
mod store;

pub use answer::CachedAnswer;
pub use key::CacheKey;
pub use singleflight::Singleflight;
pub use store::{FillOutcome, VersionedCache};
