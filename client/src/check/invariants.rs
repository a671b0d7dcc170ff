//! Whole-run invariants checked after the fact: every acknowledged order readable with
//! its content, order numbers and idempotency keys used once, no order without a request,
//! stock within bounds, and units conserved per product.

use std::collections::{BTreeMap, HashMap};

use super::anomaly::Anomaly;
use super::history::{OpKind, OpRecord, Outcome};
use super::model::AutoRestock;

/// An order as read back at the end of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundOrder {
    pub number: u64,
    pub name: String,
    pub quantity: u64,
}

/// What the run knows about one product it exercised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductFacts {
    pub name: String,
    pub initial: u64,
    /// Stock read (linearizably) after the cluster healed.
    pub final_stock: u64,
}

/// Everything the end-of-run checks look at.
pub struct Evidence<'a> {
    pub history: &'a [OpRecord],
    pub products: &'a [ProductFacts],
    /// Every order numbered after the run began, as read back.
    pub found: &'a BTreeMap<u64, FoundOrder>,
    pub auto_restock: Option<AutoRestock>,
}

pub fn check_invariants(ev: &Evidence<'_>) -> Vec<Anomaly> {
    let mut out = Vec::new();
    check_acknowledged(ev, &mut out);
    check_phantoms(ev, &mut out);
    for product in ev.products {
        check_product_units(ev, product, &mut out);
    }
    for op in ev.history {
        if let Some(detail) = &op.unexpected {
            out.push(Anomaly::UnexpectedAnswer {
                op: op.id,
                detail: detail.clone(),
            });
        }
    }
    out
}

fn check_acknowledged(ev: &Evidence<'_>, out: &mut Vec<Anomaly>) {
    let mut by_number: HashMap<u64, u64> = HashMap::new();
    for op in ev.history {
        let Outcome::OrderOk {
            number,
            quantity,
            name,
        } = &op.outcome
        else {
            continue;
        };
        if let Some(other) = by_number.insert(*number, op.id) {
            out.push(Anomaly::DuplicateNumber {
                number: *number,
                ops: (other, op.id),
            });
        }
        for again in &op.replays {
            if again != number {
                out.push(Anomaly::KeyAppliedTwice {
                    op: op.id,
                    first: *number,
                    again: *again,
                });
            }
        }
        match ev.found.get(number) {
            None => out.push(Anomaly::LostOrder {
                number: *number,
                product: op.product.clone(),
                op: op.id,
            }),
            Some(found)
                if found.name != *name || found.quantity != *quantity || *name != op.product =>
            {
                out.push(Anomaly::OrderMismatch {
                    number: *number,
                    expected: format!("{quantity} x {}", op.product),
                    found: format!("{} x {}", found.quantity, found.name),
                })
            }
            Some(_) => {}
        }
    }
}

/// Orders on our products that no acknowledgement names must each be matched by a
/// distinct indeterminate order of the same product and quantity.
fn check_phantoms(ev: &Evidence<'_>, out: &mut Vec<Anomaly>) {
    let acked: HashMap<u64, ()> = ev
        .history
        .iter()
        .filter_map(|op| match op.outcome {
            Outcome::OrderOk { number, .. } => Some((number, ())),
            _ => None,
        })
        .collect();
    let mut open: HashMap<(&str, u64), usize> = HashMap::new();
    for op in ev.history {
        if let (OpKind::Order { quantity, .. }, true) = (&op.kind, op.outcome.is_indeterminate()) {
            *open.entry((op.product.as_str(), *quantity)).or_default() += 1;
        }
    }
    for order in ev.found.values() {
        if acked.contains_key(&order.number) || !ev.products.iter().any(|p| p.name == order.name) {
            continue;
        }
        match open.get_mut(&(order.name.as_str(), order.quantity)) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(Anomaly::PhantomOrder {
                number: order.number,
                product: order.name.clone(),
                quantity: order.quantity,
            }),
        }
    }
}

