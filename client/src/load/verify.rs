//! End-of-run verification: every acknowledged order is read back with
//! `GET /orders/{n}` and compared with what the session recorded.

use futures::stream::{self, StreamExt};

use super::session::PlacedOrder;
use crate::api_client::ApiClient;

/// How one recorded order failed to check out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub expected: PlacedOrder,
    pub problem: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.expected;
        write!(
            f,
            "order #{} ({} x {}): {}",
            e.number, e.quantity, e.name, self.problem
        )
    }
}

pub async fn verify_orders(client: &ApiClient, placed: &[PlacedOrder]) -> Vec<Mismatch> {
    let mut out: Vec<Mismatch> = stream::iter(placed.iter().cloned())
        .map(|expected| async move {
            let problem = match client.get_order(expected.number).await {
                Ok(o)
                    if o.number == expected.number
                        && o.name == expected.name
                        && o.quantity == expected.quantity =>
                {
                    return None
                }
                Ok(o) => format!("server has #{} ({} x {})", o.number, o.quantity, o.name),
                Err(e) => format!("cannot read back: {e}"),
            };
            Some(Mismatch { expected, problem })
        })
        .buffer_unordered(16)
        .filter_map(|m| async move { m })
        .collect()
        .await;
    let mut seen = std::collections::HashMap::new();
    for p in placed {
        if let Some(first) = seen.insert(p.number, p) {
            out.push(Mismatch {
                expected: p.clone(),
                problem: format!(
                    "number also acknowledged for {} x {}",
                    first.quantity, first.name
                ),
            });
        }
    }
    out.sort_by_key(|m| m.expected.number);
    out
}
