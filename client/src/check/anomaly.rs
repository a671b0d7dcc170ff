//! Anomalies: every way a run can show the store broke its contract, and the operations
//! around one that a report prints so it can be diagnosed from the report alone.

use std::fmt;

use super::history::{OpKind, OpRecord, Outcome};

/// Operations shown on each side of the ops a non-linearizable history got stuck on.
pub const CONTEXT_RADIUS: usize = 10;
/// Most rows one anomaly prints: many stuck ops (a wide concurrency window) must not turn
/// a report into a history dump.
const CONTEXT_MAX_ROWS: usize = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    /// An acknowledged order cannot be read back.
    LostOrder {
        number: u64,
        product: String,
        op: u64,
    },
    /// An acknowledged order reads back with other content.
    OrderMismatch {
        number: u64,
        expected: String,
        found: String,
    },
    /// Two acknowledged operations got the same order number.
    DuplicateNumber { number: u64, ops: (u64, u64) },
    /// Sending the same idempotency key again gave a different order.
    KeyAppliedTwice { op: u64, first: u64, again: u64 },
    /// An order exists that no acknowledged or indeterminate request explains.
    PhantomOrder {
        number: u64,
        product: String,
        quantity: u64,
    },
    /// A read returned more units than could ever have existed (a negative level wrapped).
    StockOutOfRange {
        product: String,
        op: u64,
        stock: u64,
        bound: u64,
    },
    /// initial + restocked - ordered != final.
    UnitsNotConserved { product: String, detail: String },
    /// The product's history has no valid sequential order.
    NotLinearizable {
        product: String,
        detail: String,
        /// Ids of the operations none of which fit next (the search's stuck point).
        stuck: Vec<u64>,
        /// The product's operations around them, by invocation time.
        around: Vec<OpRecord>,
    },
    /// An answer the API contract rules out.
    UnexpectedAnswer { op: u64, detail: String },
    /// Replicas differ at the same applied index, or never reached one.
    ReplicasDiverged { detail: String },
    /// A final read or scan the checker needs could not be done.
    Unverifiable { detail: String },
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::LostOrder {
                number,
                product,
                op,
            } => {
                write!(
                    f,
                    "lost order: #{number} ({product}) acknowledged to op {op} is not readable"
                )
            }
            Anomaly::OrderMismatch {
                number,
                expected,
                found,
            } => {
                write!(
                    f,
                    "order #{number} reads back as {found}, acknowledged as {expected}"
                )
            }
            Anomaly::DuplicateNumber { number, ops } => {
                write!(
                    f,
                    "order number #{number} acknowledged to two operations ({} and {})",
                    ops.0, ops.1
                )
            }
            Anomaly::KeyAppliedTwice { op, first, again } => {
                write!(
                    f,
                    "idempotency key of op {op} created order #{first} and then #{again}"
                )
            }
            Anomaly::PhantomOrder {
                number,
                product,
                quantity,
            } => {
                write!(f, "order #{number} ({quantity} x {product}) was created by no request (double-applied retry?)")
            }
            Anomaly::StockOutOfRange {
                product,
                op,
                stock,
                bound,
            } => {
                write!(f, "{product}: op {op} read stock {stock}, above the most there could be ({bound}); negative stock?")
            }
            Anomaly::UnitsNotConserved { product, detail } => {
                write!(f, "{product}: units not conserved: {detail}")
            }
            Anomaly::NotLinearizable {
                product, detail, ..
            } => {
                write!(f, "{product}: not linearizable: {detail}")
            }
            Anomaly::UnexpectedAnswer { op, detail } => {
                write!(f, "op {op}: answer outside the API contract: {detail}")
            }
            Anomaly::ReplicasDiverged { detail } => write!(f, "replicas diverged: {detail}"),
            Anomaly::Unverifiable { detail } => write!(f, "could not verify: {detail}"),
        }
    }
}

impl Anomaly {
    /// The operations to print under this anomaly, and which of them it is about.
    pub fn context(&self) -> Option<(&[OpRecord], &[u64])> {
        match self {
            Anomaly::NotLinearizable { around, stuck, .. } if !around.is_empty() => {
                Some((around, stuck))
            }
            _ => None,
        }
    }
}

/// `product`'s operations from `radius` before the first of `focus` to `radius` after the
/// last, ordered by invocation time (as the linearizability search orders them).
pub fn ops_around(
    history: &[OpRecord],
    product: &str,
    focus: &[u64],
    radius: usize,
) -> Vec<OpRecord> {
    let mut ops: Vec<&OpRecord> = history.iter().filter(|op| op.product == product).collect();
    ops.sort_by_key(|op| (op.invoke_us, op.id));
    let positions: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| focus.contains(&op.id))
        .map(|(i, _)| i)
        .collect();
    let (Some(&first), Some(&last)) = (positions.first(), positions.last()) else {
        return Vec::new();
    };
    let from = first.saturating_sub(radius);
    let to = (last + radius + 1)
        .min(ops.len())
        .min(from + CONTEXT_MAX_ROWS);
    ops[from..to].iter().map(|op| (*op).clone()).collect()
}