fn check_product_units(ev: &Evidence<'_>, product: &ProductFacts, out: &mut Vec<Anomaly>) {
    let ops = ev.history.iter().filter(|op| op.product == product.name);
    let mut restocked_acked = 0u64;
    let mut restocked_maybe = Vec::new();
    for op in ops.clone() {
        if let OpKind::Restock { amount } = op.kind {
            match op.outcome {
                Outcome::RestockOk { .. } => restocked_acked += amount,
                Outcome::Indeterminate { .. } => restocked_maybe.push(amount),
                _ => {}
            }
        }
    }
    let ceiling_base = match ev.auto_restock {
        Some(r) => product.initial.max(r.amount),
        None => product.initial,
    };
    let bound = ceiling_base + restocked_acked + restocked_maybe.iter().sum::<u64>();
    for op in ops {
        if let Outcome::ReadOk { stock } | Outcome::RestockOk { stock } = op.outcome {
            if stock > bound {
                out.push(Anomaly::StockOutOfRange {
                    product: product.name.clone(),
                    op: op.id,
                    stock,
                    bound,
                });
            }
        }
    }
    // Every order that exists counts, acknowledged or resolved from an indeterminate one;
    // a lost acknowledged order is reported on its own and counted as taken.
    let mut ordered: u64 = ev
        .found
        .values()
        .filter(|o| o.name == product.name)
        .map(|o| o.quantity)
        .sum();
    for op in ev.history.iter().filter(|op| op.product == product.name) {
        if let Outcome::OrderOk {
            number, quantity, ..
        } = &op.outcome
        {
            if !ev.found.contains_key(number) {
                ordered += quantity;
            }
        }
    }
    // final = initial + restocked - ordered, so the indeterminate restocks that took
    // effect must add up to exactly this.
    let unexplained = product.final_stock as i128 + ordered as i128
        - product.initial as i128
        - restocked_acked as i128;
    let detail = || {
        format!(
            "initial {} + restocked {} (+ up to {} unconfirmed) - ordered {} != final {}",
            product.initial,
            restocked_acked,
            restocked_maybe.iter().sum::<u64>(),
            ordered,
            product.final_stock
        )
    };
    if unexplained < 0 {
        out.push(Anomaly::UnitsNotConserved {
            product: product.name.clone(),
            detail: detail(),
        });
        return;
    }
    // With the low-stock timer on, any surplus may be its doing.
    if ev.auto_restock.is_none() && !is_subset_sum(&restocked_maybe, unexplained as u64) {
        out.push(Anomaly::UnitsNotConserved {
            product: product.name.clone(),
            detail: detail(),
        });
    }
}

