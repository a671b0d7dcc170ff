//! The shop state machine on RocksDB. Each apply call works on a copy of the applied
//! state, writes its data and `last_applied` in one atomic write batch, and only then
//! publishes the copy as the new view: memory never runs ahead of the database, and no
//! lock is shared with the readers. Snapshots stream to and from files; an installed one
//! becomes a new database generation, switched in atomically.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bazaar_api::ChangeEvent;
use bazaar_service::Step;
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};

use super::archive_events::{ArchiveEvent, ArchiveEvents};
use super::content::{self, ContentSum, KEY_CONTENT};
#[cfg(feature = "failpoints")]
use super::error::failpoint_io;
use super::error::StoreError;
use super::pool::{self, blocking};
use super::sink::RocksSink;
use super::sm_db::{SmDb, SmDirs, CF_DEDUPE, CF_META, KEY_META};
use super::snapshot::{dump_to_file, install_generation, SnapshotFiles, StreamHeader};
use super::state_checks::StateChecks;
use super::view::{AppliedView, Published, StateReader};
use crate::codec::encode;
use crate::fail_stop::{StorageHealth, StoragePart};
use crate::feed::ChangeFeed;
use crate::shop::{ArchiveRejection, Changes, Command, CommandResult, StateDigest};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

pub struct StateMachine {
    dirs: SmDirs,
    /// The applied state; the same value readers see (published after every apply).
    state: Arc<AppliedView>,
    published: Published,
    feed: ChangeFeed,
    snapshots: SnapshotFiles,
    dedupe_retention: u64,
    /// The file openraft is writing a received snapshot into.
    receiving: Option<PathBuf>,
    /// Where each apply's duration goes, when the node keeps metrics.
    apply_timing: Option<Step>,
    /// Where every error of this store is recorded: any of them fail-stops the node.
    health: StorageHealth,
    /// The `CheckState` entries applied here, for the leader to compare.
    checks: StateChecks,
    /// Archive commits applied or refused here, for the node's reclaim and alarm task.
    archive_events: ArchiveEvents,
}

impl StateMachine {
    /// Opens the current generation under `<data_dir>/sm` and the snapshot folder.
    pub async fn open(data_dir: &Path, dedupe_retention: u64) -> Result<Self, StoreError> {
        let dirs = SmDirs::new(data_dir.join("sm"));
        let snapshot_dir = data_dir.join("snapshots");
        let (dirs, state, snapshots) = blocking(move || {
            let db = Arc::new(dirs.open_current()?);
            let state = AppliedView::load(db, dedupe_retention)?;
            verify_at_start(&state)?;
            let snapshots = SnapshotFiles::open(&snapshot_dir)?;
            // A damaged snapshot is never sent: it is replaced by one built from the state
            // just checked (at an applied index at least the old one's).
            if let Err(damage) = snapshots.verify_current() {
                tracing::error!(
                    file = %snapshots.current_path().display(),
                    cause = %damage,
                    "the current snapshot is damaged; building a new one from the checked state"
                );
                build_snapshot_file(&state.db, &snapshots)?;
            }
            Ok((dirs, state, snapshots))
        })
        .await?;
        state.db.expiry.set(state.applied_index(), dedupe_retention);
        let feed = ChangeFeed::new(state.applied_index());
        let state = Arc::new(state);
        Ok(Self {
            dirs,
            published: Arc::new(ArcSwap::new(state.clone())),
            state,
            feed,
            snapshots,
            dedupe_retention,
            receiving: None,
            apply_timing: None,
            health: StorageHealth::default(),
            checks: StateChecks::default(),
            archive_events: ArchiveEvents::default(),
        })
    }

    /// Where archive commits applied or refused here are announced.
    pub fn archive_events(&self) -> ArchiveEvents {
        self.archive_events.clone()
    }

    /// Records this store's errors in `health` (the node's), so any of them fail-stops it.
    pub fn with_health(mut self, health: StorageHealth) -> Self {
        self.health = health;
        self
    }

    /// Times every apply (one batch of entries) into `step`.
    pub fn with_apply_timing(mut self, step: Step) -> Self {
        self.apply_timing = Some(step);
        self
    }

