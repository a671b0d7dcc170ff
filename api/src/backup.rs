//! The snapshot and backup stream: one format for both, readable without the node (so
//! `bazaar backup inspect` checks a file offline). A magic string and a format version, a
//! JSON header, then every record of the state machine in key order, then an end mark with
//! the record count and a CRC-32 of everything before it. Written and read as a stream, so
//! memory does not grow with the data.
//!
//! ```text
//! "BAZAARSN" | version u8 | header_len u32 | header (JSON) |
//!   { 1u8 | kind u8 | key_len u32 | key | value_len u32 | value }* |
//!   0u8 | records u64 | crc32 u32
//! ```

use std::io::{self, BufReader, BufWriter, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Bumped whenever this layout changes; a reader refuses other versions.
pub const STREAM_VERSION: u8 = 2;

/// Which file of the family a stream is: its magic string and the layout version a reader
/// accepts. The framing (header, records, count, CRC) is the same for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub magic: &'static [u8; 8],
    pub version: u8,
    /// What the file is, for error messages ("snapshot or backup", "archive").
    pub what: &'static str,
}

/// Snapshots and backups.
pub const SNAPSHOT_FORMAT: Format = Format {
    magic: b"BAZAARSN",
    version: STREAM_VERSION,
    what: "Bazaar snapshot or backup",
};
const RECORD: u8 = 1;
const END: u8 = 0;
/// Largest header, key or value accepted when reading (a corrupt length must not allocate
/// gigabytes).
const MAX_FIELD: u32 = 64 << 20;
/// Buffer of the reader and writer.
const BUFFER: usize = 1 << 20;

/// The kinds of record a stream carries (the state machine's column families).
pub mod kind {
    pub const PRODUCT: u8 = 1;
    pub const ORDER: u8 = 2;
    pub const IDEMPOTENCY: u8 = 3;
    /// An active alarm (files written before alarms existed have none).
    pub const ALARM: u8 = 4;
    /// The record of one archive commit (range, count, digest): what is left of the
    /// orders archived out of the hot state.
    pub const ARCHIVE: u8 = 5;
    /// In an archive file only: its last record, the digest of the orders before it.
    pub const ARCHIVE_DIGEST: u8 = 6;
}

/// What a snapshot or backup says about itself before its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamHeader {
    /// Names the snapshot; a backup's says when it was taken.
    pub snapshot_id: String,
    /// The applied log index the records belong to.
    pub index: u64,
    /// The term of the entry at `index`.
    pub term: u64,
    /// The order id the next order gets.
    pub next_order: u64,
    /// The state digest at `index` (hex): equal to every replica's at that index.
    pub digest: String,
    /// The node's own metadata (log position and membership), opaque to other readers.
    pub state: Vec<u8>,
}

/// Why a stream could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("damaged stream: {0}")]
    Corrupt(String),
    #[error("format version {found} is not one this build reads (it reads {expected})")]
    Version { found: u8, expected: u8 },
    #[error("io: {0}")]
    Io(#[from] io::Error),
}

fn corrupt(what: impl Into<String>) -> StreamError {
    StreamError::Corrupt(what.into())
}

/// CRC-32 of everything written through it.
struct Checksummed<W> {
    inner: W,
    crc: crc32fast::Hasher,
    bytes: u64,
}

impl<W: Write> Write for Checksummed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes a stream record by record.
pub struct StreamWriter<W: Write> {
    out: Checksummed<BufWriter<W>>,
    records: u64,
}

impl<W: Write> StreamWriter<W> {
    /// A snapshot or backup stream.
    pub fn new(inner: W, header: &StreamHeader) -> Result<Self, StreamError> {
        Self::with_format(inner, SNAPSHOT_FORMAT, header)
    }

    /// A stream of the family's `format`, with its own kind of header.
    pub fn with_format<H: Serialize>(
        inner: W,
        format: Format,
        header: &H,
    ) -> Result<Self, StreamError> {
        let mut out = Checksummed {
            inner: BufWriter::with_capacity(BUFFER, inner),
            crc: crc32fast::Hasher::new(),
            bytes: 0,
        };
        out.write_all(format.magic)?;
        out.write_all(&[format.version])?;
        let header = serde_json::to_vec(header).map_err(io::Error::from)?;
        out.write_all(&(header.len() as u32).to_be_bytes())?;
        out.write_all(&header)?;
        Ok(Self { out, records: 0 })
    }