/// Whether some subset of `amounts` adds up to `target`.
pub fn is_subset_sum(amounts: &[u64], target: u64) -> bool {
    let total: u64 = amounts.iter().sum();
    if target > total {
        return false;
    }
    let mut reachable = vec![false; target as usize + 1];
    reachable[0] = true;
    for &a in amounts {
        let a = a as usize;
        for s in (a..reachable.len()).rev() {
            if reachable[s - a] {
                reachable[s] = true;
            }
        }
    }
    reachable[target as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, kind: OpKind, outcome: Outcome) -> OpRecord {
        OpRecord {
            id,
            worker: 0,
            product: "p".into(),
            kind,
            invoke_us: id * 10,
            complete_us: id * 10 + 5,
            outcome,
            replays: vec![],
            unexpected: None,
            path: None,
            index: None,
        }
    }

    fn order(id: u64, quantity: u64, outcome: Outcome) -> OpRecord {
        rec(
            id,
            OpKind::Order {
                quantity,
                key: format!("k{id}"),
            },
            outcome,
        )
    }

    fn ok(number: u64, quantity: u64) -> Outcome {
        Outcome::OrderOk {
            number,
            quantity,
            name: "p".into(),
        }
    }

    fn found(list: &[(u64, u64)]) -> BTreeMap<u64, FoundOrder> {
        list.iter()
            .map(|&(number, quantity)| {
                (
                    number,
                    FoundOrder {
                        number,
                        name: "p".into(),
                        quantity,
                    },
                )
            })
            .collect()
    }

    fn facts(initial: u64, final_stock: u64) -> Vec<ProductFacts> {
        vec![ProductFacts {
            name: "p".into(),
            initial,
            final_stock,
        }]
    }

    fn run(
        history: &[OpRecord],
        products: &[ProductFacts],
        found: &BTreeMap<u64, FoundOrder>,
    ) -> Vec<Anomaly> {
        check_invariants(&Evidence {
            history,
            products,
            found,
            auto_restock: None,
        })
    }

    fn maybe() -> Outcome {
        Outcome::Indeterminate {
            error: "timeout".into(),
        }
    }

    #[test]
    fn clean_run_with_resolved_indeterminate_ops_passes() {
        let history = vec![
            order(1, 2, ok(1, 2)),
            order(2, 1, maybe()),
            order(3, 3, maybe()),
            rec(
                4,
                OpKind::Restock { amount: 5 },
                Outcome::RestockOk { stock: 12 },
            ),
            rec(5, OpKind::Restock { amount: 4 }, maybe()),
            rec(6, OpKind::Read, Outcome::ReadOk { stock: 11 }),
        ];
        // Order 2 happened (#2), order 3 did not; the unconfirmed restock did.
        let orders = found(&[(1, 2), (2, 1)]);
        assert_eq!(run(&history, &facts(10, 16), &orders), vec![]);
    }

    #[test]
    fn lost_and_altered_orders_are_reported() {
        let history = vec![order(1, 2, ok(1, 2)), order(2, 1, ok(2, 1))];
        let orders = found(&[(2, 3)]);
        let anomalies = run(&history, &facts(10, 7), &orders);
        assert!(
            anomalies
                .iter()
                .any(|a| matches!(a, Anomaly::LostOrder { number: 1, .. })),
            "{anomalies:?}"
        );
        assert!(
            anomalies
                .iter()
                .any(|a| matches!(a, Anomaly::OrderMismatch { number: 2, .. })),
            "{anomalies:?}"
        );
    }

    #[test]
    fn double_applied_retry_shows_as_phantom_and_lost_units() {
        let history = vec![order(1, 2, ok(1, 2))];
        // The retry of op 1 created a second order #2 and took 2 more units.
        let orders = found(&[(1, 2), (2, 2)]);
        let anomalies = run(&history, &facts(10, 6), &orders);
        assert!(
            anomalies
                .iter()
                .any(|a| matches!(a, Anomaly::PhantomOrder { number: 2, .. })),
            "{anomalies:?}"
        );
    }

    #[test]
    fn replayed_key_must_return_the_same_order() {
        let mut op = order(1, 1, ok(1, 1));
        op.replays = vec![1, 2];
        let anomalies = run(&[op], &facts(10, 9), &found(&[(1, 1)]));
        assert_eq!(
            anomalies,
            vec![Anomaly::KeyAppliedTwice {
                op: 1,
                first: 1,
                again: 2
            }]
        );
    }

    #[test]
    fn duplicate_numbers_are_reported() {
        let history = vec![order(1, 1, ok(1, 1)), order(2, 1, ok(1, 1))];
        let anomalies = run(&history, &facts(10, 9), &found(&[(1, 1)]));
        assert!(
            anomalies
                .iter()
                .any(|a| matches!(a, Anomaly::DuplicateNumber { number: 1, .. })),
            "{anomalies:?}"
        );
    }

    #[test]
    fn units_must_add_up() {
        let history = vec![
            order(1, 2, ok(1, 2)),
            rec(2, OpKind::Restock { amount: 5 }, maybe()),
        ];
        let orders = found(&[(1, 2)]);
        // 10 - 2 = 8, or 13 with the restock; 11 is neither.
        assert_eq!(run(&history, &facts(10, 8), &orders), vec![]);
        assert_eq!(run(&history, &facts(10, 13), &orders), vec![]);
        assert!(matches!(
            run(&history, &facts(10, 11), &orders)[..],
            [Anomaly::UnitsNotConserved { .. }]
        ));
        assert!(matches!(
            run(&history, &facts(10, 7), &orders)[..],
            [Anomaly::UnitsNotConserved { .. }]
        ));
    }

    #[test]
    fn wrapped_negative_stock_is_out_of_range() {
        let history = vec![rec(1, OpKind::Read, Outcome::ReadOk { stock: u64::MAX })];
        let anomalies = run(&history, &facts(10, 10), &found(&[]));
        assert!(
            matches!(anomalies[..], [Anomaly::StockOutOfRange { .. }]),
            "{anomalies:?}"
        );
    }

    #[test]
    fn subset_sums() {
        assert!(is_subset_sum(&[3, 5, 7], 12));
        assert!(is_subset_sum(&[], 0));
        assert!(!is_subset_sum(&[3, 5, 7], 11));
        assert!(!is_subset_sum(&[3], 4));
    }
}
