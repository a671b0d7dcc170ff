//! `bazaar check`: the consistency checker's command line. Builds the run's options from
//! the flags and the cluster file, runs it, and fails (exit 1) on any anomaly.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::error::CliError;
use super::globals::Globals;
use super::outcome::Outcome;
use crate::check::model::AutoRestock;
use crate::check::{run_check, CheckOptions};
use crate::target::Target;

/// `bazaar check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Concurrent workers (spread over the --url values).
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// How long the workload runs.
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// More URLs to spread workers over (frontends or nodes), besides --url.
    #[arg(long = "also-url")]
    pub also_url: Vec<String>,
    /// A node API URL whose GET /cluster digest is compared at the end (repeatable).
    #[arg(long = "node-url")]
    pub node_url: Vec<String>,
    /// Compare the digests of every node in --config.
    #[arg(long)]
    pub config_nodes: bool,
    /// JSON-lines history file.
    #[arg(long, default_value = "bazaar-history.jsonl")]
    pub history: PathBuf,
    /// Fresh products the run creates and exercises.
    #[arg(long, default_value_t = 4)]
    pub products: usize,
    /// Their initial stock (low, so orders are refused sometimes).
    #[arg(long, default_value_t = 20)]
    pub initial_stock: u64,
    /// Wall-clock budget for the linearizability search; past it a product is "unknown".
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub check_budget: Duration,
    /// Per-operation timeout; an operation without an answer by then is indeterminate.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub op_timeout: Duration,
    /// How long an order is retried with the same idempotency key.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub retry_for: Duration,
    /// How long the end-of-run reads wait for the cluster to heal.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// Model the leader's low-stock timer as THRESHOLD:AMOUNT; default: from --config's
    /// `[restock]` when its interval_secs > 0. "off" disables.
    #[arg(long)]
    pub auto_restock: Option<String>,
    /// Admin token for restocks and product setup.
    #[arg(long)]
    pub token: Option<String>,
}

/// Runs the check and reports it; anomalies fail the outcome.
pub async fn run(g: &Globals, args: CheckArgs) -> Result<Outcome, CliError> {
    let (target, _) = g.connect(args.token.as_deref())?;
    let mut node_urls = args.node_url.clone();
    if args.config_nodes {
        node_urls.extend(target.node_urls.iter().cloned());
    }
    let mut urls = vec![target.url.clone()];
    urls.extend(args.also_url.iter().cloned());
    let opts = CheckOptions {
        urls,
        transport: target.transport.clone(),
        node_urls,
        token: target.token.clone(),
        workers: args.workers,
        duration: args.duration,
        products: args.products,
        initial_stock: args.initial_stock,
        op_timeout: args.op_timeout,
        retry_for: args.retry_for,
        settle: args.settle,
        check_budget: args.check_budget,
        history: args.history.clone(),
        auto_restock: auto_restock(args.auto_restock.as_deref(), &target)?,
    };
    let report = run_check(&opts).await?;
    let stdout = if g.json {
        format!("{}\n", serde_json::to_string(&report)?)
    } else {
        format!("{report}\n")
    };
    Ok(Outcome::checked(stdout, report.anomalies.is_empty()))
}

/// `--auto-restock`: "off", THRESHOLD:AMOUNT, or (absent) the cluster file's `[restock]`
/// when its timer runs.
pub fn auto_restock(arg: Option<&str>, target: &Target) -> Result<Option<AutoRestock>, CliError> {
    match arg {
        Some("off") => Ok(None),
        Some(text) => {
            let (t, a) = text.split_once(':').ok_or_else(|| {
                CliError::Usage("--auto-restock wants THRESHOLD:AMOUNT or off".into())
            })?;
            let number = |what: &str, v: &str| {
                v.trim()
                    .parse()
                    .map_err(|e| CliError::Usage(format!("--auto-restock {what}: {e}")))
            };
            Ok(Some(AutoRestock {
                threshold: number("threshold", t)?,
                amount: number("amount", a)?,
            }))
        }
        None => Ok(target
            .config
            .as_ref()
            .filter(|c| c.restock.interval_secs > 0)
            .map(|c| AutoRestock {
                threshold: c.restock.threshold,
                amount: c.restock.amount,
            })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_config() -> Target {
        Target {
            url: "http://h:1".into(),
            token: None,
            node_urls: Vec::new(),
            config: None,
            transport: Default::default(),
        }
    }

    #[test]
    fn auto_restock_reads_off_pairs_and_names_the_bad_half() {
        let t = no_config();
        assert_eq!(auto_restock(Some("off"), &t).expect("off"), None);
        assert_eq!(
            auto_restock(Some(" 3 : 10"), &t).expect("pair"),
            Some(AutoRestock {
                threshold: 3,
                amount: 10
            })
        );
        assert_eq!(auto_restock(None, &t).expect("no config"), None);
        let err = auto_restock(Some("x:1"), &t).expect_err("bad threshold");
        assert_eq!(
            err.to_string(),
            "--auto-restock threshold: invalid digit found in string"
        );
        assert!(auto_restock(Some("5"), &t).is_err());
    }
}