/// Writes `ops` as a table, one row per operation, each line starting with `indent`;
/// rows of `focus` are marked `>>`. Times are seconds since the check started.
pub fn write_ops_table(
    f: &mut impl fmt::Write,
    indent: &str,
    ops: &[OpRecord],
    focus: &[u64],
) -> fmt::Result {
    writeln!(
        f,
        "{indent}   {:>9} {:>6} {:>12} {:>12}  {:<11} {:<22} {:<6} {:>9}",
        "op", "worker", "invoke s", "complete s", "what", "answer", "path", "index"
    )?;
    for op in ops {
        let mark = if focus.contains(&op.id) { ">>" } else { "  " };
        let worker = if op.worker == u32::MAX {
            // The checker's own read after the cluster healed.
            "final".to_owned()
        } else {
            op.worker.to_string()
        };
        writeln!(
            f,
            "{indent}{mark} {:>9} {:>6} {:>12} {:>12}  {:<11} {:<22} {:<6} {:>9}",
            op.id,
            worker,
            seconds(op.invoke_us),
            seconds(op.complete_us),
            what(&op.kind),
            answer(&op.outcome),
            op.path.as_deref().unwrap_or("-"),
            op.index.map_or("-".to_owned(), |i| i.to_string()),
        )?;
    }
    Ok(())
}

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn what(kind: &OpKind) -> String {
    match kind {
        OpKind::Read => "read".to_owned(),
        OpKind::Order { quantity, .. } => format!("order {quantity}"),
        OpKind::Restock { amount } => format!("restock {amount}"),
    }
}

/// Longest error text a row shows; the history has it whole.
const MAX_ERROR_CHARS: usize = 40;

fn answer(outcome: &Outcome) -> String {
    let short = |e: &str| e.chars().take(MAX_ERROR_CHARS).collect::<String>();
    match outcome {
        Outcome::ReadOk { stock } => stock.to_string(),
        Outcome::OrderOk { number, .. } => format!("ok #{number}"),
        Outcome::OrderRejected => "refused".to_owned(),
        Outcome::RestockOk { stock } => format!("stock {stock}"),
        Outcome::Failed { error } => format!("failed: {}", short(error)),
        Outcome::Indeterminate { error } => format!("indeterminate: {}", short(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(id: u64, product: &str, invoke_us: u64) -> OpRecord {
        OpRecord {
            id,
            worker: 0,
            product: product.into(),
            kind: OpKind::Read,
            invoke_us,
            complete_us: invoke_us + 5,
            outcome: Outcome::ReadOk { stock: 1 },
            replays: vec![],
            unexpected: None,
            path: None,
            index: None,
        }
    }

    #[test]
    fn ops_around_takes_the_product_by_invoke_time_within_the_radius() {
        // Ids out of invoke order, and another product interleaved.
        let mut history = Vec::new();
        for k in 0..30u64 {
            history.push(read(100 - k, "p", k * 10));
            history.push(read(200 + k, "q", k * 10 + 1));
        }
        // Op 85 is p's 16th by invoke time (index 15).
        let ids: Vec<u64> = ops_around(&history, "p", &[85], 3)
            .iter()
            .map(|op| op.id)
            .collect();
        assert_eq!(ids, vec![88, 87, 86, 85, 84, 83, 82]);
        // Clipped at both ends of the history.
        assert_eq!(ops_around(&history, "p", &[100], 2).len(), 3);
        assert_eq!(ops_around(&history, "p", &[71], 2).len(), 3);
        // Several stuck ops: from before the first to after the last.
        assert_eq!(ops_around(&history, "p", &[90, 80], 1).len(), 13);
        // An id not on this product gives nothing rather than a wrong window.
        assert!(ops_around(&history, "p", &[205], 3).is_empty());
    }

    #[test]
    fn the_table_shows_unrecorded_path_and_index_as_dashes() {
        let mut op = read(7, "p", 1_500_000);
        op.worker = u32::MAX;
        let mut text = String::new();
        write_ops_table(&mut text, "", &[op], &[7]).expect("write");
        let row: Vec<&str> = text
            .lines()
            .nth(1)
            .expect("a row")
            .split_whitespace()
            .collect();
        assert_eq!(
            row,
            [">>", "7", "final", "1.500000", "1.500005", "read", "1", "-", "-"]
        );
    }
}
