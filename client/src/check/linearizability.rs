//! Linearizability of one product's history against `StockModel`: the Wing–Gong search
//! with Lowe's memoisation. A configuration (set of operations linearized so far, stock
//! level) is explored at most once; the set is fingerprinted with 128-bit Zobrist keys so
//! the memo stays small. Indeterminate operations never have to be linearized and may be
//! at any point after their invocation. A deadline and a memo cap turn a search that
//! would run too long into `Unknown` instead of a hang.

use std::collections::HashSet;
use std::time::Instant;

use super::model::{Action, StockModel};

/// One operation of the history, times on one clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinOp {
    /// The id in the recorded history, for reports.
    pub id: u64,
    pub invoke: u64,
    /// `None`: indeterminate, may take effect at any time after `invoke`, or never.
    pub complete: Option<u64>,
    pub action: Action,
}

/// Limits that make the search give up rather than hang.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    /// Most configurations remembered (each costs about 40 bytes).
    pub max_memo: usize,
}

/// Where the search got stuck: the longest prefix it could linearize.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Determinate operations linearized in the longest attempt, out of `determinate`.
    pub linearized: usize,
    pub determinate: usize,
    /// Stock level at that point.
    pub stock: u64,
    /// Ids of the operations that could have come next, none of which fit.
    pub stuck_ops: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinResult {
    Linearizable,
    NotLinearizable(Violation),
    /// The budget ran out first.
    Unknown {
        explored: usize,
        reason: String,
    },
}

struct Frame {
    /// Candidate next steps from this configuration: (op index, stock after it).
    moves: Vec<(usize, u64)>,
    next: usize,
    /// The op whose linearization led here.
    via: Option<usize>,
    /// Smallest index of a determinate op not yet linearized: everything before it is
    /// linearized, or indeterminate (those are found through `Ops::loose`).
    first: usize,
}

/// The history sorted by invocation, and where its indeterminate operations are.
struct Ops {
    ops: Vec<LinOp>,
    /// Indexes of the indeterminate operations, ascending. An indeterminate op need never be
    /// linearized, so it can stay pending behind the whole rest of the search: the window
    /// reaches the ones before `first` through this list instead of a scan over every op
    /// linearized since (which made long histories quadratic: a 10-minute soak's products,
    /// ~270 k operations each, ran out of a 60 s budget).
    loose: Vec<usize>,
}

/// Checks whether `ops`, starting from `initial` units, is linearizable under `model`.
pub fn check(initial: u64, ops: &[LinOp], model: &StockModel, budget: Budget) -> LinResult {
    let mut sorted: Vec<LinOp> = ops.to_vec();
    sorted.sort_by_key(|op| (op.invoke, op.id));
    let loose = (0..sorted.len())
        .filter(|&j| sorted[j].complete.is_none())
        .collect();
    let ops = Ops { ops: sorted, loose };
    let determinate = ops.ops.len() - ops.loose.len();
    let ops_ref = &ops;
    let ops = &ops.ops;
    let keys = zobrist_keys(ops.len());

    let mut done = vec![false; ops.len()];
    let mut done_determinate = 0usize;
    let mut fingerprint = 0u128;
    let mut memo: HashSet<(u128, u64)> = HashSet::new();
    memo.insert((0, initial));

    let mut best = Violation {
        linearized: 0,
        determinate,
        stock: initial,
        stuck_ops: Vec::new(),
    };
    let root_first = next_first(ops, &done, 0);
    let root = new_frame(ops_ref, &done, model, root_first, initial, None);
    best.stuck_ops = window(ops_ref, &done, root_first)
        .into_iter()
        .map(|j| ops[j].id)
        .collect();
    let mut stack = vec![root];
    let mut steps = 0usize;

    while let Some(top) = stack.last_mut() {
        if done_determinate == determinate {
            return LinResult::Linearizable;
        }
        steps += 1;
        if steps & 4095 == 0 && Instant::now() >= budget.deadline {
            return LinResult::Unknown {
                explored: memo.len(),
                reason: "time budget exhausted".into(),
            };
        }
        if memo.len() > budget.max_memo {
            return LinResult::Unknown {
                explored: memo.len(),
                reason: "memo size limit reached".into(),
            };
        }
        if top.next >= top.moves.len() {
            if let Some(i) = top.via {
                done[i] = false;
                fingerprint ^= keys[i];
                if ops[i].complete.is_some() {
                    done_determinate -= 1;
                }
            }
            stack.pop();
            continue;
        }
        let (i, stock) = top.moves[top.next];
        top.next += 1;
        let first = top.first;
        let candidate = fingerprint ^ keys[i];
        if !memo.insert((candidate, stock)) {
            continue;
        }
        done[i] = true;
        fingerprint = candidate;
        if ops[i].complete.is_some() {
            done_determinate += 1;
        }
        let first = next_first(ops, &done, first);
        let frame = new_frame(ops_ref, &done, model, first, stock, Some(i));
        if done_determinate > best.linearized {
            best.linearized = done_determinate;
            best.stock = stock;
            best.stuck_ops = window(ops_ref, &done, first)
                .into_iter()
                .map(|j| ops[j].id)
                .collect();
        }
        stack.push(frame);
    }
    if done_determinate == determinate {
        return LinResult::Linearizable;
    }
    LinResult::NotLinearizable(best)
}

