//! `bazaar check`: a Jepsen-style consistency checker. `runner` drives concurrent
//! workers and records a history; `linearizability`, `invariants` and `replicas` judge
//! it; `verdict` sums up.

pub mod anomaly;
pub mod error;
pub mod history;
pub mod invariants;
pub mod linearizability;
pub mod model;

pub use anomaly::Anomaly;
pub use error::CheckError;
pub mod replicas;
pub mod runner;
pub mod verdict;
pub mod worker;

pub use runner::{run_check, CheckOptions};
pub use verdict::CheckReport;
