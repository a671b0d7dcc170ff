//! Drives a whole check run: creates fresh products, runs the workers, reads back the
//! final state and every order, then judges the history.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::{ProductSpec, Reason};
use futures::stream::{self, StreamExt};

use super::anomaly::Anomaly;
use super::anomaly::{ops_around, CONTEXT_RADIUS};
use super::error::CheckError;
use super::history::{read_path, write_history, OpKind, OpRecord, Outcome};
use super::invariants::{check_invariants, Evidence, FoundOrder, ProductFacts};
use super::linearizability::{self, Budget, LinOp, LinResult};
use super::model::{Action, AutoRestock, StockModel};
use super::replicas::await_convergence;
use super::verdict::CheckReport;
use super::worker::{run_worker, WorkerContext};
use crate::api_client::ApiClient;
use crate::error::ClientError;
use crate::shed::retry_pause;
use crate::transport::Transport;

#[derive(Debug, Clone)]
pub struct CheckOptions {
    pub urls: Vec<String>,
    pub transport: Transport,
    pub node_urls: Vec<String>,
    pub token: Option<String>,
    pub workers: usize,
    pub duration: Duration,
    pub products: usize,
    pub initial_stock: u64,
    pub op_timeout: Duration,
    pub retry_for: Duration,
    /// How long the end-of-run reads may wait for the cluster to heal.
    pub settle: Duration,
    pub check_budget: Duration,
    pub history: PathBuf,
    pub auto_restock: Option<AutoRestock>,
}

