//! Reading archived ranges out of the state database: the stream `bazaar archive save`
//! downloads (from one RocksDB snapshot, so it holds exactly what was applied), and the
//! digest of a range as this replica holds it.

use std::io::{self, Write};
use std::sync::Arc;

use bazaar_api::archive::{ArchiveHeader, ArchiveWriter, OrderDigest};
use rocksdb::ReadOptions;

use super::error::StoreError;
use super::pool;
use super::rocks::{be64, read_be64};
use super::sm_db::{SmDb, CF_ORDERS};

/// Read options for one pass over a range of orders: checksums verified, the block cache
/// left to the hot orders, files read ahead.
fn range_scan(upto: u64) -> ReadOptions {
    let mut opts = ReadOptions::default();
    opts.set_verify_checksums(true);
    opts.fill_cache(false);
    opts.set_readahead_size(2 << 20);
    opts.set_iterate_upper_bound(be64(upto.saturating_add(1)).to_vec());
    opts
}

/// The digest of orders `from..=upto` as `db` holds them. Blocking: one pass over the range.
pub fn order_digest_on_disk(db: &SmDb, from: u64, upto: u64) -> Result<OrderDigest, StoreError> {
    let mut orders = db
        .rocks
        .raw_iterator_cf_opt(db.cf(CF_ORDERS)?, range_scan(upto));
    orders.seek(be64(from));
    let mut digest = OrderDigest::default();
    while let (Some(key), Some(value)) = (orders.key(), orders.value()) {
        digest.add(read_be64(key)?, value);
        orders.next();
    }
    orders.status()?;
    // A replica whose orders silently differ, for the archive commit's test (at the one
    // place every digest of this replica's orders is read: ahead of a commit or at it).
    #[cfg(feature = "failpoints")]
    if fail::eval("sm.archive.diverge", |_| ()).is_some() {
        digest.sum ^= 1;
    }
    Ok(digest)
}

/// This replica's digest of orders `from..=upto`, read at low priority before an archive
/// commit of the range (the leader's check of the commit, each member's preparation for
/// it) and remembered, so that applying the commit here need not read the range again.
/// Every order of the range must be applied already (orders never change once written).
pub async fn prepare_digest(
    db: Arc<SmDb>,
    from: u64,
    upto: u64,
) -> Result<OrderDigest, StoreError> {
    pool::background("archive-digest", move || {
        let digest = order_digest_on_disk(&db, from, upto)?;
        db.remember_digest(from, upto, digest);
        Ok(digest)
    })
    .await
}

/// Writes the archive of `header.from..=header.upto` from a snapshot of `db` into `out`.
/// Fails on a missing order (the range was archived meanwhile, or the database is damaged):
/// the file is then unfinished, and the reader refuses it. Blocking.
pub fn write_archive<W: Write>(
    db: &SmDb,
    header: &ArchiveHeader,
    out: W,
) -> Result<(W, u64, OrderDigest), StoreError> {
    let view = db.rocks.snapshot();
    let mut writer = ArchiveWriter::new(out, header)?;
    let mut orders = view.raw_iterator_cf_opt(db.cf(CF_ORDERS)?, range_scan(header.upto));
    orders.seek(be64(header.from));
    while let (Some(key), Some(value)) = (orders.key(), orders.value()) {
        writer.order(read_be64(key)?, value)?;
        orders.next();
    }
    orders.status()?;
    Ok(writer.finish()?)
}

/// Chunks of a stream on their way to an HTTP body; a closed body ends the writer.
struct ChunkSender(tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>);

impl Write for ChunkSender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the download was closed"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Streams the archive of `header`'s range from `db`: written on a low-priority thread of its
/// own (`pool::background`) into a few chunks of buffer, so memory stays flat and a slow reader slows the
/// writer. A failure ends the stream with an error (the download breaks off, and the
/// client's check refuses what it got).
pub fn stream_archive(
    db: Arc<SmDb>,
    header: ArchiveHeader,
) -> tokio::sync::mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let failed = tx.clone();
    let job = move || {
        let started = std::time::Instant::now();
        match write_archive(&db, &header, ChunkSender(tx.clone())) {
            Ok((_, bytes, digest)) => tracing::info!(
                from = header.from,
                upto = header.upto,
                bytes,
                digest = %digest,
                took_ms = started.elapsed().as_millis() as u64,
                "archive streamed"
            ),
            Err(e) => {
                tracing::warn!(from = header.from, upto = header.upto, cause = %e, "archive stream failed");
                let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
            }
        }
    };
    if let Err(e) = pool::spawn_background("archive-stream", job) {
        let _ = failed.try_send(Err(io::Error::other(e.to_string())));
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::encode;
    use bazaar_api::archive::read_archive;

    #[test]
    fn an_archive_written_from_the_database_reads_back_with_the_same_digest() {
        let dir = tempfile::tempdir().unwrap();
        let db = SmDb::open(&dir.path().join("sm"), 1).unwrap();
        let cf = db.cf(CF_ORDERS).unwrap();
        for n in 1..=50u64 {
            db.rocks
                .put_cf(cf, be64(n), encode(&format!("order {n}")).unwrap())
                .unwrap();
        }
        let header = ArchiveHeader {
            from: 3,
            upto: 40,
            index: 9,
            node: 1,
            saved_at_ms: 0,
        };
        let (bytes, size, digest) = write_archive(&db, &header, Vec::new()).unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(digest, order_digest_on_disk(&db, 3, 40).unwrap());
        assert_eq!(digest.count, 38);
        let read = read_archive(&bytes[..], |_, _| Ok(())).unwrap();
        assert_eq!(read.digest, digest);

        // A hole in the range: the writer refuses to finish.
        db.rocks.delete_cf(cf, be64(20)).unwrap();
        assert!(write_archive(&db, &header, Vec::new()).is_err());
    }
}
