//! What only the leader does: seed the catalog once, and propose `RestockLow` on a timer.
//! Both go through the log, so every replica applies them identically.

use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::sync::watch;

use crate::config::RestockPolicy;
use crate::proposer::Proposer;
use crate::shop::{Command, ProductRecord};
use crate::store::StateReader;
use crate::types::Raft;

const TICK: Duration = Duration::from_millis(250);

pub fn spawn(
    raft: Raft,
    proposer: Proposer,
    reader: StateReader,
    catalog: Vec<ProductRecord>,
    policy: RestockPolicy,
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
            let leading = raft.metrics().borrow().state == ServerState::Leader;
            if !leading {
                last_restock = Instant::now();
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
