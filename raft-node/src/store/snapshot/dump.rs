//! Writing the state machine to a snapshot or backup file: from a RocksDB snapshot of one
//! generation, so records and metadata belong to the same applied index without holding up
//! apply. Memory stays flat: records stream from the iterator into a buffered file.

use std::fs::File;
use std::path::Path;

use rocksdb::ReadOptions;

use super::stream::{StreamHeader, StreamWriter};
use crate::codec::decode;
use crate::shop::DedupeRecord;
use crate::store::error::StoreError;
use crate::store::sm_db::{SmDb, CF_META, DATA_CFS, KEY_META};
use crate::store::sm_meta::SmMeta;
use bazaar_api::backup::kind;

/// What a dump wrote.
#[derive(Debug, Clone)]
pub struct Dumped {
    pub header: StreamHeader,
    pub bytes: u64,
}

const BULK_READAHEAD: usize = 2 << 20;

/// Read options for reading every record once: the blocks it reads stay out of the shared
/// block cache, which holds what apply and reads keep using, and files are read ahead.
fn bulk_scan() -> ReadOptions {
    let mut opts = ReadOptions::default();
    opts.fill_cache(false);
    opts.set_readahead_size(BULK_READAHEAD);
    opts
}

/// Whether an idempotency record was first used below `floor`. An unreadable one is kept,
/// for the checks that read it to report.
fn expired(value: &[u8], floor: u64) -> bool {
    floor > 0 && matches!(decode::<DedupeRecord>(value), Ok(r) if r.index < floor)
}

/// Dumps `db` into a new file at `path` (synced before returning); `snapshot_id` names it
/// from the applied index it turns out to hold.
pub fn dump_to_file(
    db: &SmDb,
    path: &Path,
    snapshot_id: impl FnOnce(&SmMeta) -> String,
) -> Result<Dumped, StoreError> {
    // Before the RocksDB snapshot, whose index is at least the floor's now.
    let _hold = db.expiry.hold();
    let view = db.rocks.snapshot();
    let meta: SmMeta = match view.get_cf(db.cf(CF_META)?, KEY_META)? {
        Some(bytes) => decode(&bytes)?,
        None => SmMeta::default(),
    };
    let header = StreamHeader {
        snapshot_id: snapshot_id(&meta),
        meta,
    };
    // Records expired at the dump's own index stay out: no entry after it honours them,
    // and without this every key ever used would travel in every snapshot and backup.
    let expired_below = db.expiry.floor_at(header.meta.applied_index());
    let file = File::create(path)?;
    let mut out = StreamWriter::new(file, &header)?;
    for (id, name) in DATA_CFS {
        // A raw iterator lends each key and value instead of copying both into new boxes.
        let mut records = view.raw_iterator_cf_opt(db.cf(name)?, bulk_scan());
        records.seek_to_first();
        while let (Some(key), Some(value)) = (records.key(), records.value()) {
            if id != kind::IDEMPOTENCY || !expired(value, expired_below) {
                out.record(id, key, value)?;
            }
            records.next();
        }
        records.status()?;
    }
    let (file, bytes) = out.finish()?;
    fail::fail_point!("snapshot.sync", |_| Err(crate::store::error::failpoint_io(
        "snapshot.sync"
    )));
    file.sync_all()?;
    Ok(Dumped { header, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use crate::store::snapshot::StreamReader;

    #[test]
    fn a_dump_holds_every_record_of_every_data_family_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = SmDb::open(&dir.path().join("sm"), 1).unwrap();
        let meta = SmMeta {
            next_order: 7,
            ..SmMeta::default()
        };
        db.rocks
            .put_cf(db.cf(CF_META).unwrap(), KEY_META, encode(&meta).unwrap())
            .unwrap();
        let mut expected = Vec::new();
        for (id, name) in DATA_CFS {
            // Enough records to span several blocks and the readahead window's edges.
            for n in (0..3_000u32).rev() {
                let key = format!("{name}-{n:05}").into_bytes();
                let value = vec![id; (n % 300) as usize];
                db.rocks.put_cf(db.cf(name).unwrap(), &key, &value).unwrap();
            }
            db.rocks.flush_cf(db.cf(name).unwrap()).unwrap();
            for n in 0..3_000u32 {
                expected.push((
                    id,
                    format!("{name}-{n:05}").into_bytes(),
                    vec![id; (n % 300) as usize],
                ));
            }
        }
        // A record written to the memtable after the flush is dumped too (in the last
        // family, so it comes last).
        let (last_id, last_name) = DATA_CFS[DATA_CFS.len() - 1];
        db.rocks
            .put_cf(db.cf(last_name).unwrap(), b"zz-last", b"tail")
            .unwrap();
        expected.push((last_id, b"zz-last".to_vec(), b"tail".to_vec()));

        let path = dir.path().join("dump");
        let dumped = dump_to_file(&db, &path, |m| format!("t-{}", m.next_order)).unwrap();
        assert_eq!(dumped.header.snapshot_id, "t-7");
        assert_eq!(dumped.bytes, std::fs::metadata(&path).unwrap().len());

        let mut reader = StreamReader::open(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.header().meta.next_order, 7);
        let mut got = Vec::new();
        while let Some(record) = reader.next_record().unwrap() {
            got.push((record.kind, record.key, record.value));
        }
        assert_eq!(got.len(), expected.len());
        assert_eq!(got, expected);
    }

    #[test]
    fn a_dump_leaves_out_the_idempotency_records_expired_at_its_own_index() {
        use crate::shop::Remembered;
        use crate::store::sm_db::CF_DEDUPE;
        use crate::types::LogId;
        use openraft::CommittedLeaderId;

        let dir = tempfile::tempdir().unwrap();
        let db = SmDb::open(&dir.path().join("sm"), 1).unwrap();
        let meta = SmMeta {
            last_applied: Some(LogId::new(CommittedLeaderId::new(1, 1), 5_000)),
            ..SmMeta::default()
        };
        db.rocks
            .put_cf(db.cf(CF_META).unwrap(), KEY_META, encode(&meta).unwrap())
            .unwrap();
        let record = |index| DedupeRecord {
            index,
            fingerprint: 1,
            outcome: Remembered::Order(index),
        };
        let dedupe = db.cf(CF_DEDUPE).unwrap();
        for (key, index) in [("old", 3_999u64), ("edge", 4_000), ("new", 4_900)] {
            db.rocks
                .put_cf(dedupe, key, encode(&record(index)).unwrap())
                .unwrap();
        }
        db.rocks.put_cf(dedupe, "unreadable", b"\xff").unwrap();
        let dumped_keys = |db: &SmDb, name: &str| {
            let path = dir.path().join(name);
            dump_to_file(db, &path, |_| name.into()).unwrap();
            let mut reader = StreamReader::open(File::open(&path).unwrap()).unwrap();
            let mut keys = Vec::new();
            while let Some(r) = reader.next_record().unwrap() {
                assert_eq!(r.kind, kind::IDEMPOTENCY);
                keys.push(String::from_utf8(r.key).unwrap());
            }
            keys
        };
        // Retention unknown (a database opened outside the state machine): all kept.
        assert_eq!(dumped_keys(&db, "a"), ["edge", "new", "old", "unreadable"]);
        // The live floor is far ahead (applied 9,000), but the dump's index is 5,000: a
        // record first used at 4,000 is still honoured by the entries after 5,000.
        db.expiry.set(9_000, 1_000);
        assert_eq!(dumped_keys(&db, "b"), ["edge", "new", "unreadable"]);
    }
}
