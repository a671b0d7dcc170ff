//! Order archives: the file `bazaar archive save` writes (the backup stream's framing under
//! its own magic), the digest every replica checks before it lets orders go, and the views
//! of an archive commit on the wire. Readable without a node, so `bazaar archive inspect`
//! and `get` work offline.
//!
//! ```text
//! "BAZAARAR" | 1u8 | header (JSON) | ORDER records from..=upto, dense, in order |
//!   one ARCHIVE_DIGEST record (sum u64 | count u64) | end mark (count, CRC-32)
//! ```
//!
//! The digest is the orders' share of the node's content sum: the wrapping sum of
//! [`record_hash`] over the records as stored. It does not depend on order, so a replica
//! computes it from its own disk (or from what it holds beside the range) and a removal
//! subtracts it from the content sum without a rescan.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::backup::{kind, Counted, Format, StreamError, StreamReader, StreamWriter};
use crate::order::OrderRecord;

/// Archive files.
pub const ARCHIVE_FORMAT: Format = Format {
    magic: b"BAZAARAR",
    version: 1,
    what: "Bazaar order archive",
};

/// FNV-1a over the record kind, key and value (each length-prefixed), then splitmix64's
/// finaliser so that the sum of many hashes does not cancel out in the low bits. The one
/// hash of the content sum and of archive digests: changing it invalidates every stored sum.
pub fn record_hash(kind: u8, key: &[u8], value: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut feed = |bytes: &[u8]| {
        for b in (bytes.len() as u64).to_be_bytes().iter().chain(bytes) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    feed(&[kind]);
    feed(key);
    feed(value);
    let mut z = h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The digest of a run of orders as stored: how many, and their hashes' wrapping sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct OrderDigest {
    pub sum: u64,
    pub count: u64,
}

impl OrderDigest {
    /// Counts order `number`, stored as `value`.
    pub fn add(&mut self, number: u64, value: &[u8]) {
        self.sum = self
            .sum
            .wrapping_add(record_hash(kind::ORDER, &number.to_be_bytes(), value));
        self.count += 1;
    }

    /// The sum as 16 hex digits, as views and the CLI show it.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.sum)
    }

    /// The digest `hex` (from [`OrderDigest::hex`]) over `count` orders.
    pub fn parse(hex: &str, count: u64) -> Option<Self> {
        if hex.len() != 16 {
            return None;
        }
        let sum = u64::from_str_radix(hex, 16).ok()?;
        Some(Self { sum, count })
    }

    fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.sum.to_be_bytes());
        out[8..].copy_from_slice(&self.count.to_be_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let fixed: [u8; 16] = bytes.try_into().ok()?;
        let (sum, count) = fixed.split_at(8);
        Some(Self {
            sum: u64::from_be_bytes(sum.try_into().ok()?),
            count: u64::from_be_bytes(count.try_into().ok()?),
        })
    }
}

impl std::fmt::Display for OrderDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} over {} orders", self.hex(), self.count)
    }
}

/// What an archive file says about itself before its orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveHeader {
    /// The first and last order number it holds (both included).
    pub from: u64,
    pub upto: u64,
    /// The applied log index the orders were read at (a linearizable read).
    pub index: u64,
    /// The node that wrote it.
    pub node: u64,
    /// When, in milliseconds since the Unix epoch.
    pub saved_at_ms: u64,
}

/// One archive commit as the cluster keeps it: the only trace of its orders left in the
/// hot state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveView {
    pub from: u64,
    pub upto: u64,
    pub count: u64,
    /// The orders' digest (16 hex digits), as the archive file carries it.
    pub digest: String,
    /// The log index of the commit.
    pub committed_index: u64,
    /// When the leader proposed it, in milliseconds since the Unix epoch.
    pub committed_at_ms: u64,
    /// The operator's label (the archive file's name, by default).
    pub label: String,
}

/// `POST /admin/archive/commit`: remove orders `from..=upto` from the hot state, on every
/// replica whose own orders there have this digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveCommitRequest {
    pub from: u64,
    pub upto: u64,
    pub count: u64,
    pub digest: String,
    #[serde(default)]
    pub label: String,
}

/// The answer to a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ArchiveCommitAnswer {
    pub archive: ArchiveView,
    /// The same commit had been applied before (a retry): nothing changed.
    pub already: bool,
}

impl OrderRecord {
    /// An order's stored bytes (the node's codec), as an archive file carries them.
    pub fn decode(value: &[u8]) -> Result<Self, StreamError> {
        crate::codec::decode(value)
            .map_err(|e| StreamError::Corrupt(format!("an unreadable order: {e}")))
    }
}