    pub fn record(&mut self, kind: u8, key: &[u8], value: &[u8]) -> Result<(), StreamError> {
        self.out.write_all(&[RECORD, kind])?;
        self.out.write_all(&(key.len() as u32).to_be_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(&(value.len() as u32).to_be_bytes())?;
        self.out.write_all(value)?;
        self.records += 1;
        Ok(())
    }

    /// Writes the end mark and checksum; returns the inner writer and the stream's size.
    pub fn finish(mut self) -> Result<(W, u64), StreamError> {
        self.out.write_all(&[END])?;
        self.out.write_all(&self.records.to_be_bytes())?;
        let crc = self.out.crc.clone().finalize();
        let bytes = self.out.bytes + 4;
        self.out.inner.write_all(&crc.to_be_bytes())?;
        let inner = self
            .out
            .inner
            .into_inner()
            .map_err(|e| StreamError::Io(e.into_error()))?;
        Ok((inner, bytes))
    }
}

/// One record of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: u8,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Reads a stream, checking the format version first and the checksum at the end.
pub struct StreamReader<R: Read, H = StreamHeader> {
    input: BufReader<R>,
    crc: crc32fast::Hasher,
    header: H,
    records: u64,
    done: bool,
}

impl<R: Read> StreamReader<R> {
    /// Opens a snapshot or backup stream.
    pub fn open(inner: R) -> Result<Self, StreamError> {
        Self::open_format(inner, SNAPSHOT_FORMAT)
    }
}

impl<R: Read, H: DeserializeOwned> StreamReader<R, H> {
    /// Opens a stream of `format`, whose header is an `H`.
    pub fn open_format(inner: R, format: Format) -> Result<Self, StreamError> {
        let what = format.what;
        let mut input = BufReader::with_capacity(BUFFER, inner);
        let mut crc = crc32fast::Hasher::new();
        let mut magic = [0u8; 8];
        read_exact(&mut input, &mut crc, &mut magic)
            .map_err(|_| corrupt(format!("not a {what} (too short)")))?;
        if &magic != format.magic {
            return Err(corrupt(format!("not a {what} (wrong magic)")));
        }
        let mut version = [0u8; 1];
        read_exact(&mut input, &mut crc, &mut version)?;
        if version[0] != format.version {
            return Err(StreamError::Version {
                found: version[0],
                expected: format.version,
            });
        }
        let mut len = [0u8; 4];
        read_exact(&mut input, &mut crc, &mut len)?;
        let len = u32::from_be_bytes(len);
        if len > MAX_FIELD {
            return Err(corrupt(format!("a header of {len} bytes")));
        }
        let mut header = vec![0u8; len as usize];
        read_exact(&mut input, &mut crc, &mut header)?;
        let header = serde_json::from_slice(&header)
            .map_err(|e| corrupt(format!("unreadable header: {e}")))?;
        Ok(Self {
            input,
            crc,
            header,
            records: 0,
            done: false,
        })
    }

    pub fn header(&self) -> &H {
        &self.header
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), StreamError> {
        read_exact(&mut self.input, &mut self.crc, buf)
    }

    fn byte(&mut self) -> Result<u8, StreamError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn field(&mut self) -> Result<Vec<u8>, StreamError> {
        let mut len = [0u8; 4];
        self.exact(&mut len)?;
        let len = u32::from_be_bytes(len);
        if len > MAX_FIELD {
            return Err(corrupt(format!("a field of {len} bytes")));
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf)?;
        Ok(buf)
    }

    /// The next record, or `None` after the end mark, once the count and checksum match.
    pub fn next_record(&mut self) -> Result<Option<Record>, StreamError> {
        if self.done {
            return Ok(None);
        }
        match self.byte()? {
            RECORD => {
                let kind = self.byte()?;
                let key = self.field()?;
                let value = self.field()?;
                self.records += 1;
                Ok(Some(Record { kind, key, value }))
            }
            END => {
                let mut count = [0u8; 8];
                self.exact(&mut count)?;
                let expected = self.crc.clone().finalize();
                let mut crc = [0u8; 4];
                self.input
                    .read_exact(&mut crc)
                    .map_err(|_| corrupt("the checksum is missing (truncated)"))?;
                if u32::from_be_bytes(crc) != expected {
                    return Err(corrupt("checksum mismatch"));
                }
                let count = u64::from_be_bytes(count);
                if count != self.records {
                    return Err(corrupt(format!(
                        "{count} records announced, {} read",
                        self.records
                    )));
                }
                let mut rest = [0u8; 1];
                if self.input.read(&mut rest)? != 0 {
                    return Err(corrupt("bytes after the end of the stream"));
                }
                self.done = true;
                Ok(None)
            }
            other => Err(corrupt(format!("unknown frame {other}"))),
        }
    }
}

fn read_exact<R: Read>(
    input: &mut R,
    crc: &mut crc32fast::Hasher,
    buf: &mut [u8],
) -> Result<(), StreamError> {
    input.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            corrupt("the stream ends early (truncated)")
        } else {
            StreamError::Io(e)
        }
    })?;
    crc.update(buf);
    Ok(())
}