    pub fn reader(&self) -> StateReader {
        StateReader::new(self.published.clone())
    }

    pub fn feed(&self) -> ChangeFeed {
        self.feed.clone()
    }

    pub fn snapshot_files(&self) -> SnapshotFiles {
        self.snapshots.clone()
    }

    pub fn state_checks(&self) -> StateChecks {
        self.checks.clone()
    }

    /// The file holding a snapshot handed to `install_snapshot`: normally the one
    /// `begin_receiving_snapshot` made (openraft wrote the chunks into it); any other
    /// handle is copied into a new file of ours first.
    async fn received_file(
        &mut self,
        mut snapshot: Box<tokio::fs::File>,
    ) -> Result<PathBuf, StoreError> {
        snapshot.sync_all().await?;
        if let Some(path) = self.receiving.take() {
            if same_file(&snapshot, &path).await? {
                return Ok(path);
            }
            let _ = tokio::fs::remove_file(&path).await;
        }
        let path = self.snapshots.part_path("copy");
        let mut copy = tokio::fs::File::create(&path).await?;
        tokio::io::AsyncSeekExt::seek(&mut *snapshot, std::io::SeekFrom::Start(0)).await?;
        tokio::io::copy(&mut *snapshot, &mut copy).await?;
        copy.sync_all().await?;
        Ok(path)
    }

    /// Scans the disk in the background (one thread of the blocking pool; apply goes on)
    /// and files what it finds under the state check at `index`. A scan that cannot read
    /// the database is a storage failure like any other.
    fn scan_disk(&self, index: u64) {
        let db = self.state.db.clone();
        let checks = self.checks.clone();
        let health = self.health.clone();
        tokio::task::spawn_blocking(move || {
            pool::mark_pool_thread();
            let started = Instant::now();
            match content::check_disk(&db) {
                Ok(outcome) => {
                    match &outcome {
                        Ok(()) => tracing::debug!(
                            index,
                            took_ms = started.elapsed().as_millis() as u64,
                            "state on disk checked"
                        ),
                        Err(why) => tracing::error!(index, cause = %why, "state on disk damaged"),
                    }
                    checks.disk_scanned(index, outcome);
                }
                Err(e) => health.record(StoragePart::StateMachine, &e),
            }
        });
    }

    fn publish(&mut self, state: AppliedView) {
        state
            .db
            .expiry
            .set(state.applied_index(), self.dedupe_retention);
        self.state = Arc::new(state);
        self.published.store(self.state.clone());
    }
}

/// Reads the whole state database once before it is served: every block's checksum, and
/// the records against the content sum stored with them, so damage on disk, or a record
/// changed behind the node's back, is refused here rather than served.
fn verify_at_start(state: &AppliedView) -> Result<(), StoreError> {
    let started = Instant::now();
    // The families the sum leaves out are only read for their checksums: on a thread of
    // their own, beside the summed scan (a node has the cores to itself at start).
    let (scanned, others) = std::thread::scope(|scope| {
        let others = scope.spawn(|| content::verify_rest(&state.db, &[CF_DEDUPE, CF_META]));
        let scanned = content::scan(&state.db);
        let others = others
            .join()
            .unwrap_or_else(|_| Err(StoreError::Join("the checksum scan panicked".into())));
        (scanned, others)
    });
    let (scanned, others) = (scanned?, others?);
    if scanned != state.content {
        return Err(StoreError::Corrupt(format!(
            "the state database at {} does not hold what was applied: its records sum to \
             {scanned}, the applied state says {}; a record was changed or lost outside \
             this node",
            state.db.path().display(),
            state.content
        )));
    }
    tracing::info!(
        records = scanned.records + others,
        applied = state.applied_index(),
        took_ms = started.elapsed().as_millis() as u64,
        "state database checked"
    );
    Ok(())
}

/// Apply calls with at most this many commands run on the state machine's own task instead
/// of the blocking pool: a few commands and one unsynced write take tens of microseconds,
/// less than the two thread hand-offs of the pool, which sit in series on the path of every
/// write when few arrive at a time. Larger calls (a loaded leader's grouped entries, a
/// follower catching up) still go to the pool, so a worker thread is never held for long.
const INLINE_APPLY_COMMANDS: usize = 4;