/// The smallest index from `from` on of a determinate op not yet linearized.
fn next_first(ops: &[LinOp], done: &[bool], mut from: usize) -> usize {
    while from < ops.len() && (done[from] || ops[from].complete.is_none()) {
        from += 1;
    }
    from
}

/// Operations that may be linearized next: not yet linearized and invoked no later than
/// every other pending operation's completion. Before `first` only indeterminate ops can be
/// pending; they bound no completion and were invoked before everything after them, so
/// they are all in the window.
fn window(ops: &Ops, done: &[bool], first: usize) -> Vec<usize> {
    let mut out: Vec<usize> = ops
        .loose
        .iter()
        .copied()
        .take_while(|&j| j < first)
        .filter(|&j| !done[j])
        .collect();
    let mut min_complete = u64::MAX;
    for (j, op) in ops.ops.iter().enumerate().skip(first) {
        if done[j] {
            continue;
        }
        // Sorted by invocation: everything from here on starts after some pending op ended.
        if op.invoke > min_complete {
            break;
        }
        out.push(j);
        if let Some(c) = op.complete {
            min_complete = min_complete.min(c);
        }
    }
    out
}

fn new_frame(
    ops: &Ops,
    done: &[bool],
    model: &StockModel,
    first: usize,
    stock: u64,
    via: Option<usize>,
) -> Frame {
    let mut moves = Vec::new();
    for j in window(ops, done, first) {
        for before in model.before_op(stock) {
            if let Some(after) = model.step(before, ops.ops[j].action) {
                moves.push((j, after));
            }
        }
    }
    // Determinate ops first: they must all be placed, so failing fast on them prunes most.
    moves.sort_by_key(|&(j, _)| ops.ops[j].complete.is_none());
    Frame {
        moves,
        next: 0,
        via,
        first,
    }
}