/// Writes an archive file: orders in number order, then the digest record.
pub struct ArchiveWriter<W: Write> {
    out: StreamWriter<W>,
    next: u64,
    upto: u64,
    digest: OrderDigest,
}

impl<W: Write> ArchiveWriter<W> {
    pub fn new(inner: W, header: &ArchiveHeader) -> Result<Self, StreamError> {
        if header.from == 0 || header.upto < header.from {
            return Err(StreamError::Corrupt(format!(
                "an archive of orders {}..={}",
                header.from, header.upto
            )));
        }
        Ok(Self {
            out: StreamWriter::with_format(inner, ARCHIVE_FORMAT, header)?,
            next: header.from,
            upto: header.upto,
            digest: OrderDigest::default(),
        })
    }

    /// Adds order `number` (the next one of the range), stored as `value`.
    pub fn order(&mut self, number: u64, value: &[u8]) -> Result<(), StreamError> {
        if number != self.next || number > self.upto {
            return Err(StreamError::Corrupt(format!(
                "order {number} where order {} belongs (the range ends at {})",
                self.next, self.upto
            )));
        }
        self.out.record(kind::ORDER, &number.to_be_bytes(), value)?;
        self.digest.add(number, value);
        self.next += 1;
        Ok(())
    }

    /// Writes the digest record and the end mark; returns the writer, the file's size and
    /// the digest. Refuses a range not written to its end.
    pub fn finish(mut self) -> Result<(W, u64, OrderDigest), StreamError> {
        if self.next != self.upto + 1 {
            return Err(StreamError::Corrupt(format!(
                "the archive stops at order {} of {}",
                self.next.saturating_sub(1),
                self.upto
            )));
        }
        let digest = self.digest;
        self.out
            .record(kind::ARCHIVE_DIGEST, b"", &digest.to_bytes())?;
        let (inner, bytes) = self.out.finish()?;
        Ok((inner, bytes, digest))
    }
}

/// What a whole, checked archive file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveContents {
    pub header: ArchiveHeader,
    pub digest: OrderDigest,
    pub bytes: u64,
}

