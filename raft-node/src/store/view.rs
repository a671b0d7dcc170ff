//! The applied state as readers see it: an immutable view the state machine publishes
//! after each write batch is on disk. Readers take the current view without blocking and
//! never wait for apply, snapshot install or expiry.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::db::{be64, Db, CF_ORDERS};
use super::error::{blocking, StoreError};
use super::snapshot::SmMeta;
use crate::codec::decode;
use crate::shop::{OrderRecord, ProductRecord, ShopState};
use crate::types::{LogId, StoredMembership};

/// Everything applied up to `last_applied` that lives in memory. Cheap to clone: the
/// catalog is a persistent map.
#[derive(Debug, Clone)]
pub struct AppliedView {
    pub shop: ShopState,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

impl AppliedView {
    pub fn applied_index(&self) -> u64 {
        self.last_applied.map(|l| l.index).unwrap_or(0)
    }

    pub(super) fn meta(&self) -> SmMeta {
        SmMeta {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            next_order: self.shop.next_order,
            seeded: self.shop.seeded,
            digest: self.shop.digest,
        }
    }

    pub(super) fn from_meta(
        meta: SmMeta,
        products: impl IntoIterator<Item = ProductRecord>,
        retention: u64,
    ) -> Self {
        let mut shop = ShopState::new(retention);
        shop.products = products.into_iter().map(|p| (p.name.clone(), p)).collect();
        shop.next_order = meta.next_order.max(1);
        shop.seeded = meta.seeded;
        shop.digest = meta.digest;
        Self {
            shop,
            last_applied: meta.last_applied,
            membership: meta.membership,
        }
    }
}

/// Where the state machine publishes and readers load the current view.
pub(super) type Published = Arc<ArcSwap<AppliedView>>;

/// Read access to the applied state for the HTTP layer and the leader's duties.
#[derive(Clone)]
pub struct StateReader {
    db: Arc<Db>,
    published: Published,
}

impl StateReader {
    pub(super) fn new(db: Arc<Db>, published: Published) -> Self {
        Self { db, published }
    }

    /// The newest published view; never blocks.
    pub fn current(&self) -> Arc<AppliedView> {
        self.published.load_full()
    }

    pub fn applied_index(&self) -> u64 {
        self.published.load().applied_index()
    }

    /// Order `number`, if it exists. Orders never change once written, so the newest
    /// data answers for any view that already has the order.
    pub async fn order(&self, number: u64) -> Result<Option<OrderRecord>, StoreError> {
        let db = self.db.clone();
        blocking(
            move || match db.rocks.get_cf(db.cf(CF_ORDERS)?, be64(number))? {
                Some(bytes) => Ok(Some(decode(&bytes)?)),
                None => Ok(None),
            },
        )
        .await
    }
}
