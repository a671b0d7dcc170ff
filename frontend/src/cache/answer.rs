//! A cached answer: the node's JSON body as it was sent, plus the indexes that decide
//! whether it may be stored and for how long it stays valid.

use bytes::Bytes;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAnswer {
    /// `{"data": ...}` exactly as the node sent it.
    pub body: Bytes,
    /// Applied index the node served the read at (`x-bazaar-index`).
    pub index: u64,
    /// The product's `version` (for a search, the newest version among its products).
    pub version: u64,
}
