//! Order archive files: saved from a node whole or not at all, and read back offline.

use std::io::{BufReader, ErrorKind, Read};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bazaar_api::archive::{read_archive, ArchiveCommitRequest, ArchiveContents};
use bazaar_api::backup::StreamError;
use bazaar_api::OrderRecord;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::api_client::ApiClient;
use crate::error::ClientError;

/// Chunks the download may run ahead of the check that reads them as they come.
const CHECK_QUEUE: usize = 16;

/// How far a save has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveProgress {
    /// Bytes written to the part file.
    pub bytes: u64,
    /// Orders the stream has passed so far (checked as they come).
    pub orders: u64,
    /// How many orders the range holds, once the first has come.
    pub total_orders: Option<u64>,
}

/// `GET /admin/archive/stream?upto=N` from `client`'s node, saved as `out`: written to
/// `OUT.part`, synced, read back whole, then hard-linked to `out` (which fails if `out`
/// exists, so nothing is ever overwritten, even by a save racing this one), the part
/// removed and the directory synced. On any error no part is left and `out` is not made.
/// With `max_rate`, the download reads no faster than that many orders a second: the
/// node's stream waits on the connection, so the save leaves CPU to the orders arriving.
pub async fn save_archive(
    client: &ApiClient,
    upto: u64,
    out: &Path,
    max_rate: Option<NonZeroU64>,
    progress: impl FnMut(SaveProgress),
) -> Result<ArchiveContents, ClientError> {
    // Before asking the node for anything.
    refuse_existing(out)?;
    let stream = client.archive_stream(upto).await?;
    save_from(stream.into_chunks(), upto, out, max_rate, progress).await
}

/// [`save_archive`] after the request: the body, as `chunks`, saved as `out`. The file must
/// hold orders up to `upto`, as asked.
pub async fn save_from(
    chunks: impl Stream<Item = Result<Bytes, ClientError>>,
    upto: u64,
    out: &Path,
    max_rate: Option<NonZeroU64>,
    mut progress: impl FnMut(SaveProgress),
) -> Result<ArchiveContents, ClientError> {
    refuse_existing(out)?;
    let part = part_path(out);
    // A part already there is another save's, running or interrupted: not ours to remove.
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => ClientError::Archive(format!(
                "{} exists: another save is running or one was interrupted; remove it once \
                 none runs",
                part.display()
            )),
            _ => io_error(&part, e),
        })?;
    let saved = async {
        let contents = write_part(chunks, file, &part, upto, max_rate, &mut progress).await?;
        publish(&part, out)?;
        Ok(contents)
    }
    .await;
    if saved.is_err() {
        // A partial file must not be mistaken for an archive later.
        let _ = std::fs::remove_file(&part);
    }
    saved
}

/// Reads an archive file whole and checks everything (framing, checksum, every order of
/// its range in order, the digest record).
pub fn inspect_archive(path: &Path) -> Result<ArchiveContents, ClientError> {
    scan(path, |_, _| Ok(()))
}

/// Order `number` from the archive at `path`, or `None` when its range does not hold it;
/// the whole file is still checked, so an order is never read from a damaged file.
pub fn find_order(
    path: &Path,
    number: u64,
) -> Result<(ArchiveContents, Option<OrderRecord>), ClientError> {
    let mut found = None;
    let contents = scan(path, |n, value| {
        if n == number {
            let order = OrderRecord::decode(value)?;
            if order.number != n {
                return Err(StreamError::Corrupt(format!(
                    "order {} stored under number {n}",
                    order.number
                )));
            }
            found = Some(order);
        }
        Ok(())
    })?;
    Ok((contents, found))
}

/// The commit of the archive at `path`, checked whole first: its range, count and digest,
/// and `label` (by default the file's name).
pub fn commit_request(
    path: &Path,
    label: Option<&str>,
) -> Result<ArchiveCommitRequest, ClientError> {
    let contents = inspect_archive(path)?;
    let label = match label {
        Some(label) => label.to_owned(),
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    Ok(ArchiveCommitRequest {
        from: contents.header.from,
        upto: contents.header.upto,
        count: contents.digest.count,
        digest: contents.digest.hex(),
        label,
    })
}

fn scan(
    path: &Path,
    each: impl FnMut(u64, &[u8]) -> Result<(), StreamError>,
) -> Result<ArchiveContents, ClientError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    read_archive(BufReader::with_capacity(1 << 16, file), each)
        .map_err(|e| ClientError::Archive(format!("{}: {e}", path.display())))
}

