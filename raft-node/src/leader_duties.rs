//! What only the leader does: seed the catalog once, propose `RestockLow` on a timer (both
//! through the log, so every replica applies them identically), and step down when it has
//! lost its quorum (openraft 0.9 has no CheckQuorum of its own).

use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::sync::watch;

use crate::config::RestockPolicy;
use crate::proposer::Proposer;
use crate::shop::{Command, ProductRecord};
use crate::store::StateReader;
use crate::types::Raft;

const TICK: Duration = Duration::from_millis(250);

/// `quorum_lost_after`: a leader without a quorum ack for this long steps down.
pub fn spawn(
    raft: Raft,
    proposer: Proposer,
    reader: StateReader,
    catalog: Vec<ProductRecord>,
    policy: RestockPolicy,
    quorum_lost_after: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let interval = Duration::from_secs(policy.interval_secs);
        let mut last_restock = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = shutdown.changed() => return,
            }
            let (leading, quorum_ack_ms) = {
                let m = raft.metrics();
                let m = m.borrow();
                (m.state == ServerState::Leader, m.millis_since_quorum_ack)
            };
            if !leading {
                last_restock = Instant::now();
                continue;
            }
            if quorum_ack_ms.is_some_and(|ms| u128::from(ms) > quorum_lost_after.as_millis()) {
                step_down(&raft, quorum_ack_ms).await;
                continue;
            }
            if !reader.with(|s| s.shop.seeded) {
                match proposer
                    .propose(Command::SeedCatalog(catalog.clone()))
                    .await
                {
                    Ok(_) => tracing::info!(products = catalog.len(), "seeded the catalog"),
                    Err(e) => tracing::warn!(cause = %e, "seeding the catalog failed; will retry"),
                }
                continue;
            }
            if policy.interval_secs > 0 && last_restock.elapsed() >= interval {
                last_restock = Instant::now();
                let command = Command::RestockLow {
                    threshold: policy.threshold,
                    amount: policy.amount,
                };
                if let Err(e) = proposer.propose(command).await {
                    tracing::warn!(cause = %e, "low-stock restock failed");
                }
            }
        }
    });
}

/// A leader cut off from its quorum stops claiming leadership by campaigning in a new term.
/// It cannot win without a quorum, and it cannot disrupt the majority's leader: voters that
/// still hear from their leader refuse it (leader lease) without adopting its term, and so
/// does any voter whose log is ahead of it.
async fn step_down(raft: &Raft, quorum_ack_ms: Option<u64>) {
    tracing::warn!(
        millis_since_quorum_ack = quorum_ack_ms,
        "lost contact with a quorum; stepping down"
    );
    if let Err(e) = raft.trigger().elect().await {
        tracing::warn!(cause = %e, "could not step down");
    }
}
