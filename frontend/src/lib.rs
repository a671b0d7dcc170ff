//! Bazaar's frontend: a stateless HTTP gateway in front of the replicated store, with a
//! versioned LRU cache kept coherent by write-through invalidation and the cluster's
//! change feed, and writes routed to the Raft leader.
//!
//! The binary only parses flags and calls [`run`]; tests call the same function.

mod backend;
mod batching;
mod cache;
mod error;
mod feed;
mod gauges;
mod lookup_batcher;
mod metrics;
mod order_batcher;
mod paths;
mod rate_limit;
mod reader;
mod respond;
mod routes;
mod state;
mod ui;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use bazaar_api::config::ClusterConfig;
use bazaar_service::shutdown::drain;
use bazaar_service::tls::{cluster_client, server_config, ClientAuth};
use bazaar_service::{Admission, CancellationToken, MetricsBuilder, TaskTracker};
use order_batcher::OrderBatcher;
use tokio::net::TcpListener;

pub use error::FrontendError;

use backend::{Backend, BackendSettings, NodePool};
use cache::VersionedCache;
use feed::{ChangeFeed, FeedState};
use gauges::Gauges;
use lookup_batcher::LookupBatcher;
use metrics::Metrics;
use rate_limit::RateLimit;
use reader::CachedReader;
use state::AppState;

/// Slack on top of a node's own deadline before one attempt is given up.
const ATTEMPT_SLACK: Duration = Duration::from_millis(500);
/// How long open requests get to finish once shutdown is asked for.
const GRACE: Duration = Duration::from_secs(3);

/// Serves the public API on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: ClusterConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), FrontendError> {
    let addr = listener.local_addr()?;
    config.check_frontend_secrets(&addr.to_string())?;
    let tls = match &config.tls {
        None => None,
        Some(tls) => Some(server_config(
            &tls.files_for("frontend"),
            ClientAuth::Anyone,
        )?),
    };
    let f = &config.frontend;
    let capacity = NonZeroUsize::new(f.cache_capacity).ok_or(FrontendError::Config {
        field: "frontend.cache_capacity",
        reason: "must be above 0".into(),
    })?;
    let request_deadline = Duration::from_millis(f.request_deadline_ms.max(1));
    let settings = BackendSettings {
        request_deadline,
        read_attempt: (Duration::from_millis(config.raft.read_deadline_ms) + ATTEMPT_SLACK)
            .min(request_deadline),
        write_attempt: (Duration::from_millis(config.raft.write_deadline_ms) + ATTEMPT_SLACK)
            .min(request_deadline),
        no_leader_grace: Duration::from_millis(f.no_leader_grace_ms),
    };
    let staleness_bound = Duration::from_millis(f.staleness_bound_ms.max(1));
    let metrics = Arc::new(Metrics::default());
    let backend = Arc::new(Backend::new(
        NodePool::new(&config.nodes, config.scheme())?,
        cluster_client(&config, None)?,
        settings,
        metrics.clone(),
    )?);
    let cache = Arc::new(VersionedCache::new(
        capacity,
        Duration::from_secs(f.cache_ttl_secs),
    ));
    let feed_state = Arc::new(FeedState::new(staleness_bound, f.cache_enabled));
    let mut registry = MetricsBuilder::new("bazaar_frontend");
    metrics.register(registry.registry());
    registry.registry().register_collector(Box::new(Gauges {
        metrics: metrics.clone(),
        cache: cache.clone(),
        feed: feed_state.clone(),
        cache_enabled: f.cache_enabled,
    }));
    let limits = &config.limits;
    let admission = Admission::new(&limits.frontend, limits.retry_after_secs);
    admission.register(registry.registry());
    let rate = RateLimit::new(&limits.rate, metrics.rate_limited.clone())?.map(Arc::new);
    if let Some(rate) = &rate {
        rate.register(registry.registry());
    }
    let registry = registry.build();
    let tasks = TaskTracker::new();
    tasks.spawn(admission.clone().probe_queue_delay(shutdown.clone()));
    if let Some(rate) = rate.clone() {
        let stop = shutdown.clone();
        tasks.spawn(async move { rate.forget_idle_clients(stop).await });
    }
    // The batchers stop only once the server has drained, so an order or lookup in flight
    // at shutdown still reaches a node.
    let batcher_stop = CancellationToken::new();
    let lookups = f
        .batch_lookups
        .then(|| LookupBatcher::spawn(backend.clone(), &tasks, batcher_stop.clone()));
    let reader = CachedReader::new(
        backend.clone(),
        lookups,
        cache.clone(),
        feed_state.clone(),
        metrics.clone(),
        f.cache_enabled,
    );
    // With the cache off there is nothing to invalidate, so no feed either.
    if f.cache_enabled {
        let feed = ChangeFeed::new(
            backend.clone(),
            cache.clone(),
            feed_state.clone(),
            metrics.clone(),
            staleness_bound,
        );
        tasks.spawn(feed.run(shutdown.clone()));
    }
    let orders = f
        .batch_orders
        .then(|| OrderBatcher::spawn(backend.clone(), &tasks, batcher_stop.clone()));
    let state = Arc::new(AppState {
        backend,
        orders,
        reader,
        cache,
        feed: feed_state,
        metrics,
        registry,
        cache_enabled: f.cache_enabled,
        admin_enabled: f.admin,
    });
    tracing::info!(%addr, tls = config.tls.is_some(), admin = f.admin, cache = f.cache_enabled, nodes = config.nodes.len(), rate_limit = rate.is_some(), "frontend listening");
    bazaar_service::serve::serve(
        listener,
        routes::router(state, request_deadline, &admission, rate.as_deref()),
        shutdown.clone(),
        tls,
    )
    .await?;
    batcher_stop.cancel();
    if !drain(&tasks, GRACE).await {
        tracing::warn!("background tasks still running after the grace period");
    }
    tracing::info!("frontend stopped");
    Ok(())
}
