//! One load run: fetch the catalog, run the sessions with a live progress bar, then
//! verify every acknowledged order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::session::{run_session, SessionPlan};
use super::stats::LoadStats;
use super::verify::{verify_orders, Mismatch};
use crate::api_client::ApiClient;
use crate::error::ClientError;
use crate::shed::ShedRetry;
use crate::transport::Transport;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub url: String,
    pub transport: Transport,
    pub sessions: usize,
    pub prob: f64,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub timeout: Duration,
    pub order_retry_for: Duration,
    /// Sessions send their next request at once after a shed answer.
    pub ignore_retry_after: bool,
    /// How long after the start requests are made and checked but not timed.
    pub warmup: Duration,
    pub progress: bool,
}

#[derive(Debug, Clone)]
pub struct LoadResult {
    pub url: String,
    pub prob: f64,
    /// The timed part of the run (after the warm-up).
    pub elapsed: Duration,
    pub stats: LoadStats,
    /// The sessions did not wait the `Retry-After` of shed answers.
    pub ignored_retry_after: bool,
    pub verified: usize,
    pub mismatches: Vec<Mismatch>,
}

impl LoadResult {
    /// Requests (lookups and orders) per second.
    pub fn throughput(&self) -> f64 {
        let n = self.stats.lookup.len() + self.stats.order.len();
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub async fn run_load(opts: &LoadOptions) -> Result<LoadResult, ClientError> {
    if !(0.0..=1.0).contains(&opts.prob) {
        return Err(ClientError::Usage(format!(
            "--prob must be within 0..1, got {}",
            opts.prob
        )));
    }
    // Fetching the catalog and verifying the orders are not the load: a shed request of
    // theirs is sent again after the server's wait, as a one-shot command's is.
    let catalog = ApiClient::new(&opts.url, opts.timeout, &opts.transport)?
        .with_shed_retry(ShedRetry::for_command(opts.timeout));
    let names: Vec<String> = catalog
        .all_products()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    if names.is_empty() {
        return Err(ClientError::Usage(format!(
            "the catalog at {} is empty",
            opts.url
        )));
    }
    let started = Instant::now();
    let plan = Arc::new(SessionPlan {
        names,
        prob: opts.prob,
        deadline: opts.duration.map(|d| started + d),
        timed_from: started + opts.warmup,
        remaining: opts.requests.map(AtomicU64::new),
        order_retry_for: opts.order_retry_for,
        ignore_retry_after: opts.ignore_retry_after,
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        shed: AtomicU64::new(0),
    });
    let mut handles = Vec::new();
    for _ in 0..opts.sessions.max(1) {
        // One client per session: its own kept-alive connection, like the earlier clients.
        let client = ApiClient::new(&opts.url, opts.timeout, &opts.transport)?;
        handles.push(tokio::spawn(run_session(client, plan.clone())));
    }
    let bar = progress_bar(opts);
    let ticker = {
        let plan = plan.clone();
        let bar = bar.clone();
        let total = opts.requests;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let done = plan.done.load(Ordering::Relaxed);
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                match (total.zip(plan.remaining.as_ref()), plan.deadline) {
                    (Some((total, left)), _) => {
                        bar.set_position(total - left.load(Ordering::Relaxed))
                    }
                    (None, Some(d)) => bar.set_position(
                        (started.elapsed().as_millis() as u64)
                            .min(d.duration_since(started).as_millis() as u64),
                    ),
                    (None, None) => {}
                }
                bar.set_message(format!(
                    "{rate:.0} req/s, {} errors, {} shed",
                    plan.errors.load(Ordering::Relaxed),
                    plan.shed.load(Ordering::Relaxed)
                ));
            }
        })
    };
    let mut stats = LoadStats::default();
    let mut placed = Vec::new();
    for h in handles {
        let (s, p) = h
            .await
            .map_err(|e| ClientError::Usage(format!("session panicked: {e}")))?;
        stats.merge(&s);
        placed.extend(p);
    }
    let elapsed = started.elapsed().saturating_sub(opts.warmup);
    ticker.abort();
    bar.finish_and_clear();
    let mismatches = verify_orders(&catalog, &placed).await;
    Ok(LoadResult {
        url: opts.url.clone(),
        prob: opts.prob,
        elapsed,
        stats,
        ignored_retry_after: opts.ignore_retry_after,
        verified: placed.len(),
        mismatches,
    })
}

fn progress_bar(opts: &LoadOptions) -> ProgressBar {
    if !opts.progress {
        return ProgressBar::hidden();
    }
    let (len, template) = match (opts.requests, opts.duration) {
        (Some(n), _) => (n, "{bar:30} {pos}/{len} lookups  {msg}"),
        (None, Some(d)) => (d.as_millis() as u64, "{bar:30} {elapsed}/{duration}  {msg}"),
        (None, None) => (0, "{spinner} {elapsed}  {msg}"),
    };
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!("p={:.2} {template}", opts.prob)) {
        bar.set_style(style);
    }
    bar
}
