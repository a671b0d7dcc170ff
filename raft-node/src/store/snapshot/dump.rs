//! Writing the state machine to a snapshot or backup file: from a RocksDB snapshot of one
//! generation, so records and metadata belong to the same applied index without holding up
//! apply. Memory stays flat: records stream from the iterator into a buffered file.

use std::fs::File;
use std::path::Path;

use rocksdb::ReadOptions;

use super::stream::{StreamHeader, StreamWriter};
use crate::codec::decode;
use crate::store::error::StoreError;
use crate::store::sm_db::{SmDb, CF_META, DATA_CFS, KEY_META};
use crate::store::sm_meta::SmMeta;

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

/// Dumps `db` into a new file at `path` (synced before returning); `snapshot_id` names it
/// from the applied index it turns out to hold.
pub fn dump_to_file(
    db: &SmDb,
    path: &Path,
    snapshot_id: impl FnOnce(&SmMeta) -> String,
) -> Result<Dumped, StoreError> {
    let view = db.rocks.snapshot();
    let meta: SmMeta = match view.get_cf(db.cf(CF_META)?, KEY_META)? {
        Some(bytes) => decode(&bytes)?,
        None => SmMeta::default(),
    };
    let header = StreamHeader {
        snapshot_id: snapshot_id(&meta),
        meta,
    };
    let file = File::create(path)?;
    let mut out = StreamWriter::new(file, &header)?;
    for (id, name) in DATA_CFS {
        // A raw iterator lends each key and value instead of copying both into new boxes.
        let mut records = view.raw_iterator_cf_opt(db.cf(name)?, bulk_scan());
        records.seek_to_first();
        while let (Some(key), Some(value)) = (records.key(), records.value()) {
            out.record(id, key, value)?;
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
}
