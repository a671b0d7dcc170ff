//! Plumbing shared by the node and the frontend, built on the crates the ecosystem uses:
//! process lifetime (`tokio-util`), logging (`tracing`), Prometheus metrics
//! (`prometheus-client`), the standard HTTP layers (`tower-http`), answer building and
//! serving.

pub mod admission;
pub mod auth;
pub mod batch;
pub mod http;
mod latency;
pub mod logging;
pub mod metrics;
pub mod queue_delay;
pub mod respond;
pub mod route_table;
pub mod serve;
pub mod shutdown;
pub mod steps;
pub mod tls;
pub mod version;

pub use admission::{Admission, AdmissionGate, Class, Classify, Permit};
pub use http::{standard_layers, standard_layers_admitting, Limits};
pub use metrics::{HttpMetrics, Metrics, MetricsBuilder};
pub use respond::ErrorResponse;
pub use route_table::RouteTable;
pub use shutdown::{CancellationToken, TaskTracker};
pub use steps::{Step, StepTimings};