/// Whether `command` reads a range of the database when applied (a state check writes its
/// batch early and starts a disk scan; an archive commit reads the orders it removes).
fn reads_ranges(command: &Command) -> bool {
    match command {
        Command::CheckState | Command::ArchiveOrders(_) => true,
        Command::Batch(commands) => commands.iter().any(reads_ranges),
        _ => false,
    }
}

/// Whether an apply call of `entries` runs in place rather than on the blocking pool. A
/// command that reads a range always goes to the pool.
fn applies_in_place(entries: &[Entry]) -> bool {
    let reads = entries
        .iter()
        .any(|entry| matches!(&entry.payload, EntryPayload::Normal(c) if reads_ranges(c)));
    if reads {
        return false;
    }
    let commands: usize = entries
        .iter()
        .map(|entry| match &entry.payload {
            EntryPayload::Normal(command) => command.commands_carried(),
            _ => 1,
        })
        .sum();
    commands <= INLINE_APPLY_COMMANDS
}

/// Applies entries to `state` (a copy) and one write batch, and writes the batch. On error
/// the copy is dropped, so the published state stays what the database holds.
fn apply_blocking(mut state: AppliedView, entries: Vec<Entry>) -> Result<Applied, StoreError> {
    let db = state.db.clone();
    let mut checks = Vec::new();
    let mut sink = RocksSink::new(&db, state.content, state.shop.products.clone());
    let mut results = Vec::with_capacity(entries.len());
    let mut events = Vec::new();
    let mut archive_events = Vec::new();
    for entry in entries {
        let index = entry.log_id.index;
        state.last_applied = Some(entry.log_id);
        let result = match entry.payload {
            EntryPayload::Blank => CommandResult::Nothing,
            EntryPayload::Membership(m) => {
                state.membership = StoredMembership::new(Some(entry.log_id), m);
                CommandResult::Nothing
            }
            EntryPayload::Normal(command) => {
                let mut changes = Changes::default();
                let result = state.shop.apply(index, &command, &mut sink, &mut changes)?;
                sink.changed_products(changes.products.iter().cloned());
                if let CommandResult::StateChecked(digest) = &result {
                    // The content sum at exactly this index, whatever else the call holds:
                    // the products changed so far are counted now, not at the call's end.
                    sink.write_products(&state.shop.products)?;
                    #[allow(unused_mut)]
                    let mut content = sink.content;
                    // A replica whose state silently diverged, for the state check's test.
                    #[cfg(feature = "failpoints")]
                    if fail::eval("sm.check.diverge", |_| ()).is_some() {
                        content.sum ^= 1;
                    }
                    checks.push((index, *digest, content));
                }
                refused_archives(index, &result, &mut archive_events);
                if let Some(range) = changes.archived {
                    archive_events.push(ArchiveEvent::Removed(range));
                }
                if !changes.is_empty() {
                    events.push(ChangeEvent {
                        index,
                        products: changes.products.into_iter().collect(),
                        topics: changes.topics.into_iter().collect(),
                        archived: changes.archived,
                    });
                }
                result
            }
        };
        results.push(result);
    }
    sink.write_products(&state.shop.products)?;
    state.content = sink.content;
    let mut batch = sink.batch;
    batch.put_cf(db.cf(CF_META)?, KEY_META, encode(&state.meta())?);
    batch.put_cf(db.cf(CF_META)?, KEY_CONTENT, state.content.to_bytes());
    // Not synced: the log is. After a crash the state machine resumes from an older
    // `last_applied` and openraft applies the rest again from the log.
    fail::fail_point!("sm.apply.write", |_| Err(failpoint_io("sm.apply.write")));
    db.rocks.write(batch)?;
    Ok(Applied {
        state,
        results,
        events,
        checks,
        archive_events,
    })
}

/// Notes the archive commits in `result` that this replica refused because its own orders
/// differ from the file's.
fn refused_archives(index: u64, result: &CommandResult, out: &mut Vec<ArchiveEvent>) {
    match result {
        CommandResult::Batch(results) => {
            for r in results {
                refused_archives(index, r, out);
            }
        }
        CommandResult::Archived(Err(why @ ArchiveRejection::DigestMismatch { .. })) => {
            out.push(ArchiveEvent::Refused {
                index,
                why: why.to_string(),
            });
        }
        _ => {}
    }
}

