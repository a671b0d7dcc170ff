//! Writing the state machine to a snapshot or backup file: from a RocksDB snapshot of one
//! generation, so records and metadata belong to the same applied index without holding up
//! apply. Memory stays flat: records stream from the iterator into a buffered file.

use std::fs::File;
use std::path::Path;

use rocksdb::IteratorMode;

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
        for item in view.iterator_cf(db.cf(name)?, IteratorMode::Start) {
            let (key, value) = item?;
            out.record(id, &key, &value)?;
        }
    }
    let (file, bytes) = out.finish()?;
    file.sync_all()?;
    Ok(Dumped { header, bytes })
}
