//! Building a state machine generation from a snapshot or backup stream: into a staging
//! database beside the current one, column family by column family as sorted SST files
//! (RocksDB ingests them without replaying writes), the metadata last. Only a stream whose
//! checksum matched is promoted; anything else leaves the staging area to be removed and
//! the current state untouched.

use std::fs::File;
use std::path::{Path, PathBuf};

use rocksdb::{IngestExternalFileOptions, Options, SstFileWriter};

use super::stream::{StreamHeader, StreamReader};
use crate::codec::encode;
use crate::store::content::{self, ContentSum, KEY_CONTENT};
use crate::store::error::StoreError;
use crate::store::rocks::synced;
use crate::store::sm_db::{SmDb, SmDirs, CF_META, DATA_CFS, KEY_META};
use crate::store::sm_meta::SmMeta;

/// An SST file is closed and ingested once it is this large.
const SST_BYTES: u64 = 256 << 20;

fn cf_name(id: u8) -> Result<&'static str, StoreError> {
    DATA_CFS
        .iter()
        .find(|(cf, _)| *cf == id)
        .map(|(_, name)| *name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown column family {id} in the stream")))
}

/// SST files of one column family, written in key order and ingested in turn.
struct CfLoader<'a> {
    db: &'a SmDb,
    dir: &'a Path,
    opts: &'a Options,
    cf: Option<(u8, SstFileWriter<'a>, PathBuf)>,
    files: u32,
    records: u64,
    /// The content sum of the records loaded, stored with the metadata.
    content: ContentSum,
}

impl<'a> CfLoader<'a> {
    fn add(&mut self, cf: u8, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let switch = match &self.cf {
            Some((current, writer, _)) => *current != cf || writer.file_size() >= SST_BYTES,
            None => true,
        };
        if switch {
            self.flush()?;
            let path = self.dir.join(format!("ingest-{}.sst", self.files));
            self.files += 1;
            let writer = SstFileWriter::create(self.opts);
            writer.open(&path)?;
            self.cf = Some((cf, writer, path));
        }
        if let Some((_, writer, _)) = self.cf.as_mut() {
            // Out-of-order keys (a damaged stream) fail here, before anything is promoted.
            writer.put(key, value)?;
        }
        if content::covers(cf) {
            self.content.add(cf, key, value);
        }
        self.records += 1;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let Some((cf, mut writer, path)) = self.cf.take() else {
            return Ok(());
        };
        writer.finish()?;
        let mut ingest = IngestExternalFileOptions::default();
        ingest.set_move_files(true);
        let handle = self.db.cf(cf_name(cf)?)?;
        self.db
            .rocks
            .ingest_external_file_cf_opts(handle, &ingest, vec![&path])?;
        Ok(())
    }
}

/// What an install produced.
pub struct Installed {
    pub db: SmDb,
    pub header: StreamHeader,
    pub records: u64,
}

/// Builds generation `generation` from the stream in `file` and makes it current. `adapt`
/// may rewrite the metadata before it is stored (a restore puts the new cluster's
/// membership and log position there); `expect` refuses a stream of another index.
pub fn install_generation(
    dirs: &SmDirs,
    generation: u64,
    file: &Path,
    expect: Option<u64>,
    adapt: impl FnOnce(SmMeta) -> SmMeta,
) -> Result<Installed, StoreError> {
    let staging = dirs.staging_path(generation);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let mut reader = StreamReader::open(File::open(file)?)?;
    let header = reader.header().clone();
    if let Some(index) = expect {
        if header.meta.applied_index() != index {
            return Err(StoreError::Corrupt(format!(
                "the snapshot holds index {}, not {index}",
                header.meta.applied_index()
            )));
        }
    }
    let records = {
        let db = SmDb::open(&staging, generation)?;
        let mut opts = Options::default();
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let mut loader = CfLoader {
            db: &db,
            dir: &staging,
            opts: &opts,
            cf: None,
            files: 0,
            records: 0,
            content: ContentSum::default(),
        };
        while let Some(record) = reader.next_record()? {
            loader.add(record.kind, &record.key, &record.value)?;
        }
        loader.flush()?;
        let records = loader.records;
        let meta = adapt(header.meta.clone());
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(db.cf(CF_META)?, KEY_CONTENT, loader.content.to_bytes());
        batch.put_cf(db.cf(CF_META)?, KEY_META, encode(&meta)?);
        db.rocks.write_opt(batch, &synced())?;
        db.rocks.flush()?;
        records
    };
    dirs.promote(generation)?;
    let db = SmDb::open(&dirs.generation_path(generation), generation)?;
    Ok(Installed {
        db,
        header,
        records,
    })
}
