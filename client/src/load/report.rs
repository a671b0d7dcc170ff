//! Text tables for load results: one run's summary, and the p sweep table.

use std::fmt::Write;

use super::runner::LoadResult;
use super::stats::{latency, Latency};

fn row(out: &mut String, label: &str, l: &Latency) {
    let _ = writeln!(
        out,
        "  {label:<8} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
        l.count, l.mean, l.p50, l.p90, l.p99, l.p999, l.max
    );
}

/// One run: throughput, latency percentiles, error counts, shed answers, verification.
pub fn run_table(r: &LoadResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}  p={:.2}  {:.1}s",
        r.url,
        r.prob,
        r.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  throughput: {:.0} req/s ({} lookups, {} orders placed)",
        r.throughput(),
        r.stats.lookup.len(),
        r.stats.orders_placed
    );
    let _ = writeln!(
        out,
        "  latency ms    count      mean       p50       p90       p99     p99.9       max"
    );
    row(&mut out, "lookup", &latency(&r.stats.lookup));
    row(&mut out, "order", &latency(&r.stats.order));
    if r.stats.errors.is_empty() {
        let _ = writeln!(out, "  errors: none");
    } else {
        let _ = writeln!(out, "  errors:");
        for (kind, n) in &r.stats.errors {
            let _ = writeln!(out, "    {kind:<32} {n}");
        }
    }
    if r.stats.shed.is_empty() {
        let _ = writeln!(out, "  shed: none");
    } else {
        let _ = writeln!(
            out,
            "  shed (turned away unrun: overloaded or rate-limited; {}):",
            if r.ignored_retry_after {
                "Retry-After ignored"
            } else {
                "Retry-After waited"
            }
        );
        for (kind, n) in &r.stats.shed {
            let _ = writeln!(out, "    {kind:<32} {n}");
        }
    }
    let _ = writeln!(
        out,
        "  verified: {} acknowledged orders re-read, {} mismatches",
        r.verified,
        r.mismatches.len()
    );
    for m in &r.mismatches {
        let _ = writeln!(out, "  MISMATCH {m}");
    }
    out
}

/// One row of the sweep: a probability, cache on, and optionally cache off.
pub struct SweepRow<'a> {
    pub prob: f64,
    pub cached: &'a LoadResult,
    pub uncached: Option<&'a LoadResult>,
}

/// The earlier shops' latency table: mean lookup (cached / uncached) and order latency
/// per p, in milliseconds, with p50 and p99 beside the mean.
pub fn sweep_table(rows: &[SweepRow<'_>]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5} | {:>28} | {:>28} | {:>28} | {:>10}",
        "p",
        "lookup cached mean/p50/p99",
        "lookup uncached mean/p50/p99",
        "order mean/p50/p99",
        "req/s"
    );
    let cell = |l: Latency| format!("{:.3}/{:.3}/{:.3}", l.mean, l.p50, l.p99);
    for r in rows {
        let uncached = r
            .uncached
            .map(|u| cell(latency(&u.stats.lookup)))
            .unwrap_or_else(|| "-".into());
        let order = latency(&r.cached.stats.order);
        let order = if order.count == 0 {
            "-".into()
        } else {
            cell(order)
        };
        let _ = writeln!(
            out,
            "{:>5.2} | {:>28} | {:>28} | {:>28} | {:>10.0}",
            r.prob,
            cell(latency(&r.cached.stats.lookup)),
            uncached,
            order,
            r.cached.throughput()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::load::stats::LoadStats;

    #[test]
    fn shed_answers_are_listed_apart_from_errors() {
        let mut stats = LoadStats::default();
        stats.record_error("timeout", "order");
        stats.record_shed("overloaded", "lookup");
        stats.record_shed("rate_limited (retried)", "order");
        let mut r = LoadResult {
            url: "http://x".into(),
            prob: 0.5,
            elapsed: Duration::from_secs(1),
            stats,
            ignored_retry_after: false,
            verified: 0,
            mismatches: vec![],
        };
        let text = run_table(&r);
        let (errors, shed) = text.split_once("  shed").expect("a shed section");
        assert!(errors.contains("order timeout"), "{text}");
        assert!(!errors.contains("overloaded"), "{text}");
        assert!(shed.contains("Retry-After waited"), "{text}");
        assert!(
            shed.contains("lookup overloaded") && shed.contains("order rate_limited (retried)")
        );
        r.ignored_retry_after = true;
        assert!(run_table(&r).contains("Retry-After ignored"));
        r.stats = LoadStats::default();
        let text = run_table(&r);
        assert!(
            text.contains("errors: none") && text.contains("shed: none"),
            "{text}"
        );
    }
}
