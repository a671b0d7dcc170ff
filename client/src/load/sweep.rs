//! `--sweep-prob` and `--compare-cache`: one load run per p (and per cache setting),
//! then the table, the CSV and the SVG plot.

use std::path::{Path, PathBuf};

use super::csv::to_csv;
use super::plot::{plot_latency, Series};
use super::report::{run_table, sweep_table, SweepRow};
use super::runner::{run_load, LoadOptions, LoadResult};
use super::stats::latency;
use crate::error::ClientError;

pub struct SweepOutput {
    pub runs: Vec<(bool, LoadResult)>,
    pub table: String,
    pub csv: PathBuf,
    pub svg: PathBuf,
}

/// Runs every p against `base.url` (cache on) and, with `no_cache_url`, against a
/// frontend started with `--no-cache`; `on_run` sees each run as it ends.
pub async fn sweep(
    base: &LoadOptions,
    probs: &[f64],
    no_cache_url: Option<&str>,
    out_dir: &Path,
    mut on_run: impl FnMut(&str),
) -> Result<SweepOutput, ClientError> {
    let mut runs = Vec::new();
    for &prob in probs {
        let mut settings = vec![(true, base.url.clone())];
        if let Some(u) = no_cache_url {
            settings.push((false, u.to_owned()));
        }
        for (cache, url) in settings {
            let opts = LoadOptions {
                url,
                prob,
                ..base.clone()
            };
            let r = run_load(&opts).await?;
            on_run(&run_table(&r));
            runs.push((cache, r));
        }
    }
    let rows: Vec<SweepRow<'_>> = probs
        .iter()
        .filter_map(|&p| {
            let cached = runs
                .iter()
                .find(|(c, r)| *c && r.prob == p)
                .map(|(_, r)| r)?;
            let uncached = runs
                .iter()
                .find(|(c, r)| !*c && r.prob == p)
                .map(|(_, r)| r);
            Some(SweepRow {
                prob: p,
                cached,
                uncached,
            })
        })
        .collect();
    let table = sweep_table(&rows);
    let io = |path: &Path, e: std::io::Error| {
        ClientError::Usage(format!("cannot write {}: {e}", path.display()))
    };
    std::fs::create_dir_all(out_dir).map_err(|e| io(out_dir, e))?;
    let csv = out_dir.join("latency.csv");
    let refs: Vec<(bool, &LoadResult)> = runs.iter().map(|(c, r)| (*c, r)).collect();
    std::fs::write(&csv, to_csv(&refs)).map_err(|e| io(&csv, e))?;
    let svg = out_dir.join("latency.svg");
    plot_latency(&svg, &series(&runs, no_cache_url.is_some()))?;
    Ok(SweepOutput {
        runs,
        table,
        csv,
        svg,
    })
}

fn series(runs: &[(bool, LoadResult)], compare: bool) -> Vec<Series> {
    let mut out = Vec::new();
    for cache in [true, false] {
        if !cache && !compare {
            continue;
        }
        let tag = if !compare {
            String::new()
        } else if cache {
            " (cache on)".into()
        } else {
            " (cache off)".into()
        };
        let pick = |lookup: bool| -> Vec<(f64, f64)> {
            runs.iter()
                .filter(|(c, _)| *c == cache)
                .filter_map(|(_, r)| {
                    let l = latency(if lookup {
                        &r.stats.lookup
                    } else {
                        &r.stats.order
                    });
                    (l.count > 0).then_some((r.prob, l.mean))
                })
                .collect()
        };
        out.push(Series {
            label: format!("lookup{tag}"),
            points: pick(true),
        });
        out.push(Series {
            label: format!("order{tag}"),
            points: pick(false),
        });
    }
    out
}

/// Parses `0,0.2,0.4`.
pub fn parse_probs(text: &str) -> Result<Vec<f64>, String> {
    text.split(',')
        .map(|s| {
            let p: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a number"))?;
            if (0.0..=1.0).contains(&p) {
                Ok(p)
            } else {
                Err(format!("probability {p} is outside 0..1"))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_are_parsed_and_bounded() {
        assert_eq!(parse_probs("0, 0.2,0.8"), Ok(vec![0.0, 0.2, 0.8]));
        assert!(parse_probs("0,1.5").is_err());
        assert!(parse_probs("x").is_err());
    }

    #[test]
    fn plot_and_csv_are_written() {
        let mk = |prob: f64, ms: u64| {
            let mut stats = super::super::stats::LoadStats::default();
            stats.record_lookup(std::time::Duration::from_millis(ms));
            stats.record_order(std::time::Duration::from_millis(ms * 2));
            stats.record_error("timeout", "order");
            stats.record_shed("overloaded", "lookup");
            stats.record_shed("overloaded (retried)", "order");
            LoadResult {
                url: "http://x".into(),
                prob,
                elapsed: std::time::Duration::from_secs(1),
                stats,
                ignored_retry_after: false,
                verified: 0,
                mismatches: vec![],
            }
        };
        let runs = vec![
            (true, mk(0.2, 1)),
            (false, mk(0.2, 3)),
            (true, mk(0.4, 2)),
            (false, mk(0.4, 4)),
        ];
        let dir = std::env::temp_dir().join(format!("bazaar-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let svg = dir.join("p.svg");
        plot_latency(&svg, &series(&runs, true)).expect("plot");
        let text = std::fs::read_to_string(&svg).expect("svg written");
        assert!(
            text.contains("<svg") && text.contains("lookup (cache off)"),
            "{text}"
        );
        let refs: Vec<(bool, &LoadResult)> = runs.iter().map(|(c, r)| (*c, r)).collect();
        let csv = to_csv(&refs);
        assert_eq!(csv.lines().count(), 5);
        assert!(
            csv.lines()
                .nth(2)
                .is_some_and(|l| l.starts_with("0.2,off,")),
            "{csv}"
        );
        // Shed answers have their own column, apart from the errors.
        let column = |name: &str| {
            csv.lines()
                .next()
                .and_then(|h| h.split(',').position(|c| c == name))
                .expect("a column")
        };
        let (errors, shed) = (column("errors"), column("shed"));
        for row in csv.lines().skip(1) {
            let cells: Vec<&str> = row.split(',').collect();
            assert_eq!((cells[errors], cells[shed]), ("1", "2"), "{row}");
        }
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
