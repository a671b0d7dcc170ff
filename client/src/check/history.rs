//! The operation history a `bazaar check` run records: one JSON line per operation with
//! its invocation and completion time, what came back and how it was served (path and
//! log index). Fields added later are optional, so older histories still read.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::CheckError;

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
    /// For an answered read, the path that served it: the frontend's `X-Cache` word as
    /// sent (`hit`: its cache, `miss`: a node through the cache path, or any other word a
    /// frontend uses) or `none` when the answer carried none (a node, or a passthrough).
    /// `None` when not recorded (other operations, and histories from before it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The applied log index the answer said it reflects (`X-Bazaar-Index`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
}

/// `path` of a read whose answer had no `X-Cache` header.
pub const PATH_NONE: &str = "none";

/// The `path` recorded for an answered read: its `X-Cache` word, or `none`. Always set
/// once a read is answered, so a history tells an uncached answer from an unrecorded one.
pub fn read_path(x_cache: Option<String>) -> String {
    x_cache.unwrap_or_else(|| PATH_NONE.to_owned())
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
                path: None,
                index: Some(17),
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
                path: None,
                index: None,
            },
            OpRecord {
                id: 3,
                worker: 2,
                product: "p".into(),
                kind: OpKind::Read,
                invoke_us: 8,
                complete_us: 11,
                outcome: Outcome::ReadOk { stock: 8 },
                replays: vec![],
                unexpected: None,
                path: Some("hit".into()),
                index: Some(16),
            },
        ];
        let dir = std::env::temp_dir().join(format!("bazaar-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("h.jsonl");
        write_history(&path, &ops).expect("write");
        assert_eq!(read_history(&path).expect("read"), ops);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        let line = serde_json::to_string(&ops[2]).expect("encode");
        assert!(
            line.contains(r#""path":"hit","index":16"#),
            "path and index are written: {line}"
        );
    }

    #[test]
    fn histories_from_before_path_and_index_still_read() {
        // Two lines in the format the issue-25 run wrote (evidence/chaos-2026-12-06).
        let old = concat!(
            r#"{"id":209902,"worker":0,"product":"chk-6002f77a-3","kind":"read","invoke_us":199908278,"complete_us":199911367,"outcome":{"read_ok":{"stock":757}}}"#,
            "\n",
            r#"{"id":209892,"worker":5,"product":"chk-6002f77a-3","kind":{"order":{"quantity":1,"key":"k"}},"invoke_us":199900111,"complete_us":199909174,"outcome":{"order_ok":{"number":72936,"quantity":1,"name":"chk-6002f77a-3"}}}"#,
            "\n"
        );
        let file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(file.path(), old).expect("write");
        let ops = read_history(file.path()).expect("an old history reads");
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].outcome, Outcome::ReadOk { stock: 757 });
        assert_eq!((ops[0].path.as_deref(), ops[0].index), (None, None));
        assert_eq!((ops[1].path.as_deref(), ops[1].index), (None, None));
    }
}
