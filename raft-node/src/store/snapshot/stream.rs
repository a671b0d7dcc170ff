//! The node's side of the snapshot and backup stream ([`bazaar_api::backup`]): the header
//! carries the state machine's metadata, encoded by the node's codec, beside the summary
//! any reader can see.

use std::io::{Read, Write};

use bazaar_api::backup::{self as wire, StreamError};
pub use bazaar_api::backup::{Record, STREAM_VERSION};

use crate::codec::{decode, encode};
use crate::store::error::StoreError;
use crate::store::sm_meta::SmMeta;

impl From<StreamError> for StoreError {
    fn from(e: StreamError) -> Self {
        match e {
            StreamError::Corrupt(what) => StoreError::Corrupt(what),
            StreamError::Version { found, expected } => StoreError::Version { found, expected },
            StreamError::Io(e) => StoreError::Io(e),
        }
    }
}

/// What a snapshot or backup says about itself before its records.
#[derive(Debug, Clone)]
pub struct StreamHeader {
    /// The applied state the records belong to.
    pub meta: SmMeta,
    /// Names the snapshot (openraft's snapshot id); a backup's says when it was taken.
    pub snapshot_id: String,
}

impl StreamHeader {
    fn to_wire(&self) -> Result<wire::StreamHeader, StoreError> {
        Ok(wire::StreamHeader {
            snapshot_id: self.snapshot_id.clone(),
            index: self.meta.applied_index(),
            term: self
                .meta
                .last_applied
                .map(|l| l.leader_id.term)
                .unwrap_or(0),
            next_order: self.meta.next_order,
            digest: self.meta.digest.hex(),
            state: encode(&self.meta)?,
        })
    }

    fn from_wire(header: &wire::StreamHeader) -> Result<Self, StoreError> {
        let meta: SmMeta = decode(&header.state)?;
        if meta.applied_index() != header.index || meta.digest.hex() != header.digest {
            return Err(StoreError::Corrupt(
                "the header's summary disagrees with its state".into(),
            ));
        }
        Ok(Self {
            meta,
            snapshot_id: header.snapshot_id.clone(),
        })
    }
}

/// Writes a stream record by record.
pub struct StreamWriter<W: Write>(wire::StreamWriter<W>);

impl<W: Write> StreamWriter<W> {
    pub fn new(inner: W, header: &StreamHeader) -> Result<Self, StoreError> {
        Ok(Self(wire::StreamWriter::new(inner, &header.to_wire()?)?))
    }

    pub fn record(&mut self, kind: u8, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        Ok(self.0.record(kind, key, value)?)
    }

    /// Writes the end mark and checksum; returns the inner writer and the stream's size.
    pub fn finish(self) -> Result<(W, u64), StoreError> {
        Ok(self.0.finish()?)
    }
}

/// Reads a stream, checking the format version first and the checksum at the end.
pub struct StreamReader<R: Read> {
    inner: wire::StreamReader<R>,
    header: StreamHeader,
}

impl<R: Read> StreamReader<R> {
    pub fn open(inner: R) -> Result<Self, StoreError> {
        let inner = wire::StreamReader::open(inner)?;
        let header = StreamHeader::from_wire(inner.header())?;
        Ok(Self { inner, header })
    }

    pub fn header(&self) -> &StreamHeader {
        &self.header
    }

    /// The next record, or `None` after the end mark, once the count and checksum match.
    pub fn next_record(&mut self) -> Result<Option<Record>, StoreError> {
        Ok(self.inner.next_record()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_metadata_round_trips_through_the_header() {
        let header = StreamHeader {
            meta: SmMeta {
                next_order: 42,
                ..SmMeta::default()
            },
            snapshot_id: "t-1".into(),
        };
        let mut w = StreamWriter::new(Vec::new(), &header).unwrap();
        w.record(1, b"Tux", b"penguin").unwrap();
        let bytes = w.finish().unwrap().0;
        let mut r = StreamReader::open(&bytes[..]).unwrap();
        assert_eq!(r.header().meta.next_order, 42);
        assert_eq!(r.header().snapshot_id, "t-1");
        assert_eq!(r.next_record().unwrap().unwrap().key, b"Tux");
        assert!(r.next_record().unwrap().is_none());
    }
}