pub async fn run_check(opts: &CheckOptions) -> Result<CheckReport, CheckError> {
    if opts.urls.is_empty() || opts.workers == 0 || opts.products == 0 {
        return Err(CheckError::Usage(
            "need at least one --url, one worker and one product".into(),
        ));
    }
    let clients = opts
        .urls
        .iter()
        .map(|u| {
            ApiClient::new(u, opts.op_timeout, &opts.transport)
                .map(|c| c.with_token(opts.token.clone()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(CheckError::Setup)?;
    let setup_deadline = Instant::now() + opts.settle;
    let first_number = retry(setup_deadline, || lowest_order_count(&clients))
        .await
        .map_err(CheckError::Setup)?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut products = Vec::new();
    for i in 0..opts.products {
        let spec = ProductSpec {
            name: format!("chk-{}-{i}", &run[..8]),
            title: "bazaar check product".into(),
            topic: format!("chk-{}", &run[..8]),
            price: 100,
            quantity: opts.initial_stock,
        };
        let view = retry(setup_deadline, || clients[0].upsert(&spec, None))
            .await
            .map_err(CheckError::Setup)?;
        products.push((view.name, view.quantity));
    }
    tracing::info!(
        products = products.len(),
        workers = opts.workers,
        "check workload starting"
    );

    let start = Instant::now();
    let ctx = Arc::new(WorkerContext {
        products: products.iter().map(|(n, _)| n.clone()).collect(),
        start,
        deadline: start + opts.duration,
        retry_for: opts.retry_for,
        next_id: AtomicU64::new(0),
    });
    let handles: Vec<_> = (0..opts.workers)
        .map(|w| {
            tokio::spawn(run_worker(
                w as u32,
                clients[w % clients.len()].clone(),
                ctx.clone(),
            ))
        })
        .collect();
    let mut history: Vec<OpRecord> = Vec::new();
    for h in handles {
        history.extend(
            h.await
                .map_err(|e| CheckError::Usage(format!("worker panicked: {e}")))?,
        );
    }

    let settle_deadline = Instant::now() + opts.settle;
    let mut anomalies = Vec::new();
    let mut facts = Vec::new();
    for (name, initial) in &products {
        let invoke_us = start.elapsed().as_micros() as u64;
        match retry(settle_deadline, || clients[0].product_served(name)).await {
            Ok((view, served)) => {
                history.push(OpRecord {
                    id: ctx
                        .next_id
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    worker: u32::MAX,
                    product: name.clone(),
                    kind: OpKind::Read,
                    invoke_us,
                    complete_us: start.elapsed().as_micros() as u64,
                    outcome: Outcome::ReadOk {
                        stock: view.quantity,
                    },
                    replays: vec![],
                    unexpected: None,
                    path: Some(read_path(served.cache)),
                    index: served.index,
                });
                facts.push(ProductFacts {
                    name: name.clone(),
                    initial: *initial,
                    final_stock: view.quantity,
                });
            }
            Err(e) => anomalies.push(Anomaly::Unverifiable {
                detail: format!("final read of {name}: {e}"),
            }),
        }
    }
    history.sort_by_key(|op| op.id);
    write_history(&opts.history, &history)?;

    let found = scan_orders(
        &clients,
        &history,
        first_number,
        settle_deadline,
        &mut anomalies,
    )
    .await;
    let mut report = summarize(&history, products.len(), opts.history.display().to_string());
    anomalies.extend(check_invariants(&Evidence {
        history: &history,
        products: &facts,
        found: &found,
        auto_restock: opts.auto_restock,
    }));
    let model = StockModel {
        auto_restock: opts.auto_restock,
    };
    let budget = opts.check_budget;
    let lin_inputs: Vec<(String, u64, Vec<LinOp>)> = products
        .iter()
        .map(|(name, initial)| (name.clone(), *initial, lin_ops(&history, name)))
        .collect();
    let results = tokio::task::spawn_blocking(move || judge_all(lin_inputs, model, budget))
        .await
        .map_err(|e| CheckError::Usage(format!("checker panicked: {e}")))?;
    for (name, result) in results {
        record_result(&mut report, &mut anomalies, &history, name, result);
    }
    if !opts.node_urls.is_empty() {
        let nodes = opts
            .node_urls
            .iter()
            .map(|u| ApiClient::new(u, opts.op_timeout, &opts.transport))
            .collect::<Result<Vec<_>, _>>()
            .map_err(CheckError::Setup)?;
        match await_convergence(&nodes, Instant::now() + opts.settle).await {
            Ok(c) => {
                report.replicas = Some(format!(
                    "index {} digest {} ({} nodes)",
                    c.applied_index, c.digest, c.nodes
                ))
            }
            Err(a) => anomalies.push(a),
        }
    }
    report.anomalies = anomalies;
    Ok(report)
}

/// Adds one product's linearizability verdict to the report; a violation becomes an
/// anomaly carrying the operations around where the search got stuck.
fn record_result(
    report: &mut CheckReport,
    anomalies: &mut Vec<Anomaly>,
    history: &[OpRecord],
    name: String,
    result: LinResult,
) {
    match result {
        LinResult::Linearizable => report.linearizable += 1,
        LinResult::Unknown { explored, reason } => report
            .unknown
            .push(format!("{name}: {reason} after {explored} configurations")),
        LinResult::NotLinearizable(v) => {
            let around = ops_around(history, &name, &v.stuck_ops, CONTEXT_RADIUS);
            anomalies.push(Anomaly::NotLinearizable {
                detail: format!(
                    "longest linearization placed {}/{} completed ops, at stock {}; none of ops {:?} fits next",
                    v.linearized, v.determinate, v.stock, v.stuck_ops
                ),
                product: name,
                stuck: v.stuck_ops,
                around,
            })
        }
    }
}

/// Retries `f` on retryable errors until `deadline`; after a shed answer no sooner than
/// its `Retry-After`, and not at all when that comes after the deadline.
async fn retry<T, F, Fut>(deadline: Instant, mut f: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    const PAUSE: Duration = Duration::from_millis(100);
    loop {
        let e = match f().await {
            Err(e) if e.is_retryable() => e,
            other => return other,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        match retry_pause(&e, PAUSE, false, left) {
            Some(pause) => tokio::time::sleep(pause).await,
            None => return Err(e),
        }
    }
}

/// Orders numbered above the smallest count any reachable URL reports were made during
/// (or after) the run; scanning from there misses none of ours.
async fn lowest_order_count(clients: &[ApiClient]) -> Result<u64, ClientError> {
    let mut lowest: Option<u64> = None;
    let mut last_err = None;
    for c in clients {
        match c.cluster().await {
            Ok(info) => lowest = Some(lowest.map_or(info.orders, |l| l.min(info.orders))),
            Err(e) => last_err = Some(e),
        }
    }
    match (lowest, last_err) {
        (Some(n), _) => Ok(n),
        (None, Some(e)) => Err(e),
        (None, None) => Err(ClientError::Usage("no URL to ask".into())),
    }
}

/// Reads back every order numbered after `first_number`, up to the highest number any
/// node or acknowledgement knows of.
async fn scan_orders(
    clients: &[ApiClient],
    history: &[OpRecord],
    first_number: u64,
    deadline: Instant,
    anomalies: &mut Vec<Anomaly>,
) -> BTreeMap<u64, FoundOrder> {
    let mut last = history
        .iter()
        .filter_map(|op| match op.outcome {
            Outcome::OrderOk { number, .. } => Some(number),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    for c in clients {
        if let Ok(info) = retry(deadline, || c.cluster()).await {
            last = last.max(info.orders);
        }
    }
    let client = &clients[0];
    let results: Vec<(u64, Result<FoundOrder, ClientError>)> =
        stream::iter(first_number + 1..=last)
            .map(|n| async move {
                let got = retry(deadline, || client.get_order(n))
                    .await
                    .map(|o| FoundOrder {
                        number: o.number,
                        name: o.name,
                        quantity: o.quantity,
                    });
                (n, got)
            })
            .buffer_unordered(16)
            .collect()
            .await;
    let mut found = BTreeMap::new();
    for (n, r) in results {
        match r {
            Ok(o) => {
                found.insert(n, o);
            }
            // A gap in the dense numbering is only an anomaly if someone was told about
            // that number, which the invariants check against the history.
            Err(ClientError::Api(e)) if e.reason == Reason::UnknownOrder => {}
            Err(e) => anomalies.push(Anomaly::Unverifiable {
                detail: format!("reading order #{n}: {e}"),
            }),
        }
    }
    found
}

/// The operations on `product` as the model sees them; failed and unanswered reads had
/// no effect and are left out.
fn lin_ops(history: &[OpRecord], product: &str) -> Vec<LinOp> {
    history
        .iter()
        .filter(|op| op.product == product)
        .filter_map(|op| {
            let determinate = Some(op.complete_us);
            let (complete, action) = match (&op.kind, &op.outcome) {
                (OpKind::Read, Outcome::ReadOk { stock }) => {
                    (determinate, Action::Read { value: *stock })
                }
                (OpKind::Order { quantity, .. }, Outcome::OrderOk { .. }) => (
                    determinate,
                    Action::Order {
                        quantity: *quantity,
                        placed: Some(true),
                    },
                ),
                (OpKind::Order { quantity, .. }, Outcome::OrderRejected) => (
                    determinate,
                    Action::Order {
                        quantity: *quantity,
                        placed: Some(false),
                    },
                ),
                (OpKind::Order { quantity, .. }, Outcome::Indeterminate { .. }) => (
                    None,
                    Action::Order {
                        quantity: *quantity,
                        placed: None,
                    },
                ),
                (OpKind::Restock { amount }, Outcome::RestockOk { stock }) => (
                    determinate,
                    Action::Restock {
                        amount: *amount,
                        after: Some(*stock),
                    },
                ),
                (OpKind::Restock { amount }, Outcome::Indeterminate { .. }) => (
                    None,
                    Action::Restock {
                        amount: *amount,
                        after: None,
                    },
                ),
                _ => return None,
            };
            Some(LinOp {
                id: op.id,
                invoke: op.invoke_us,
                complete,
                action,
            })
        })
        .collect()
}

/// Checks each product on its own thread; the budget is shared wall-clock time.
fn judge_all(
    inputs: Vec<(String, u64, Vec<LinOp>)>,
    model: StockModel,
    budget: Duration,
) -> Vec<(String, LinResult)> {
    let deadline = Instant::now() + budget;
    let limit = Budget {
        deadline,
        max_memo: 4_000_000,
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = inputs
            .iter()
            .map(|(name, initial, ops)| {
                let name = name.clone();
                s.spawn(move || (name, linearizability::check(*initial, ops, &model, limit)))
            })
            .collect();
        handles
            .into_iter()
            .zip(&inputs)
            .map(|(h, (name, _, _))| {
                h.join().unwrap_or_else(|_| {
                    (
                        name.clone(),
                        LinResult::Unknown {
                            explored: 0,
                            reason: "checker thread panicked".into(),
                        },
                    )
                })
            })
            .collect()
    })
}

fn summarize(history: &[OpRecord], products: usize, path: String) -> CheckReport {
    let mut r = CheckReport {
        operations: history.len(),
        products,
        history: path,
        ..CheckReport::default()
    };
    for op in history {
        match op.outcome {
            Outcome::ReadOk { .. } => r.reads += 1,
            Outcome::OrderOk { .. } => r.orders_placed += 1,
            Outcome::OrderRejected => r.orders_rejected += 1,
            Outcome::RestockOk { .. } => r.restocks += 1,
            Outcome::Indeterminate { .. } => r.indeterminate += 1,
            Outcome::Failed { .. } => r.failed += 1,
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCT: &str = "chk-6002f77a-3";

    fn rec(
        (id, worker, invoke_us, complete_us): (u64, u32, u64, u64),
        kind: OpKind,
        outcome: Outcome,
        path: Option<&str>,
        index: u64,
    ) -> OpRecord {
        OpRecord {
            id,
            worker,
            product: PRODUCT.into(),
            kind,
            invoke_us,
            complete_us,
            outcome,
            replays: vec![],
            unexpected: None,
            path: path.map(str::to_owned),
            index: Some(index),
        }
    }

    fn read(at: (u64, u32, u64, u64), stock: u64, path: &str, index: u64) -> OpRecord {
        rec(
            at,
            OpKind::Read,
            Outcome::ReadOk { stock },
            Some(path),
            index,
        )
    }

    fn order(at: (u64, u32, u64, u64), quantity: u64, number: u64, index: u64) -> OpRecord {
        let kind = OpKind::Order {
            quantity,
            key: format!("key-{}", at.0),
        };
        let outcome = Outcome::OrderOk {
            number,
            quantity,
            name: PRODUCT.into(),
        };
        rec(at, kind, outcome, None, index)
    }

    fn restock(at: (u64, u32, u64, u64), amount: u64, stock: u64, index: u64) -> OpRecord {
        rec(
            at,
            OpKind::Restock { amount },
            Outcome::RestockOk { stock },
            None,
            index,
        )
    }

    /// Issue 25's anomaly: ids, workers, times and answers from the chaos run's history
    /// (evidence/chaos-2026-12-06), starting where every earlier op had completed at
    /// stock 760. Worker 0 reads 757 (op 209902), then 759 (op 209907) with nothing that
    /// adds stock in flight. That run recorded no paths or indexes; these are made up.
    fn issue_25_history(last_read: u64) -> Vec<OpRecord> {
        vec![
            read((209882, 1, 199896526, 199898357), 760, "hit", 42036),
            read((209883, 4, 199896713, 199898411), 760, "hit", 42036),
            restock((209888, 2, 199897764, 199904083), 2, 762, 42040),
            read((209890, 4, 199898412, 199898498), 760, "hit", 42036),
            order((209892, 5, 199900111, 199909174), 1, 72936, 42044),
            order((209893, 6, 199900159, 199909222), 2, 72935, 42045),
            read((209896, 2, 199904084, 199909512), 762, "miss", 42040),
            order((209897, 4, 199904136, 199913265), 2, 72937, 42047),
            read((209902, 0, 199908278, 199911367), 757, "none", 42047),
            read((209906, 2, 199909512, 199911957), 759, "miss", 42045),
            read((209907, 0, 199911368, 199911910), last_read, "hit", 42045),
            order((209912, 1, 199912749, 199920406), 2, 72942, 42050),
            restock((209914, 3, 199913004, 199920007), 4, 759, 42051),
            read((209919, 6, 199915374, 199919379), 757, "hit", 42047),
        ]
    }

    /// Judges `history` the way `run_check` does and returns the printed report.
    fn judge(history: &[OpRecord]) -> (CheckReport, String) {
        let inputs = vec![(PRODUCT.to_owned(), 760, lin_ops(history, PRODUCT))];
        let results = judge_all(inputs, StockModel::default(), Duration::from_secs(30));
        let mut report = summarize(history, 1, "h.jsonl".into());
        let mut anomalies = Vec::new();
        for (name, result) in results {
            record_result(&mut report, &mut anomalies, history, name, result);
        }
        report.anomalies = anomalies;
        let text = report.to_string();
        (report, text)
    }

    #[test]
    fn the_issue_25_read_back_in_time_is_an_anomaly_shown_with_path_and_index() {
        let history = issue_25_history(759);
        let (report, text) = judge(&history);
        assert_eq!(report.verdict(), "INVALID", "{text}");
        assert_eq!(report.linearizable, 0);
        let [Anomaly::NotLinearizable {
            product,
            detail,
            stuck,
            around,
        }] = report.anomalies.as_slice()
        else {
            panic!("expected one linearizability anomaly:\n{text}");
        };
        assert_eq!(product, PRODUCT);
        assert_eq!(stuck, &vec![209907], "{detail}");
        assert!(detail.contains("at stock 757"), "{detail}");
        // Every op of this short history is within 10 of the stuck one, in invoke order.
        let ids: Vec<u64> = around.iter().map(|op| op.id).collect();
        let mut by_invoke = history.clone();
        by_invoke.sort_by_key(|op| op.invoke_us);
        assert_eq!(ids, by_invoke.iter().map(|op| op.id).collect::<Vec<_>>());

        let row = |id: u64| {
            text.lines()
                .find(|l| l.split_whitespace().any(|w| w == id.to_string()))
                .unwrap_or_else(|| panic!("no row for op {id}:\n{text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        // The op that does not fit, marked, with worker, times, what, answer, path, index.
        assert_eq!(
            row(209907),
            [
                ">>",
                "209907",
                "0",
                "199.911368",
                "199.911910",
                "read",
                "759",
                "hit",
                "42045"
            ]
        );
        assert_eq!(
            row(209902),
            [
                "209902",
                "0",
                "199.908278",
                "199.911367",
                "read",
                "757",
                "none",
                "42047"
            ]
        );
        assert_eq!(
            row(209888),
            [
                "209888",
                "2",
                "199.897764",
                "199.904083",
                "restock",
                "2",
                "stock",
                "762",
                "-",
                "42040"
            ]
        );
        assert!(
            text.contains("path") && text.contains("index"),
            "header names the columns:\n{text}"
        );
    }

    #[test]
    fn the_same_history_without_the_stale_read_is_valid() {
        // Worker 0's second read seeing 757 again fits: the test above fails on the value,
        // not on the shape of the history.
        let (report, text) = judge(&issue_25_history(757));
        assert_eq!(report.verdict(), "VALID", "{text}");
        assert_eq!(report.linearizable, 1);
        assert!(!text.contains(">>"), "{text}");
    }
}
