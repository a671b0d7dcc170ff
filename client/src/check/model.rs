//! The sequential specification of one product's stock that histories are checked
//! against: reads return the level, orders take units or are refused, restocks add.

/// The leader's low-stock timer (`[restock]` in cluster.toml): at any moment a product at
/// or below `threshold` units may be set to `amount` without any client asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoRestock {
    pub threshold: u64,
    pub amount: u64,
}

/// One operation as the model sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read returned `value`.
    Read { value: u64 },
    /// Order of `quantity`: `Some(true)` placed, `Some(false)` refused for insufficient
    /// stock, `None` unknown (indeterminate).
    Order { quantity: u64, placed: Option<bool> },
    /// Restock by `amount`; `after` is the level the answer reported, if any.
    Restock { amount: u64, after: Option<u64> },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StockModel {
    pub auto_restock: Option<AutoRestock>,
}

impl StockModel {
    /// The state after `action` at `stock`, or `None` if `action` cannot happen there
    /// with the observed result. An indeterminate order that would be refused returns
    /// `None` too: taking effect as a refusal is the same as not taking effect.
    pub fn step(&self, stock: u64, action: Action) -> Option<u64> {
        match action {
            Action::Read { value } => (value == stock).then_some(stock),
            Action::Order {
                quantity,
                placed: Some(true),
            }
            | Action::Order {
                quantity,
                placed: None,
            } => stock.checked_sub(quantity),
            Action::Order {
                quantity,
                placed: Some(false),
            } => (stock < quantity).then_some(stock),
            Action::Restock { amount, after } => {
                let next = stock.checked_add(amount)?;
                match after {
                    Some(seen) if seen != next => None,
                    _ => Some(next),
                }
            }
        }
    }

    /// States the product may be in just before an operation takes effect at `stock`.
    pub fn before_op(&self, stock: u64) -> impl Iterator<Item = u64> {
        let spontaneous = self
            .auto_restock
            .filter(|r| stock <= r.threshold && r.amount != stock)
            .map(|r| r.amount);
        std::iter::once(stock).chain(spontaneous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_take_units_or_are_refused_only_when_short() {
        let m = StockModel::default();
        assert_eq!(
            m.step(
                5,
                Action::Order {
                    quantity: 2,
                    placed: Some(true)
                }
            ),
            Some(3)
        );
        assert_eq!(
            m.step(
                1,
                Action::Order {
                    quantity: 2,
                    placed: Some(true)
                }
            ),
            None
        );
        assert_eq!(
            m.step(
                1,
                Action::Order {
                    quantity: 2,
                    placed: Some(false)
                }
            ),
            Some(1)
        );
        assert_eq!(
            m.step(
                2,
                Action::Order {
                    quantity: 2,
                    placed: Some(false)
                }
            ),
            None
        );
        assert_eq!(
            m.step(
                1,
                Action::Order {
                    quantity: 2,
                    placed: None
                }
            ),
            None
        );
    }

    #[test]
    fn restocks_must_report_the_level_they_produced() {
        let m = StockModel::default();
        assert_eq!(
            m.step(
                5,
                Action::Restock {
                    amount: 3,
                    after: Some(8)
                }
            ),
            Some(8)
        );
        assert_eq!(
            m.step(
                5,
                Action::Restock {
                    amount: 3,
                    after: Some(9)
                }
            ),
            None
        );
        assert_eq!(m.step(5, Action::Read { value: 4 }), None);
    }

    #[test]
    fn auto_restock_only_fires_at_or_below_the_threshold() {
        let m = StockModel {
            auto_restock: Some(AutoRestock {
                threshold: 10,
                amount: 100,
            }),
        };
        assert_eq!(m.before_op(10).collect::<Vec<_>>(), vec![10, 100]);
        assert_eq!(m.before_op(11).collect::<Vec<_>>(), vec![11]);
    }
}
