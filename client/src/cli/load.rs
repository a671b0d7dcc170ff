//! `bazaar load`: the load generator's command line: one run, or a sweep of order
//! probabilities (optionally against a cache-less frontend too) with its table, CSV and
//! plot. Fails (exit 1) when a re-read order does not match what was acknowledged.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use crate::load::{self, LoadOptions, LoadResult};

/// Runs last this long when neither --duration nor --requests is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);

/// `bazaar load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Concurrent sessions, each on its own kept-alive connection.
    #[arg(long, default_value_t = 5)]
    pub sessions: usize,
    /// Probability of ordering one unit after each lookup.
    #[arg(long, default_value_t = 0.5)]
    pub prob: f64,
    /// How long each run lasts (e.g. 30s, 2m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many lookups instead (over all sessions).
    #[arg(long, conflicts_with = "duration")]
    pub requests: Option<u64>,
    /// Run each of these probabilities in turn, e.g. 0,0.2,0.4,0.6,0.8; writes a table,
    /// latency.csv and latency.svg.
    #[arg(long)]
    pub sweep_prob: Option<String>,
    /// Run each p with the cache on (--url) and off (--no-cache-url).
    #[arg(long, requires = "no_cache_url")]
    pub compare_cache: bool,
    /// A frontend started with --no-cache (same cluster, another listen port).
    #[arg(long)]
    pub no_cache_url: Option<String>,
    /// Where latency.csv and latency.svg go.
    #[arg(long, default_value = ".")]
    pub out_dir: PathBuf,
    /// How long an order is retried with its idempotency key on no answer or 503.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub order_retry_for: Duration,
    /// After a shed answer (503 overloaded, 429 rate_limited) send the next request at
    /// once instead of waiting its Retry-After: what clients that ignore it do to a server.
    /// Shed answers are counted apart from errors either way.
    #[arg(long)]
    pub ignore_retry_after: bool,
    /// Make and check the requests of this first part of the run but leave them out of
    /// the latencies and the throughput, e.g. 2s: every session opens its connection at
    /// the start, and with thousands of sessions those first requests wait behind the
    /// connections being accepted. 0: time everything.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
}

/// One run, or the sweep. A sweep prints each run's table as it ends (text mode), so a
/// long sweep shows progress; the outcome holds the summary.
pub async fn run(g: &Globals, args: LoadArgs) -> Result<Outcome, CliError> {
    let (target, _) = g.connect(None)?;
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(DEFAULT_DURATION),
        (d, _) => d,
    };
    if let Some(d) = duration.filter(|d| args.warmup >= *d) {
        return Err(CliError::Usage(format!(
            "--warmup ({}) must be shorter than the run ({})",
            humantime::format_duration(args.warmup),
            humantime::format_duration(d)
        )));
    }
    let opts = LoadOptions {
        url: target.url.clone(),
        transport: target.transport.clone(),
        sessions: args.sessions,
        prob: args.prob,
        duration,
        requests: args.requests,
        timeout: g.timeout,
        order_retry_for: args.order_retry_for,
        ignore_retry_after: args.ignore_retry_after,
        warmup: args.warmup,
        progress: !g.json,
    };
    if args.sweep_prob.is_none() && !args.compare_cache {
        let r = load::run_load(&opts).await?;
        let stdout = if g.json {
            format!("{}\n", load_json(&r))
        } else {
            load::report::run_table(&r)
        };
        return Ok(Outcome::checked(stdout, r.mismatches.is_empty()));
    }
    let probs = match &args.sweep_prob {
        Some(text) => load::parse_probs(text).map_err(CliError::Usage)?,
        None => vec![args.prob],
    };
    let no_cache = if args.compare_cache {
        args.no_cache_url.as_deref()
    } else {
        None
    };
    let json = g.json;
    let out = load::sweep(&opts, &probs, no_cache, &args.out_dir, |table| {
        if !json {
            print!("{table}");
        }
    })
    .await?;
    let mismatches: usize = out.runs.iter().map(|(_, r)| r.mismatches.len()).sum();
    let stdout = if json {
        let runs: Vec<_> = out
            .runs
            .iter()
            .map(|(c, r)| serde_json::json!({"cache": c, "run": load_json(r)}))
            .collect();
        format!(
            "{}\n",
            serde_json::json!({"runs": runs, "csv": out.csv, "svg": out.svg, "mismatches": mismatches})
        )
    } else {
        format!(
            "\n{}\ncsv: {}\nplot: {}\n",
            out.table,
            out.csv.display(),
            out.svg.display()
        )
    };
    Ok(Outcome::checked(stdout, mismatches == 0))
}

/// One run as JSON: throughput, latency percentiles, errors, shed answers, verification.
pub fn load_json(r: &LoadResult) -> serde_json::Value {
    use load::stats::latency;
    serde_json::json!({
        "url": r.url,
        "prob": r.prob,
        "seconds": r.elapsed.as_secs_f64(),
        "throughput_rps": r.throughput(),
        "lookup_ms": latency(&r.stats.lookup),
        "order_ms": latency(&r.stats.order),
        "errors": r.stats.errors,
        "shed": r.stats.shed,
        "ignored_retry_after": r.ignored_retry_after,
        "verified": r.verified,
        "mismatches": r.mismatches.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
    })
}
