//! `WatchSlots`: the cap on this node's concurrent `/watch` streams. Its own module so the
//! handlers' shared state can hold it without importing the stream code that uses that state.

use std::sync::Arc;
use std::time::Duration;

use bazaar_api::ApiError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::log_gate::LogGate;

/// The cap on this node's concurrent `/watch` streams (`raft.watch_max_streams`).
#[derive(Clone)]
pub struct WatchSlots {
    slots: Arc<Semaphore>,
    max: usize,
}

impl WatchSlots {
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// A slot held for as long as the stream's body lives, or the 503 that says none is free.
    pub(super) fn take(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.slots.clone().try_acquire_owned().map_err(|_| {
            static GATE: LogGate = LogGate::new(Duration::from_secs(1));
            if let Some(held_back) = GATE.pass() {
                tracing::warn!(
                    max_streams = self.max,
                    held_back,
                    "refusing a /watch stream: every slot is taken"
                );
            }
            ApiError::unavailable(format!(
                "this node already serves its {} change-feed streams (raft.watch_max_streams): \
                 retry later or watch another node",
                self.max
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_over_the_cap_are_refused_until_one_ends() {
        let slots = WatchSlots::new(2);
        let a = slots.take().expect("first");
        let _b = slots.take().expect("second");
        let refused = slots.take().expect_err("third is over the cap");
        assert_eq!(refused.status(), 503);
        assert!(refused.message.contains("watch_max_streams"), "{refused:?}");
        drop(a);
        assert!(slots.take().is_ok(), "a freed slot is taken again");
    }
}
