//! The node's codec is the api crate's (`bazaar_api::codec`): one versioned encoding for
//! everything stored or sent between nodes, which the offline archive readers share.

pub use bazaar_api::codec::{decode, encode, CodecError, FORMAT_VERSION};
