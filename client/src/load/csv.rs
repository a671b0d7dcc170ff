//! The sweep's CSV: one line per (p, cache) run.

use std::fmt::Write;

use super::runner::LoadResult;
use super::stats::latency;

pub const HEADER: &str = "prob,cache,url,throughput_rps,lookups,orders,errors,shed,mismatches,lookup_mean_ms,lookup_p50_ms,lookup_p90_ms,lookup_p99_ms,lookup_p999_ms,lookup_max_ms,order_mean_ms,order_p50_ms,order_p90_ms,order_p99_ms,order_p999_ms,order_max_ms";

pub fn to_csv(runs: &[(bool, &LoadResult)]) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    for (cache, r) in runs {
        let l = latency(&r.stats.lookup);
        let o = latency(&r.stats.order);
        let _ = writeln!(
            out,
            "{},{},{},{:.1},{},{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}",
            r.prob,
            if *cache { "on" } else { "off" },
            r.url,
            r.throughput(),
            l.count,
            o.count,
            r.stats.error_total(),
            r.stats.shed_total(),
            r.mismatches.len(),
            l.mean, l.p50, l.p90, l.p99, l.p999, l.max,
            o.mean, o.p50, o.p90, o.p99, o.p999, o.max
        );
    }
    out
}