fn refuse_existing(out: &Path) -> Result<(), ClientError> {
    // `symlink_metadata`: a dangling link is there too.
    match std::fs::symlink_metadata(out) {
        Ok(_) => Err(exists(out)),
        Err(_) => Ok(()),
    }
}

fn exists(out: &Path) -> ClientError {
    ClientError::Archive(format!(
        "{} exists: choose a new file name (an archive never overwrites one)",
        out.display()
    ))
}

fn part_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn io_error(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Archive(format!("{}: {e}", path.display()))
}

/// Writes the body into `part` while a blocking task checks it as it comes (counting the
/// orders, and stopping the download at the first damage), syncs it, and reads the file
/// back whole.
async fn write_part(
    chunks: impl Stream<Item = Result<Bytes, ClientError>>,
    mut file: tokio::fs::File,
    part: &Path,
    upto: u64,
    max_rate: Option<NonZeroU64>,
    progress: &mut impl FnMut(SaveProgress),
) -> Result<ArchiveContents, ClientError> {
    let started = Instant::now();
    let seen = Arc::new(Seen::default());
    let (tx, rx) = mpsc::channel::<Bytes>(CHECK_QUEUE);
    let check = {
        let seen = Arc::clone(&seen);
        tokio::task::spawn_blocking(move || {
            read_archive(
                ChannelReader {
                    rx,
                    current: Bytes::new(),
                },
                |n, _| {
                    seen.note(n);
                    Ok(())
                },
            )
        })
    };
    let mut bytes = 0u64;
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error(part, e))?;
        bytes += chunk.len() as u64;
        if tx.send(chunk).await.is_err() {
            // The check stopped before the end: its error says why.
            break;
        }
        let now = seen.progress(bytes, upto);
        progress(now);
        if let Some(wait) = max_rate.and_then(|r| pace_delay(now.orders, r, started.elapsed())) {
            tokio::time::sleep(wait).await;
        }
    }
    drop(tx);
    let streamed = check
        .await
        .map_err(|e| ClientError::Archive(format!("checking the stream failed: {e}")))?
        .map_err(|e| ClientError::Archive(format!("the node's stream: {e}")))?;
    file.sync_all().await.map_err(|e| io_error(part, e))?;
    drop(file);
    let path = part.to_owned();
    let on_disk = tokio::task::spawn_blocking(move || inspect_archive(&path))
        .await
        .map_err(|e| ClientError::Archive(format!("checking the file failed: {e}")))??;
    if on_disk != streamed {
        return Err(ClientError::Archive(format!(
            "{} reads back other than the stream it was written from",
            part.display()
        )));
    }
    if on_disk.header.upto != upto {
        return Err(ClientError::Archive(format!(
            "the node sent orders {}..={}, not up to {upto} as asked",
            on_disk.header.from, on_disk.header.upto
        )));
    }
    progress(seen.progress(bytes, upto));
    Ok(on_disk)
}

/// How long to wait so that `orders` take at least their time at `rate` orders a second,
/// `elapsed` after the start; `None` when not ahead.
fn pace_delay(orders: u64, rate: NonZeroU64, elapsed: Duration) -> Option<Duration> {
    let due = Duration::from_secs_f64(orders as f64 / rate.get() as f64);
    due.checked_sub(elapsed).filter(|wait| !wait.is_zero())
}

