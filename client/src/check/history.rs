//! The operation history a `bazaar check` run records: one JSON line per operation with
//! its invocation and completion time and what came back.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CheckError;

/// What a worker asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// `GET /products/{name}`: read the stock level.
    Read,
    /// `POST /orders` with a unique idempotency key.
    Order { quantity: u64, key: String },
    /// `POST /admin/restock`.
    Restock { amount: u64 },
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A read answered with this stock level.
    ReadOk { stock: u64 },
    /// An order was placed with this number.
    OrderOk {
        number: u64,
        quantity: u64,
        name: String,
    },
    /// An order was refused for insufficient stock: it observed stock < quantity.
    OrderRejected,
    /// A restock was applied; the stock right after it.
    RestockOk { stock: u64 },
    /// Definitely had no effect (refused before it was sent, or a 4xx that changes nothing).
    Failed { error: String },
    /// No definite answer: it may or may not have taken effect, at any time after invocation.
    Indeterminate { error: String },
}

impl Outcome {
    pub fn is_indeterminate(&self) -> bool {
        matches!(self, Outcome::Indeterminate { .. })
    }
}

/// One operation, invocation to completion (microseconds since the run started).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRecord {
    pub id: u64,
    pub worker: u32,
    pub product: String,
    pub kind: OpKind,
    pub invoke_us: u64,
    pub complete_us: u64,
    pub outcome: Outcome,
    /// Order numbers returned when the same idempotency key was sent again after success;
    /// each must equal the first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays: Vec<u64>,
    /// An answer the API contract rules out (5xx other than 503, 404 for our product, 422
    /// for a key we never reused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unexpected: Option<String>,
}

/// Writes the history as JSON lines.
pub fn write_history(path: &Path, ops: &[OpRecord]) -> Result<(), CheckError> {
    let io = |source| CheckError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    for op in ops {
        let line = serde_json::to_string(op).map_err(|e| CheckError::History(e.to_string()))?;
        writeln!(out, "{line}").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// Reads a history written by `write_history`.
pub fn read_history(path: &Path) -> Result<Vec<OpRecord>, CheckError> {
    let io = |source| CheckError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut ops = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let op = serde_json::from_str(&line)
            .map_err(|e| CheckError::History(format!("{}:{}: {e}", path.display(), i + 1)))?;
        ops.push(op);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_through_json_lines() {
        let ops = vec![
            OpRecord {
                id: 1,
                worker: 0,
                product: "p".into(),
                kind: OpKind::Order {
                    quantity: 2,
                    key: "k1".into(),
                },
                invoke_us: 5,
                complete_us: 9,
                outcome: Outcome::OrderOk {
                    number: 3,
                    quantity: 2,
                    name: "p".into(),
                },
                replays: vec![3],
                unexpected: None,
            },
            OpRecord {
                id: 2,
                worker: 1,
                product: "p".into(),
                kind: OpKind::Read,
                invoke_us: 6,
                complete_us: 7,
                outcome: Outcome::Indeterminate {
                    error: "timeout".into(),
                },
                replays: vec![],
                unexpected: None,
            },
        ];
        let dir = std::env::temp_dir().join(format!("bazaar-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("h.jsonl");
        write_history(&path, &ops).expect("write");
        assert_eq!(read_history(&path).expect("read"), ops);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
