//! The outcome of a check run: counts, anomalies, products whose linearizability is
//! unknown, and how it is printed (an anomaly with the operations around it).

use std::fmt;

use serde::Serialize;

use super::anomaly::{write_ops_table, Anomaly};

/// Indent of the operations printed under an anomaly: the column its text starts at.
const CONTEXT_INDENT: &str = "                ";

#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub operations: usize,
    pub reads: usize,
    pub orders_placed: usize,
    pub orders_rejected: usize,
    pub restocks: usize,
    pub indeterminate: usize,
    pub failed: usize,
    pub products: usize,
    /// Products whose linearizability was proven.
    pub linearizable: usize,
    /// Products the search gave up on, with the reason.
    pub unknown: Vec<String>,
    /// `applied_index digest` the replicas agreed on, if compared.
    pub replicas: Option<String>,
    #[serde(serialize_with = "as_strings")]
    pub anomalies: Vec<Anomaly>,
    pub history: String,
}

fn as_strings<S: serde::Serializer>(anomalies: &[Anomaly], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(anomalies.iter().map(|a| a.to_string()))
}

impl CheckReport {
    pub fn verdict(&self) -> &'static str {
        if !self.anomalies.is_empty() {
            "INVALID"
        } else if !self.unknown.is_empty() {
            "UNKNOWN"
        } else {
            "VALID"
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "history:        {}", self.history)?;
        writeln!(
            f,
            "operations:     {} (reads {}, orders placed {}, refused {}, restocks {}, indeterminate {}, failed {})",
            self.operations, self.reads, self.orders_placed, self.orders_rejected, self.restocks, self.indeterminate, self.failed
        )?;
        writeln!(
            f,
            "linearizable:   {}/{} products",
            self.linearizable, self.products
        )?;
        for u in &self.unknown {
            writeln!(f, "unknown:        {u}")?;
        }
        match &self.replicas {
            Some(r) => writeln!(f, "replicas:       converged at {r}")?,
            None => writeln!(f, "replicas:       not compared (no --node-url)")?,
        }
        for a in &self.anomalies {
            writeln!(f, "ANOMALY:        {a}")?;
            if let Some((ops, focus)) = a.context() {
                // The ops around the failure with how each read was served, so the
                // report alone shows which path and index gave the value that does not fit.
                write_ops_table(f, CONTEXT_INDENT, ops, focus)?;
            }
        }
        write!(
            f,
            "check: {} operations, {} anomalies, {} unknown, verdict {}",
            self.operations,
            self.anomalies.len(),
            self.unknown.len(),
            self.verdict()
        )
    }
}