/// What one apply call produced.
struct Applied {
    state: AppliedView,
    results: Vec<CommandResult>,
    events: Vec<ChangeEvent>,
    archive_events: Vec<ArchiveEvent>,
    /// The state checks applied: index, digest and content sum there.
    checks: Vec<(u64, StateDigest, ContentSum)>,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn snapshot_meta(header: &StreamHeader) -> SnapshotMeta {
    SnapshotMeta {
        last_log_id: header.meta.last_applied,
        last_membership: header.meta.membership.clone(),
        snapshot_id: header.snapshot_id.clone(),
    }
}

/// Dumps `db` into `snapshots` and makes the dump the node's current snapshot.
fn build_snapshot_file(db: &SmDb, snapshots: &SnapshotFiles) -> Result<SnapshotMeta, StoreError> {
    // What the snapshot holds must survive a power loss before the log behind it is
    // purged: sync the state machine's WAL first (its writes are otherwise unsynced).
    let started = Instant::now();
    db.rocks.flush_wal(true)?;
    let part = snapshots.part_path("build");
    let dumped = dump_to_file(db, &part, |meta| {
        format!("{}-{}", meta.applied_index(), now_ms())
    });
    let dumped = match dumped {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    snapshots.make_current(&part)?;
    tracing::info!(
        index = dumped.header.meta.applied_index(),
        bytes = dumped.bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "snapshot built"
    );
    Ok(snapshot_meta(&dumped.header))
}

async fn open_snapshot(path: PathBuf, meta: SnapshotMeta) -> Result<Snapshot, StoreError> {
    let file = tokio::fs::File::open(path).await?;
    Ok(Snapshot {
        meta,
        snapshot: Box::new(file),
    })
}

/// Builds a snapshot of the generation current when the builder was made.
pub struct SnapshotBuilder {
    db: Arc<SmDb>,
    snapshots: SnapshotFiles,
    health: StorageHealth,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let health = self.health.clone();
        let io = |e: StoreError| {
            e.fail_stop(
                &health,
                StoragePart::Snapshot,
                ErrorSubject::Snapshot(None),
                ErrorVerb::Write,
            )
        };
        let db = self.db.clone();
        let snapshots = self.snapshots.clone();
        let meta = blocking(move || build_snapshot_file(&db, &snapshots))
            .await
            .map_err(io)?;
        open_snapshot(self.snapshots.current_path(), meta)
            .await
            .map_err(io)
    }
}

/// Whether the open `file` is the file at `path`.
async fn same_file(file: &tokio::fs::File, path: &Path) -> Result<bool, StoreError> {
    use std::os::unix::fs::MetadataExt;
    let open = file.metadata().await?;
    let named = tokio::fs::metadata(path).await?;
    Ok(open.dev() == named.dev() && open.ino() == named.ino())
}

/// Removes a replaced generation's folder once no reader holds it any more and its close,
/// on the blocking pool, has finished (`old` is its open mark).
fn remove_when_released(old: Weak<()>, path: PathBuf) {
    tokio::spawn(async move {
        // Readers hold a view for the length of one request; a minute is far past that.
        for _ in 0..600 {
            if old.strong_count() == 0 {
                if let Err(e) =
                    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&path)).await
                {
                    tracing::warn!(cause = %e, "could not remove a replaced generation");
                }
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tracing::warn!(path = %path.display(), "a replaced generation is still in use; the next start removes it");
    });
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let working = AppliedView::clone(&self.state);
        let started = Instant::now();
        let applied = if applies_in_place(&entries) {
            apply_blocking(working, entries)
        } else {
            blocking(move || apply_blocking(working, entries)).await
        };
        let Applied {
            state,
            results,
            events,
            checks,
            archive_events,
        } = applied.map_err(StoreError::failing(
            &self.health,
            StoragePart::StateMachine,
            ErrorSubject::StateMachine,
            ErrorVerb::Write,
        ))?;
        if let Some(step) = &self.apply_timing {
            step.record_since(started);
        }
        let applied = state.applied_index();
        self.publish(state);
        self.feed.publish(events, applied);
        // Nobody listening (tests, a node shutting down) loses nothing: a restart resumes
        // the reclaim of the last archive.
        for event in archive_events {
            self.archive_events.send(event);
        }
        if let Some(&(newest, ..)) = checks.last() {
            for (index, digest, content) in checks {
                self.checks.record(index, digest, content);
            }
            self.scan_disk(newest);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: self.state.db.clone(),
            snapshots: self.snapshots.clone(),
            health: self.health.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let health = self.health.clone();
        let io = |e: std::io::Error| {
            StoreError::from(e).fail_stop(
                &health,
                StoragePart::Snapshot,
                ErrorSubject::Snapshot(None),
                ErrorVerb::Write,
            )
        };
        let path = self.snapshots.part_path("receive");
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .map_err(io)?;
        if let Some(stale) = self.receiving.replace(path) {
            let _ = tokio::fs::remove_file(stale).await;
        }
        Ok(Box::new(file))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let health = self.health.clone();
        let io = |e: StoreError| {
            e.fail_stop(
                &health,
                StoragePart::Snapshot,
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
            )
        };
        let part = self.received_file(snapshot).await.map_err(io)?;
        let dirs = self.dirs.clone();
        let generation = self.state.db.generation + 1;
        let expect = meta.last_log_id.map(|l| l.index).unwrap_or(0);
        let snapshots = self.snapshots.clone();
        let retention = self.dedupe_retention;
        let started = Instant::now();
        let installed = blocking(move || {
            let installed = install_generation(&dirs, generation, &part, Some(expect), |m| m);
            let installed = match installed {
                Ok(i) => i,
                Err(e) => {
                    let _ = std::fs::remove_file(&part);
                    return Err(e);
                }
            };
            // The received file is a snapshot of what is now applied: keep it as current.
            snapshots.make_current(&part)?;
            let records = installed.records;
            let view = AppliedView::load(Arc::new(installed.db), retention)?;
            Ok((view, records))
        })
        .await
        .map_err(io)?;
        let (view, records) = installed;
        tracing::info!(
            index = view.applied_index(),
            generation = view.db.generation,
            records,
            took_ms = started.elapsed().as_millis() as u64,
            "snapshot installed"
        );
        let old = self.state.db.rocks.open_mark();
        let old_path = self.state.db.path().to_owned();
        let applied = view.applied_index();
        self.publish(view);
        self.feed.reset(applied);
        remove_when_released(old, old_path);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let health = self.health.clone();
        let io = |e: StoreError| {
            e.fail_stop(
                &health,
                StoragePart::Snapshot,
                ErrorSubject::Snapshot(None),
                ErrorVerb::Read,
            )
        };
        let files = self.snapshots.clone();
        let header = blocking(move || files.current_header()).await.map_err(io)?;
        match header {
            None => Ok(None),
            Some(header) => open_snapshot(self.snapshots.current_path(), snapshot_meta(&header))
                .await
                .map(Some)
                .map_err(io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::{Command, ProductRecord};
    use crate::store::recent_entries::blank_entry;
    use crate::store::rocks::be64;

    fn order(n: usize) -> Command {
        Command::PlaceOrder {
            request_id: format!("key-{n}"),
            product: "Tux".into(),
            quantity: 1,
        }
    }

    fn with(index: u64, command: Command) -> Entry {
        let mut entry = blank_entry(1, index);
        entry.payload = EntryPayload::Normal(command);
        entry
    }

    fn tux() -> ProductRecord {
        ProductRecord {
            name: "Tux".into(),
            title: "Tux".into(),
            topic: "toys".into(),
            price: 100,
            stock: 1_000,
            version: 0,
        }
    }

    /// Applies `entries` in one call to the database at `dir`; returns the new view and
    /// the results.
    fn apply_in(view: AppliedView, entries: Vec<Entry>) -> (AppliedView, Vec<CommandResult>) {
        let applied = apply_blocking(view, entries).expect("apply");
        (applied.state, applied.results)
    }

    fn fresh(dir: &Path) -> AppliedView {
        let db = Arc::new(SmDb::open(&dir.join("sm"), 1).expect("open"));
        AppliedView::load(db, 1_000_000).expect("load")
    }

    #[test]
    fn an_archive_in_the_same_call_as_its_last_orders_removes_them_and_keeps_the_sum() {
        // The digest the file would carry: the same entries applied elsewhere.
        let scratch = tempfile::tempdir().unwrap();
        let mut all = vec![with(1, Command::SeedCatalog(vec![tux()]))];
        all.extend((2..=9).map(|i| with(i, order(i as usize))));
        let (other, _) = apply_in(fresh(scratch.path()), all);
        let digest = super::super::archive_file::order_digest_on_disk(&other.db, 1, 7).unwrap();
        assert_eq!(digest.count, 7);

        // Here: orders 1..=5 in one call; 6..=8 and the archive of 1..=7 in the next, as a
        // learner applies its backlog (orders 6 and 7 are not in the database yet).
        let dir = tempfile::tempdir().unwrap();
        let mut first = vec![with(1, Command::SeedCatalog(vec![tux()]))];
        first.extend((2..=6).map(|i| with(i, order(i as usize))));
        let (view, _) = apply_in(fresh(dir.path()), first);
        let commit = crate::shop::ArchiveCommit {
            from: 1,
            upto: 7,
            count: 7,
            digest_sum: digest.sum,
            proposed_at_ms: 5,
            label: "t".into(),
        };
        let second = vec![
            with(7, order(7)),
            with(8, order(8)),
            with(9, order(9)),
            with(10, Command::ArchiveOrders(commit.clone())),
            // A retry of an archived order's key, in the same call.
            with(11, order(7)),
        ];
        assert!(!applies_in_place(&second), "an archive goes to the pool");
        let (view, results) = apply_in(view, second);
        assert!(
            matches!(&results[3], CommandResult::Archived(Ok(o)) if !o.already),
            "{:?}",
            results[3]
        );
        assert_eq!(results[4], results[0], "the retry gets its first answer");
        assert_eq!(view.shop.archived_upto(), 7);
        assert_eq!(content::scan(&view.db).unwrap(), view.content);
        let orders = view.db.cf(super::super::sm_db::CF_ORDERS).unwrap();
        for n in 1..=7u64 {
            assert!(
                view.db.rocks.get_cf(orders, be64(n)).unwrap().is_none(),
                "order {n}"
            );
        }
        assert!(view.db.rocks.get_cf(orders, be64(8)).unwrap().is_some());

        // A reload sees the archive; a replayed commit is a retry.
        let reloaded = AppliedView::load(view.db.clone(), 1_000_000).unwrap();
        assert_eq!(reloaded.shop.archives.len(), 1);
        assert_eq!(reloaded.content, view.content);
        let (again, results) = apply_in(view, vec![with(12, Command::ArchiveOrders(commit))]);
        assert!(matches!(&results[0], CommandResult::Archived(Ok(o)) if o.already));
        assert_eq!(content::scan(&again.db).unwrap(), again.content);
    }

    #[test]
    fn an_apply_call_is_weighed_by_the_commands_its_entries_carry() {
        let product = |n: usize| ProductRecord {
            name: format!("p{n}"),
            title: String::new(),
            topic: String::new(),
            price: 0,
            stock: 0,
            version: 0,
        };
        assert_eq!(order(0).commands_carried(), 1);
        assert_eq!(
            Command::Batch((0..29).map(order).collect()).commands_carried(),
            29
        );
        let seed = Command::SeedCatalog((0..6).map(product).collect());
        assert_eq!(seed.commands_carried(), 6);

        // One client's order applies in place; a loaded leader's group goes to the pool.
        assert!(applies_in_place(&[with(1, order(0))]));
        assert!(!applies_in_place(&[with(
            2,
            Command::Batch((0..29).map(order).collect())
        )]));
        assert!(!applies_in_place(&[with(3, seed)]));
        // Blank and membership entries count one each; the limit is inclusive.
        let four = [
            blank_entry(1, 4),
            with(5, order(1)),
            with(6, Command::Batch((0..2).map(order).collect())),
        ];
        assert!(applies_in_place(&four));
        let five = [
            four[0].clone(),
            four[1].clone(),
            four[2].clone(),
            blank_entry(1, 7),
        ];
        assert!(!applies_in_place(&five));
    }
}
