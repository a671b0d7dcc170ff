//! The applied state as readers see it: an immutable view the state machine publishes
//! after each write batch is on disk. Readers take the current view without blocking and
//! never wait for apply, snapshot install or expiry. A view holds the database generation
//! it was applied to, so a reader keeps a consistent picture across a snapshot install.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rocksdb::IteratorMode;

use super::content::{self, ContentSum, KEY_CONTENT};
use super::error::StoreError;
use super::pool::blocking;
use super::rocks::be64;
use super::sm_db::{SmDb, CF_ALARMS, CF_ARCHIVES, CF_META, CF_ORDERS, CF_PRODUCTS, KEY_META};
use super::sm_meta::SmMeta;
use crate::codec::decode;
use crate::shop::{AlarmRecord, ArchiveRecord, OrderRecord, ProductRecord, ShopState};
use crate::types::{LogId, StoredMembership};

/// Everything applied up to `last_applied` that lives in memory, and the database that
/// holds the rest. Cheap to clone: the catalog is a persistent map.
#[derive(Clone)]
pub struct AppliedView {
    pub shop: ShopState,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub db: Arc<SmDb>,
    /// The content sum of what `db` holds at `last_applied`.
    pub content: ContentSum,
}

impl std::fmt::Debug for AppliedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppliedView")
            .field("last_applied", &self.last_applied)
            .field("generation", &self.db.generation)
            .finish_non_exhaustive()
    }
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

    /// The applied state `db` holds (its metadata and its catalog).
    pub(super) fn load(db: Arc<SmDb>, retention: u64) -> Result<Self, StoreError> {
        let meta: SmMeta = match db.rocks.get_cf(db.cf(CF_META)?, KEY_META)? {
            Some(bytes) => decode(&bytes)?,
            None => SmMeta::default(),
        };
        let mut shop = ShopState::new(retention);
        for item in db
            .rocks
            .iterator_cf(db.cf(CF_PRODUCTS)?, IteratorMode::Start)
        {
            let (_, value) = item?;
            let p: ProductRecord = decode(&value)?;
            shop.products.insert(p.name.clone(), p);
        }
        for item in db.rocks.iterator_cf(db.cf(CF_ALARMS)?, IteratorMode::Start) {
            let (_, value) = item?;
            let alarm: AlarmRecord = decode(&value)?;
            shop.alarms.insert(alarm);
        }
        for item in db
            .rocks
            .iterator_cf(db.cf(CF_ARCHIVES)?, IteratorMode::Start)
        {
            let (_, value) = item?;
            let archive: ArchiveRecord = decode(&value)?;
            shop.archives.push(archive);
        }
        // A database from before the sum was kept gets it from a scan; the next apply
        // stores it.
        let content = match db.rocks.get_cf(db.cf(CF_META)?, KEY_CONTENT)? {
            Some(bytes) => ContentSum::from_bytes(&bytes)?,
            None => content::scan(&db)?,
        };
        shop.next_order = meta.next_order.max(1);
        shop.seeded = meta.seeded;
        shop.digest = meta.digest;
        Ok(Self {
            shop,
            last_applied: meta.last_applied,
            membership: meta.membership,
            db,
            content,
        })
    }
}

/// Where the state machine publishes and readers load the current view.
pub(super) type Published = Arc<ArcSwap<AppliedView>>;

/// Read access to the applied state for the HTTP layer and the leader's duties.
#[derive(Clone)]
pub struct StateReader {
    published: Published,
}

impl StateReader {
    pub(super) fn new(published: Published) -> Self {
        Self { published }
    }

    /// The newest published view; never blocks.
    pub fn current(&self) -> Arc<AppliedView> {
        self.published.load_full()
    }

    pub fn applied_index(&self) -> u64 {
        self.published.load().applied_index()
    }

    /// Order `number` as `view` has it. Orders never change once written.
    pub async fn order(
        &self,
        view: &AppliedView,
        number: u64,
    ) -> Result<Option<OrderRecord>, StoreError> {
        let db = view.db.clone();
        blocking(
            move || match db.rocks.get_cf(db.cf(CF_ORDERS)?, be64(number))? {
                Some(bytes) => Ok(Some(decode(&bytes)?)),
                None => Ok(None),
            },
        )
        .await
    }
}
