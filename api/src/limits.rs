//! The size limits of the public API that more than one wire type is checked against (a
//! leaf, so the batch types can name the body limit without going through the crate root).

/// Largest request body the public API accepts (bytes); larger bodies get 413.
pub const MAX_API_BODY_BYTES: usize = 64 * 1024;
/// Default and largest page of `GET /products`.
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;