/// What a backup holds, as `bazaar backup inspect` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    pub format_version: u8,
    pub snapshot_id: String,
    /// The applied index it was taken at.
    pub index: u64,
    pub term: u64,
    pub products: u64,
    pub orders: u64,
    pub idempotency_records: u64,
    /// Alarms active when it was taken (summaries written before alarms existed have none).
    #[serde(default)]
    pub alarms: u64,
    /// Archive records (one per `bazaar archive commit` before it was taken).
    #[serde(default)]
    pub archives: u64,
    pub next_order: u64,
    /// The state digest at `index`.
    pub digest: String,
    pub bytes: u64,
}

/// Reads a whole stream, checking its version, framing, record count and checksum, and
/// counts what it holds.
pub fn summarize<R: Read>(input: R) -> Result<BackupSummary, StreamError> {
    let mut counted = Counted {
        inner: input,
        bytes: 0,
    };
    let mut reader = StreamReader::open(&mut counted)?;
    let header = reader.header().clone();
    let (mut products, mut orders, mut idempotency_records, mut alarms) = (0, 0, 0, 0);
    let mut archives = 0;
    while let Some(record) = reader.next_record()? {
        match record.kind {
            kind::PRODUCT => products += 1,
            kind::ORDER => orders += 1,
            kind::IDEMPOTENCY => idempotency_records += 1,
            kind::ALARM => alarms += 1,
            kind::ARCHIVE => archives += 1,
            other => return Err(corrupt(format!("unknown record kind {other}"))),
        }
    }
    drop(reader);
    Ok(BackupSummary {
        format_version: STREAM_VERSION,
        snapshot_id: header.snapshot_id,
        index: header.index,
        term: header.term,
        products,
        orders,
        idempotency_records,
        alarms,
        archives,
        next_order: header.next_order,
        digest: header.digest,
        bytes: counted.bytes,
    })
}

/// Counts the bytes read through it.
pub struct Counted<R> {
    pub inner: R,
    pub bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> StreamHeader {
        StreamHeader {
            snapshot_id: "t-1".into(),
            index: 9,
            term: 2,
            next_order: 2,
            digest: "ab".into(),
            state: vec![1, 2, 3],
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new(), &header()).unwrap();
        w.record(kind::PRODUCT, b"Tux", b"penguin").unwrap();
        w.record(kind::ORDER, &7u64.to_be_bytes(), b"order")
            .unwrap();
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>, StreamError> {
        let mut r = StreamReader::open(bytes)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn a_stream_taken_under_an_alarm_summarizes_with_it() {
        let mut w = StreamWriter::new(Vec::new(), &header()).unwrap();
        w.record(kind::PRODUCT, b"Tux", b"penguin").unwrap();
        w.record(kind::ALARM, b"nospace", b"node 2").unwrap();
        let bytes = w.finish().unwrap().0;
        let summary = summarize(&bytes[..]).expect("an alarm record is a known kind");
        assert_eq!((summary.products, summary.alarms), (1, 1));
    }

    #[test]
    fn round_trips_and_summarizes() {
        let bytes = sample();
        let records = read_all(&bytes).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].key, b"Tux");
        assert_eq!(StreamReader::open(&bytes[..]).unwrap().header(), &header());
        let summary = summarize(&bytes[..]).unwrap();
        assert_eq!((summary.products, summary.orders), (1, 1));
        assert_eq!((summary.idempotency_records, summary.alarms), (0, 0));
        assert_eq!((summary.index, summary.term), (9, 2));
        assert_eq!(summary.bytes, bytes.len() as u64);
    }

    #[test]
    fn damage_truncation_and_other_versions_are_refused() {
        let bytes = sample();
        let mut flipped = bytes.clone();
        let last_record = bytes.len() - 20;
        flipped[last_record] ^= 0x40;
        assert!(summarize(&flipped[..]).is_err(), "a flipped bit");
        for cut in [5, 20, bytes.len() - 3] {
            assert!(summarize(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut future = bytes.clone();
        future[8] = STREAM_VERSION + 1;
        assert!(matches!(
            StreamReader::open(&future[..]),
            Err(StreamError::Version { .. })
        ));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(read_all(&extra).is_err(), "trailing bytes");
        assert!(matches!(
            summarize(&b"GIF89a-and-more"[..]),
            Err(StreamError::Corrupt(_))
        ));
    }
}