/// Reads a whole archive file and checks everything: framing and CRC, one order for every
/// number of the header's range in order, and the digest record against the orders read.
/// `each` sees every order as it passes.
pub fn read_archive<R: Read>(
    input: R,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), StreamError>,
) -> Result<ArchiveContents, StreamError> {
    let corrupt = |what: String| StreamError::Corrupt(what);
    let mut counted = Counted {
        inner: input,
        bytes: 0,
    };
    let mut reader: StreamReader<_, ArchiveHeader> =
        StreamReader::open_format(&mut counted, ARCHIVE_FORMAT)?;
    let header = reader.header().clone();
    if header.from == 0 || header.upto < header.from {
        return Err(corrupt(format!(
            "the header names orders {}..={}",
            header.from, header.upto
        )));
    }
    let mut next = header.from;
    let mut digest = OrderDigest::default();
    let mut stated = None;
    while let Some(record) = reader.next_record()? {
        if stated.is_some() {
            return Err(corrupt("records after the digest".into()));
        }
        match record.kind {
            kind::ORDER => {
                let key: [u8; 8] =
                    record.key.as_slice().try_into().map_err(|_| {
                        corrupt(format!("an order key of {} bytes", record.key.len()))
                    })?;
                let number = u64::from_be_bytes(key);
                if number != next || number > header.upto {
                    return Err(corrupt(format!(
                        "order {number} where order {next} belongs (a gap or a reordering)"
                    )));
                }
                digest.add(number, &record.value);
                each(number, &record.value)?;
                next += 1;
            }
            kind::ARCHIVE_DIGEST => {
                stated = Some(
                    OrderDigest::from_bytes(&record.value)
                        .ok_or_else(|| corrupt("an unreadable digest record".into()))?,
                );
            }
            other => return Err(corrupt(format!("a record of kind {other}"))),
        }
    }
    drop(reader);
    if next != header.upto + 1 {
        return Err(corrupt(format!(
            "the orders stop at {} of {}..={}",
            next.saturating_sub(1),
            header.from,
            header.upto
        )));
    }
    let stated = stated.ok_or_else(|| corrupt("the digest record is missing".into()))?;
    if stated != digest {
        return Err(corrupt(format!(
            "its orders hash to {digest}, its digest record says {stated}"
        )));
    }
    Ok(ArchiveContents {
        header,
        digest,
        bytes: counted.bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(from: u64, upto: u64) -> ArchiveHeader {
        ArchiveHeader {
            from,
            upto,
            index: 40,
            node: 2,
            saved_at_ms: 1,
        }
    }

    fn stored(number: u64) -> Vec<u8> {
        let order = OrderRecord {
            number,
            product: "Tux".into(),
            quantity: 2,
            unit_price: 2599,
            total: 5198,
            index: 10 + number,
            request_id: format!("k{number}"),
        };
        crate::codec::encode(&order).unwrap()
    }

    fn sample(from: u64, upto: u64) -> (Vec<u8>, OrderDigest) {
        let mut w = ArchiveWriter::new(Vec::new(), &header(from, upto)).unwrap();
        for n in from..=upto {
            w.order(n, &stored(n)).unwrap();
        }
        let (bytes, size, digest) = w.finish().unwrap();
        assert_eq!(size, bytes.len() as u64);
        (bytes, digest)
    }

    #[test]
    fn a_written_archive_reads_back_with_its_digest_and_orders() {
        let (bytes, digest) = sample(3, 7);
        let mut seen = Vec::new();
        let contents = read_archive(&bytes[..], |n, v| {
            seen.push((n, OrderRecord::decode(v)?));
            Ok(())
        })
        .unwrap();
        assert_eq!(contents.digest, digest);
        assert_eq!(digest.count, 5);
        assert_eq!(contents.header, header(3, 7));
        assert_eq!(contents.bytes, bytes.len() as u64);
        assert_eq!(seen.len(), 5);
        assert_eq!(seen[1].1.view().number, 4);
        assert_eq!(seen[1].1.request_id, "k4");
        let again = OrderDigest::parse(&digest.hex(), 5).unwrap();
        assert_eq!(again, digest);
        assert!(OrderDigest::parse("xyz", 5).is_none());
    }

    #[test]
    fn the_digest_is_the_content_sum_share_and_ignores_order() {
        let mut a = OrderDigest::default();
        a.add(1, b"x");
        a.add(2, b"y");
        let mut b = OrderDigest::default();
        b.add(2, b"y");
        b.add(1, b"x");
        assert_eq!(a, b);
        let mut c = OrderDigest::default();
        c.add(1, b"y");
        c.add(2, b"x");
        assert_ne!(a, c, "a value moved to another number changes the digest");
        assert_eq!(
            a.sum,
            record_hash(kind::ORDER, &1u64.to_be_bytes(), b"x").wrapping_add(record_hash(
                kind::ORDER,
                &2u64.to_be_bytes(),
                b"y"
            ))
        );
    }

    #[test]
    fn gaps_damage_truncation_and_a_wrong_digest_are_refused() {
        let mut w = ArchiveWriter::new(Vec::new(), &header(1, 3)).unwrap();
        w.order(1, &stored(1)).unwrap();
        assert!(w.order(3, &stored(3)).is_err(), "a gap is refused");
        w.order(2, &stored(2)).unwrap();
        let unfinished = w.finish().map(|_| ()).unwrap_err();
        assert!(
            unfinished.to_string().contains("stops at order 2 of 3"),
            "{unfinished}"
        );

        let (bytes, _) = sample(1, 4);
        for cut in [4, 30, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                read_archive(&bytes[..cut], |_, _| Ok(())).is_err(),
                "cut {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 1;
        assert!(read_archive(&flipped[..], |_, _| Ok(())).is_err());

        // A well-framed file whose digest record lies: built by hand.
        let mut out = StreamWriter::with_format(Vec::new(), ARCHIVE_FORMAT, &header(1, 1)).unwrap();
        out.record(kind::ORDER, &1u64.to_be_bytes(), &stored(1))
            .unwrap();
        let wrong = OrderDigest { sum: 7, count: 1 };
        out.record(kind::ARCHIVE_DIGEST, b"", &wrong.to_bytes())
            .unwrap();
        let (lying, _) = out.finish().unwrap();
        let err = read_archive(&lying[..], |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("digest record says"), "{err}");

        // A backup is not an archive.
        let backup = crate::backup::StreamWriter::new(
            Vec::new(),
            &crate::backup::StreamHeader {
                snapshot_id: "s".into(),
                index: 1,
                term: 1,
                next_order: 1,
                digest: "0".into(),
                state: vec![],
            },
        )
        .unwrap()
        .finish()
        .unwrap()
        .0;
        let err = read_archive(&backup[..], |_, _| Ok(())).unwrap_err();
        assert!(err.to_string().contains("wrong magic"), "{err}");
    }
}
