//! Read options shared by every read route.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `?consistency=` on reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Read index from the leader, wait until applied, then read locally (the default).
    #[default]
    Linearizable,
    /// This node's applied state as it is.
    Stale,
}
