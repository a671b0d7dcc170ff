//! `[runtime]`: how many threads a node's async runtime runs, for machines whose cores the
//! node shares with other processes.

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};

/// The most async worker threads a node may be given.
pub const MAX_WORKER_THREADS: usize = 256;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Async worker threads of each node (`raft-node --worker-threads` overrides it);
    /// 0: one per core. RocksDB's writes, large applies and snapshots run on the blocking
    /// pool either way. Where several processes share a machine's cores, one worker each
    /// switches context a third less and spends up to a fifth less CPU per request: tasks
    /// no longer hop between threads that the cores take turns running (BENCHMARKS.md,
    /// "One async worker per node").
    pub node_worker_threads: usize,
}

impl RuntimeSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_worker_threads > MAX_WORKER_THREADS {
            return Err(invalid(
                "runtime.node_worker_threads",
                format!("must be at most {MAX_WORKER_THREADS} (0: one per core)"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_one_per_core_and_too_many_is_refused_by_name() {
        assert_eq!(RuntimeSettings::default().node_worker_threads, 0);
        assert!(RuntimeSettings::default().validate().is_ok());
        let most = RuntimeSettings {
            node_worker_threads: MAX_WORKER_THREADS,
        };
        assert!(most.validate().is_ok());
        let err = RuntimeSettings {
            node_worker_threads: MAX_WORKER_THREADS + 1,
        }
        .validate()
        .expect_err("above the maximum");
        assert!(
            err.to_string().contains("runtime.node_worker_threads"),
            "{err}"
        );
    }
}
