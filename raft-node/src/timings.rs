//! The steps of a write's path through a node, timed into
//! `bazaar_node_step_duration_seconds{step}` so one order's latency can be split into its
//! parts (`scripts/bench.sh` prints the split):
//! - `queue`: an order waiting in the proposer for the next log entry (once per order);
//! - `raft_write`: one entry from its proposal to its applied result on the leader;
//! - `log_sync`: one synced append to the raft log (every node);
//! - `replicate`: one append-entries round trip from the leader to a follower, entries
//!   included (the follower's `log_sync` is inside it; heartbeats are not counted);
//! - `apply`: one batch of entries applied to the state machine (every node).
//!
//! `queue`'s count over `raft_write`'s count is the mean number of orders per entry.

use bazaar_service::metrics::prometheus_client::registry::Registry;
use bazaar_service::{Step, StepTimings};

#[derive(Debug, Clone)]
pub struct NodeTimings {
    pub queue: Step,
    pub raft_write: Step,
    pub log_sync: Step,
    pub replicate: Step,
    pub apply: Step,
}

impl NodeTimings {
    const STEPS: [&'static str; 5] = ["queue", "raft_write", "log_sync", "replicate", "apply"];

    pub fn register(registry: &mut Registry) -> Self {
        let steps = StepTimings::register(registry, &Self::STEPS);
        Self {
            queue: steps.step("queue"),
            raft_write: steps.step("raft_write"),
            log_sync: steps.step("log_sync"),
            replicate: steps.step("replicate"),
            apply: steps.step("apply"),
        }
    }
}
