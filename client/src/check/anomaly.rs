//! Anomalies: every way a run can show the store broke its contract.

use std::fmt;

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
    NotLinearizable { product: String, detail: String },
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
            Anomaly::NotLinearizable { product, detail } => {
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