/// Deterministic pseudo-random keys (SplitMix64): the search is reproducible run to run.
fn zobrist_keys(n: usize) -> Vec<u128> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| ((next() as u128) << 64) | next() as u128)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::model::AutoRestock;
    use super::*;

    fn budget() -> Budget {
        Budget {
            deadline: Instant::now() + Duration::from_secs(10),
            max_memo: 1_000_000,
        }
    }

    fn op(id: u64, invoke: u64, complete: u64, action: Action) -> LinOp {
        LinOp {
            id,
            invoke,
            complete: Some(complete),
            action,
        }
    }

    fn lost(id: u64, invoke: u64, action: Action) -> LinOp {
        LinOp {
            id,
            invoke,
            complete: None,
            action,
        }
    }

    fn read(value: u64) -> Action {
        Action::Read { value }
    }

    fn order(quantity: u64) -> Action {
        Action::Order {
            quantity,
            placed: Some(true),
        }
    }

    fn refused(quantity: u64) -> Action {
        Action::Order {
            quantity,
            placed: Some(false),
        }
    }

    fn unknown_order(quantity: u64) -> Action {
        Action::Order {
            quantity,
            placed: None,
        }
    }

    fn restock(amount: u64, after: u64) -> Action {
        Action::Restock {
            amount,
            after: Some(after),
        }
    }

    fn run(initial: u64, ops: &[LinOp]) -> LinResult {
        check(initial, ops, &StockModel::default(), budget())
    }

    #[test]
    fn sequential_history_is_accepted() {
        let ops = [
            op(1, 0, 10, read(10)),
            op(2, 20, 30, order(3)),
            op(3, 40, 50, read(7)),
            op(4, 60, 70, restock(5, 12)),
            op(5, 80, 90, refused(13)),
            op(6, 100, 110, read(12)),
        ];
        assert_eq!(run(10, &ops), LinResult::Linearizable);
    }

    #[test]
    fn concurrent_read_may_see_either_side_of_an_order() {
        for seen in [10, 7] {
            let ops = [
                op(1, 0, 100, order(3)),
                op(2, 10, 50, read(seen)),
                op(3, 200, 210, read(7)),
            ];
            assert_eq!(run(10, &ops), LinResult::Linearizable, "read saw {seen}");
        }
    }

    #[test]
    fn reads_must_agree_on_the_order_of_concurrent_writes() {
        // Two overlapping orders; the reads may order them either way, but consistently.
        let ops = [
            op(1, 0, 100, order(1)),
            op(2, 0, 100, order(2)),
            op(3, 10, 90, read(9)),
            op(4, 10, 90, read(7)),
        ];
        assert_eq!(run(10, &ops), LinResult::Linearizable);
        let ops = [
            op(1, 0, 100, order(1)),
            op(2, 0, 100, order(2)),
            op(3, 10, 50, read(8)),
            op(4, 60, 90, read(9)),
        ];
        assert!(matches!(run(10, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn stale_read_is_rejected() {
        let ops = [op(1, 0, 10, order(3)), op(2, 20, 30, read(10))];
        match run(10, &ops) {
            LinResult::NotLinearizable(v) => {
                assert_eq!(v.linearized, 1);
                assert_eq!(v.stock, 7);
                assert_eq!(v.stuck_ops, vec![2]);
            }
            other => panic!("stale read accepted: {other:?}"),
        }
    }

    #[test]
    fn lost_write_is_rejected() {
        let ops = [
            op(1, 0, 10, restock(5, 15)),
            op(2, 20, 30, order(1)),
            op(3, 40, 50, read(9)),
        ];
        assert!(matches!(run(10, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn double_applied_retry_is_rejected() {
        // One acknowledged order of 2 (its retry was deduplicated, or should have been),
        // yet 4 units are gone.
        let ops = [op(1, 0, 50, order(2)), op(2, 60, 70, read(6))];
        assert!(matches!(run(10, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn oversell_is_rejected() {
        let ops = [op(1, 0, 10, order(3)), op(2, 0, 10, order(3))];
        assert!(matches!(run(5, &ops), LinResult::NotLinearizable(_)));
        assert_eq!(run(6, &ops), LinResult::Linearizable);
    }

    #[test]
    fn wrong_refusal_is_rejected() {
        let ops = [op(1, 0, 10, refused(3)), op(2, 20, 30, read(5))];
        assert!(matches!(run(5, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn indeterminate_order_may_take_effect_late_or_never() {
        let ops = [
            lost(1, 0, unknown_order(2)),
            op(2, 10, 20, read(10)),
            op(3, 30, 40, read(8)),
            op(4, 50, 60, read(8)),
        ];
        assert_eq!(run(10, &ops), LinResult::Linearizable);
        let ops = [
            lost(1, 0, unknown_order(2)),
            op(2, 10, 20, read(10)),
            op(3, 30, 40, read(10)),
        ];
        assert_eq!(run(10, &ops), LinResult::Linearizable);
        // ...but once seen applied it cannot be undone.
        let ops = [
            lost(1, 0, unknown_order(2)),
            op(2, 10, 20, read(8)),
            op(3, 30, 40, read(10)),
        ];
        assert!(matches!(run(10, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn indeterminate_op_cannot_take_effect_before_it_was_invoked() {
        let ops = [op(1, 0, 10, read(8)), lost(2, 20, unknown_order(2))];
        assert!(matches!(run(10, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn an_indeterminate_op_applies_at_most_once() {
        let ops = [lost(1, 0, unknown_order(2)), op(2, 10, 20, read(6))];
        assert!(matches!(run(10, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn auto_restock_explains_a_jump_only_when_modelled() {
        let ops = [op(1, 0, 10, order(3)), op(2, 20, 30, read(100))];
        assert!(matches!(run(12, &ops), LinResult::NotLinearizable(_)));
        let model = StockModel {
            auto_restock: Some(AutoRestock {
                threshold: 10,
                amount: 100,
            }),
        };
        assert_eq!(check(12, &ops, &model, budget()), LinResult::Linearizable);
        // Above the threshold the timer does nothing.
        assert!(matches!(
            check(20, &ops, &model, budget()),
            LinResult::NotLinearizable(_)
        ));
    }

    #[test]
    fn long_concurrent_history_is_checked_quickly() {
        // 8 overlapping workers, 4000 ops, one consistent sequential order behind them.
        let mut ops = Vec::new();
        let mut stock = 1000u64;
        for k in 0..4000u64 {
            let t = k * 10;
            let action = match k % 4 {
                0 => {
                    stock -= 1;
                    order(1)
                }
                1 => read(stock),
                2 => {
                    stock += 1;
                    restock(1, stock)
                }
                _ => read(stock),
            };
            // Each op spans a window that overlaps its 7 neighbours, effect in the middle.
            ops.push(op(k, t.saturating_sub(35), t + 35, action));
        }
        let started = Instant::now();
        assert_eq!(run(1000, &ops), LinResult::Linearizable);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn an_early_indeterminate_order_can_take_effect_long_after() {
        // Lost at the start, seen only at the end: the search must still reach it after
        // thousands of operations have been linearized past it.
        let mut ops = vec![lost(1, 0, unknown_order(3))];
        for k in 0..5_000u64 {
            ops.push(op(2 + k, 10 + 10 * k, 15 + 10 * k, read(10)));
        }
        ops.push(op(9_000, 60_000, 60_005, read(7)));
        assert_eq!(run(10, &ops), LinResult::Linearizable);
        // And it cannot explain a level it never makes.
        ops.push(op(9_001, 60_010, 60_015, read(4)));
        assert!(matches!(run(10, &ops), LinResult::NotLinearizable(_)));
    }

    #[test]
    fn a_long_history_behind_an_indeterminate_order_is_judged_within_the_budget() {
        // 200 k operations behind one that never completed: a window scanned from the
        // pending op over everything linearized since would cost ~2e10 steps and run out
        // of the budget; the search must finish with a verdict.
        let mut ops = vec![lost(1, 0, unknown_order(1))];
        for k in 0..200_000u64 {
            ops.push(op(2 + k, 10 + 10 * k, 15 + 10 * k, read(10)));
        }
        assert_eq!(run(10, &ops), LinResult::Linearizable);
    }

    #[test]
    fn exhausted_budget_reports_unknown() {
        let ops: Vec<LinOp> = (0..40)
            .map(|k| lost(k, 0, unknown_order(1)))
            .chain([op(99, 0, 10, read(1000))])
            .collect();
        let tight = Budget {
            deadline: Instant::now() + Duration::from_secs(10),
            max_memo: 1000,
        };
        assert!(matches!(
            check(100, &ops, &StockModel::default(), tight),
            LinResult::Unknown { .. }
        ));
    }
}
