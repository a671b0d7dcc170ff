//! `bazaar load`: the earlier shops' workload (look up, then order with probability p)
//! on kept-alive connections, with HDR latency tables, order verification, and the p
//! sweep with its CSV and SVG plot.

pub mod csv;
pub mod plot;
pub mod report;
pub mod runner;
pub mod session;
pub mod stats;
pub mod sweep;
pub mod verify;

pub use runner::{run_load, LoadOptions, LoadResult};
pub use sweep::{parse_probs, sweep, SweepOutput};
