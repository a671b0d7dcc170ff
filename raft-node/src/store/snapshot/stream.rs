//! The snapshot and backup file: one format for both. A magic string and a format version,
//! a header (the applied metadata), then every record of the state machine's column
//! families in key order, then an end mark with the record count and a CRC-32 of everything
//! before it. Written and read as a stream, so memory does not grow with the data.
//!
//! ```text
//! "BAZAARSN" | version u8 | header_len u32 | header (codec) |
//!   { 1u8 | cf u8 | key_len u32 | key | value_len u32 | value }* |
//!   0u8 | records u64 | crc32 u32
//! ```

use std::io::{self, BufReader, BufWriter, Read, Write};

use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::store::error::StoreError;
use crate::store::sm_meta::SmMeta;

const MAGIC: &[u8; 8] = b"BAZAARSN";
/// Bumped whenever this layout changes; a reader refuses other versions.
pub const STREAM_VERSION: u8 = 1;
const RECORD: u8 = 1;
const END: u8 = 0;
/// Largest key or value accepted when reading (a corrupt length must not allocate GBs).
const MAX_FIELD: u32 = 64 << 20;
/// Buffer of the file reader and writer.
const BUFFER: usize = 1 << 20;

/// What a snapshot or backup says about itself before its records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamHeader {
    /// The applied state the records belong to.
    pub meta: SmMeta,
    /// Names the snapshot (openraft's snapshot id); a backup's says when it was taken.
    pub snapshot_id: String,
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
    pub fn new(inner: W, header: &StreamHeader) -> Result<Self, StoreError> {
        let mut out = Checksummed {
            inner: BufWriter::with_capacity(BUFFER, inner),
            crc: crc32fast::Hasher::new(),
            bytes: 0,
        };
        out.write_all(MAGIC)?;
        out.write_all(&[STREAM_VERSION])?;
        let header = encode(header)?;
        out.write_all(&(header.len() as u32).to_be_bytes())?;
        out.write_all(&header)?;
        Ok(Self { out, records: 0 })
    }

    pub fn record(&mut self, cf: u8, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.out.write_all(&[RECORD, cf])?;
        self.out.write_all(&(key.len() as u32).to_be_bytes())?;
        self.out.write_all(key)?;
        self.out.write_all(&(value.len() as u32).to_be_bytes())?;
        self.out.write_all(value)?;
        self.records += 1;
        Ok(())
    }

    /// Writes the end mark and checksum; returns the inner writer and the stream's size.
    pub fn finish(mut self) -> Result<(W, u64), StoreError> {
        self.out.write_all(&[END])?;
        self.out.write_all(&self.records.to_be_bytes())?;
        let crc = self.out.crc.clone().finalize();
        let bytes = self.out.bytes + 4;
        self.out.inner.write_all(&crc.to_be_bytes())?;
        let inner = self
            .out
            .inner
            .into_inner()
            .map_err(|e| StoreError::Io(e.into_error()))?;
        Ok((inner, bytes))
    }
}

/// One record of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub cf: u8,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Reads a stream, checking the format version first and the checksum at the end.
pub struct StreamReader<R: Read> {
    input: BufReader<R>,
    crc: crc32fast::Hasher,
    header: StreamHeader,
    records: u64,
    done: bool,
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

impl<R: Read> StreamReader<R> {
    pub fn open(inner: R) -> Result<Self, StoreError> {
        let mut reader = Self {
            input: BufReader::with_capacity(BUFFER, inner),
            crc: crc32fast::Hasher::new(),
            header: StreamHeader {
                meta: SmMeta::default(),
                snapshot_id: String::new(),
            },
            records: 0,
            done: false,
        };
        let mut magic = [0u8; 8];
        reader
            .exact(&mut magic)
            .map_err(|_| corrupt("not a Bazaar snapshot or backup (too short)"))?;
        if &magic != MAGIC {
            return Err(corrupt("not a Bazaar snapshot or backup (wrong magic)"));
        }
        let version = reader.byte()?;
        if version != STREAM_VERSION {
            return Err(StoreError::Version {
                found: version,
                expected: STREAM_VERSION,
            });
        }
        let len = reader.u32()?;
        if len > MAX_FIELD {
            return Err(corrupt(format!("header of {len} bytes")));
        }
        let mut header = vec![0u8; len as usize];
        reader.exact(&mut header)?;
        reader.header = decode(&header)?;
        Ok(reader)
    }

    pub fn header(&self) -> &StreamHeader {
        &self.header
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), StoreError> {
        self.input.read_exact(buf).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                corrupt("the stream ends early (truncated)")
            } else {
                StoreError::Io(e)
            }
        })?;
        self.crc.update(buf);
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, StoreError> {
        let mut b = [0u8; 1];
        self.exact(&mut b)?;
        Ok(b[0])
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let mut b = [0u8; 4];
        self.exact(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    fn field(&mut self) -> Result<Vec<u8>, StoreError> {
        let len = self.u32()?;
        if len > MAX_FIELD {
            return Err(corrupt(format!("a field of {len} bytes")));
        }
        let mut buf = vec![0u8; len as usize];
        self.exact(&mut buf)?;
        Ok(buf)
    }

    /// The next record, or `None` after the end mark, once the count and checksum match.
    pub fn next_record(&mut self) -> Result<Option<Record>, StoreError> {
        if self.done {
            return Ok(None);
        }
        match self.byte()? {
            RECORD => {
                let cf = self.byte()?;
                let key = self.field()?;
                let value = self.field()?;
                self.records += 1;
                Ok(Some(Record { cf, key, value }))
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
                    return Err(corrupt("checksum mismatch: the stream is damaged"));
                }
                if u64::from_be_bytes(count) != self.records {
                    return Err(corrupt(format!(
                        "{} records announced, {} read",
                        u64::from_be_bytes(count),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let header = StreamHeader {
            meta: SmMeta::default(),
            snapshot_id: "t-1".into(),
        };
        let mut w = StreamWriter::new(Vec::new(), &header).unwrap();
        w.record(1, b"Tux", b"penguin").unwrap();
        w.record(2, &7u64.to_be_bytes(), b"order").unwrap();
        w.finish().unwrap().0
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>, StoreError> {
        let mut r = StreamReader::open(bytes)?;
        let mut out = Vec::new();
        while let Some(rec) = r.next_record()? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn round_trips() {
        let bytes = sample();
        let records = read_all(&bytes).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].key, b"Tux");
        assert_eq!(
            StreamReader::open(&bytes[..]).unwrap().header().snapshot_id,
            "t-1"
        );
    }

    #[test]
    fn damage_truncation_and_other_versions_are_refused() {
        let bytes = sample();
        let mut flipped = bytes.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        assert!(read_all(&flipped).is_err(), "a flipped bit");
        for cut in [5, 20, bytes.len() - 3] {
            assert!(read_all(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut future = bytes.clone();
        future[8] = STREAM_VERSION + 1;
        assert!(matches!(
            StreamReader::open(&future[..]),
            Err(StoreError::Version { .. })
        ));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(read_all(&extra).is_err(), "trailing bytes");
    }
}