/// `part` becomes `out`, unless `out` exists; the part goes, and the directory is synced
/// so that both last.
fn publish(part: &Path, out: &Path) -> Result<(), ClientError> {
    std::fs::hard_link(part, out).map_err(|e| match e.kind() {
        ErrorKind::AlreadyExists => exists(out),
        _ => io_error(out, e),
    })?;
    std::fs::remove_file(part).map_err(|e| io_error(part, e))?;
    let dir = match out.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

/// The orders the check has passed, shared with the download for its progress.
#[derive(Default)]
struct Seen {
    first: AtomicU64,
    orders: AtomicU64,
}

impl Seen {
    fn note(&self, number: u64) {
        // Order numbers start at 1, so 0 means none yet.
        let _ = self
            .first
            .compare_exchange(0, number, Ordering::Relaxed, Ordering::Relaxed);
        self.orders.fetch_add(1, Ordering::Relaxed);
    }

    fn progress(&self, bytes: u64, upto: u64) -> SaveProgress {
        let first = self.first.load(Ordering::Relaxed);
        SaveProgress {
            bytes,
            orders: self.orders.load(Ordering::Relaxed),
            total_orders: (first != 0)
                .then(|| upto.checked_sub(first).map(|d| d + 1))
                .flatten(),
        }
    }
}

/// The download's chunks as a blocking reader: the end of the channel is the end of input.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Test data: order `number` as the node stores it (format byte 1, then bincode 1.3's
/// default encoding: fixed-width little-endian integers, strings after a u64 length), for
/// `quantity` Tux at `unit_cents`, placed at log `index` under request id `key-{number}`.
#[cfg(test)]
pub(crate) fn stored_order(number: u64, quantity: u64, unit_cents: u64, index: u64) -> Vec<u8> {
    let mut v = vec![1u8];
    let string = |v: &mut Vec<u8>, s: &str| {
        v.extend((s.len() as u64).to_le_bytes());
        v.extend(s.as_bytes());
    };
    v.extend(number.to_le_bytes());
    string(&mut v, "Tux");
    for field in [quantity, unit_cents, quantity * unit_cents, index] {
        v.extend(field.to_le_bytes());
    }
    string(&mut v, &format!("key-{number}"));
    v
}

#[cfg(test)]
mod tests {
    use bazaar_api::archive::{ArchiveHeader, ArchiveWriter, OrderDigest};

    use super::*;

    fn stored(number: u64) -> Vec<u8> {
        stored_order(number, 2, 2599, 100 + number)
    }

    fn archive(from: u64, upto: u64) -> (Vec<u8>, OrderDigest) {
        let header = ArchiveHeader {
            from,
            upto,
            index: 900,
            node: 2,
            saved_at_ms: 1_700_000_000_000,
        };
        let mut w = ArchiveWriter::new(Vec::new(), &header).unwrap();
        for n in from..=upto {
            w.order(n, &stored(n)).unwrap();
        }
        let (bytes, _, digest) = w.finish().unwrap();
        (bytes, digest)
    }

    /// `bytes` as a download of `size`-byte chunks.
    /// `bytes` saved as `out` in chunks of `size`, unpaced, progress unread.
    async fn save_chunks(
        bytes: &[u8],
        size: usize,
        upto: u64,
        out: &Path,
    ) -> Result<ArchiveContents, ClientError> {
        save_from(
            futures::stream::iter(chunks(bytes, size)),
            upto,
            out,
            None,
            |_| {},
        )
        .await
    }

    fn chunks(bytes: &[u8], size: usize) -> Vec<Result<Bytes, ClientError>> {
        bytes
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_streamed_archive_is_saved_whole_with_its_progress() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("orders.archive");
        let (bytes, digest) = archive(3, 40);
        let mut seen = Vec::new();
        let contents = save_from(
            futures::stream::iter(chunks(&bytes, 7)),
            40,
            &out,
            None,
            |p| seen.push(p),
        )
        .await
        .unwrap();
        assert_eq!(contents.digest, digest);
        assert_eq!((contents.header.from, contents.header.upto), (3, 40));
        assert_eq!(contents.bytes, bytes.len() as u64);
        assert_eq!(std::fs::read(&out).unwrap(), bytes);
        assert_eq!(names(dir.path()), ["orders.archive"], "no part is left");
        let last = *seen.last().unwrap();
        assert_eq!(
            last,
            SaveProgress {
                bytes: bytes.len() as u64,
                orders: 38,
                total_orders: Some(38)
            }
        );
        assert!(seen.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    }

    #[tokio::test]
    async fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("orders.archive");
        std::fs::write(&out, b"precious").unwrap();
        let (bytes, _) = archive(1, 5);
        let err = save_chunks(&bytes, 64, 5, &out).await.unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        assert_eq!(std::fs::read(&out).unwrap(), b"precious");
        assert_eq!(names(dir.path()), ["orders.archive"]);

        // A file that appears while the download runs (another save) is not replaced
        // either: the last step is a hard link, which fails when the name is taken.
        let raced = dir.path().join("raced.archive");
        let appear = raced.clone();
        let stream = futures::stream::iter(chunks(&bytes, 64))
            .enumerate()
            .map(move |(i, c)| {
                if i == 1 {
                    std::fs::write(&appear, b"the other save's").unwrap();
                }
                c
            });
        let err = save_from(stream, 5, &raced, None, |_| {})
            .await
            .unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
        assert_eq!(std::fs::read(&raced).unwrap(), b"the other save's");
        assert_eq!(names(dir.path()), ["orders.archive", "raced.archive"]);
    }

    #[tokio::test]
    async fn a_damaged_or_broken_download_leaves_no_part_and_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("orders.archive");
        let (bytes, _) = archive(1, 30);
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 1;
        let mut broken = chunks(&bytes, 50);
        broken.truncate(3);
        broken.push(Err(ClientError::Usage("connection reset".into())));
        let cases: Vec<(&str, Vec<Result<Bytes, ClientError>>)> = vec![
            ("truncated", chunks(&bytes[..bytes.len() - 3], 50)),
            ("cut short", chunks(&bytes[..bytes.len() / 3], 50)),
            ("flipped", chunks(&flipped, 50)),
            ("trailing bytes", chunks(&[&bytes[..], b"x"].concat(), 50)),
            ("broken", broken),
            ("empty", Vec::new()),
        ];
        for (case, stream) in cases {
            let err = save_from(futures::stream::iter(stream), 30, &out, None, |_| {})
                .await
                .unwrap_err();
            assert!(names(dir.path()).is_empty(), "{case}: {err}");
        }
        // A whole archive of another range than asked is refused too.
        let err = save_chunks(&bytes, 50, 31, &out).await.unwrap_err();
        assert!(err.to_string().contains("not up to 31"), "{err}");
        assert!(names(dir.path()).is_empty());
    }

    #[tokio::test]
    async fn a_part_file_of_another_save_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("orders.archive");
        std::fs::write(part_path(&out), b"someone else's").unwrap();
        let (bytes, _) = archive(1, 2);
        let err = save_chunks(&bytes, 64, 2, &out).await.unwrap_err();
        assert!(err.to_string().contains(".part exists"), "{err}");
        assert_eq!(std::fs::read(part_path(&out)).unwrap(), b"someone else's");
        assert!(!out.exists());
    }

    #[test]
    fn find_order_reads_one_order_from_a_checked_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.archive");
        let (bytes, digest) = archive(10, 20);
        std::fs::write(&path, &bytes).unwrap();

        let (contents, order) = find_order(&path, 12).unwrap();
        assert_eq!(contents.digest, digest);
        let order = order.expect("12 is in 10..=20");
        assert_eq!(order.number, 12);
        assert_eq!(order.product, "Tux");
        assert_eq!(
            (order.quantity, order.unit_price, order.total),
            (2, 2599, 5198)
        );
        assert_eq!(order.index, 112);
        assert_eq!(order.request_id, "key-12");
        assert_eq!(
            find_order(&path, 20).unwrap().1.unwrap().request_id,
            "key-20"
        );
        for outside in [0, 9, 21] {
            assert!(find_order(&path, outside).unwrap().1.is_none(), "{outside}");
        }

        // Damage after the order is still found: the whole file is checked.
        let mut damaged = bytes.clone();
        let at = damaged.len() - 30;
        damaged[at] ^= 0x40;
        std::fs::write(&path, &damaged).unwrap();
        let err = find_order(&path, 10).unwrap_err();
        assert!(err.to_string().contains("a.archive"), "{err}");
    }

    #[test]
    fn commit_request_carries_the_files_range_and_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orders-5-9.archive");
        let (bytes, digest) = archive(5, 9);
        std::fs::write(&path, &bytes).unwrap();
        let req = commit_request(&path, None).unwrap();
        assert_eq!(
            req,
            ArchiveCommitRequest {
                from: 5,
                upto: 9,
                count: 5,
                digest: digest.hex(),
                label: "orders-5-9.archive".into(),
            }
        );
        assert_eq!(OrderDigest::parse(&req.digest, req.count), Some(digest));
        let labelled = commit_request(&path, Some("march")).unwrap();
        assert_eq!(labelled.label, "march");

        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(
            commit_request(&path, None).is_err(),
            "a damaged file is refused"
        );
        let junk = dir.path().join("junk.archive");
        std::fs::write(&junk, b"junk").unwrap();
        let err = inspect_archive(&junk).unwrap_err();
        assert!(err.to_string().contains("junk.archive"), "{err}");
        assert!(inspect_archive(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_part_file_sits_beside_the_archive() {
        assert_eq!(
            part_path(Path::new("/a/orders.archive")),
            PathBuf::from("/a/orders.archive.part")
        );
    }

    #[test]
    fn the_pace_waits_only_when_ahead_of_the_rate() {
        let rate = NonZeroU64::new(1_000).unwrap();
        assert_eq!(
            pace_delay(500, rate, Duration::from_millis(100)),
            Some(Duration::from_millis(400))
        );
        assert_eq!(pace_delay(500, rate, Duration::from_millis(500)), None);
        assert_eq!(pace_delay(500, rate, Duration::from_secs(2)), None);
        assert_eq!(pace_delay(0, rate, Duration::ZERO), None);
    }
}
