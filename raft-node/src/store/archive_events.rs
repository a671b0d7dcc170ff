//! Archive commits as this replica applied or refused them, handed from the state machine
//! to the node's archive task (which reclaims the space, or has the `corrupt` alarm raised).

use std::sync::{Arc, Mutex};

use bazaar_api::ArchivedRange;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveEvent {
    /// The orders of `range` left this replica's hot state.
    Removed(ArchivedRange),
    /// The commit at `index` was refused here: this replica's orders differ from the file's.
    Refused { index: u64, why: String },
}

/// One sender, and the receiver until the node takes it. At most one event per archive
/// commit, so an unbounded queue stays small even when nobody takes it (tests).
#[derive(Clone)]
pub struct ArchiveEvents {
    tx: UnboundedSender<ArchiveEvent>,
    rx: Arc<Mutex<Option<UnboundedReceiver<ArchiveEvent>>>>,
}

impl Default for ArchiveEvents {
    fn default() -> Self {
        let (tx, rx) = unbounded_channel();
        Self {
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }
}

impl ArchiveEvents {
    pub fn send(&self, event: ArchiveEvent) {
        // Fails only once the receiver is dropped (the node is stopping).
        let _ = self.tx.send(event);
    }

    /// The receiving end; `None` once taken.
    pub fn take_receiver(&self) -> Option<UnboundedReceiver<ArchiveEvent>> {
        self.rx.lock().ok()?.take()
    }
}
