//! The unsynced contents of one file: the writes and size changes made since its last
//! fsync, held in memory over the backing file's bytes until they are synced (written to the
//! backing file) or dropped (a power cut). No FUSE here, so it is unit-tested directly.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Where a buffer's unbuffered bytes are read from, and where its bytes go when synced.
pub trait Backing {
    /// Reads up to `buf.len()` bytes at `offset`; fewer (0 at the end) past the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl Backing for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }

    fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, data, offset)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// Reads `size` bytes at `offset` of `backing` into a new vector, short at its end.
pub fn read_backing(backing: &impl Backing, offset: u64, size: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0; size];
    let n = fill(backing, &mut out, offset)?;
    out.truncate(n);
    Ok(out)
}

/// Reads into all of `buf` at `offset`, stopping early only at the end of `backing`;
/// returns how many bytes were read.
fn fill(backing: &impl Backing, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match backing.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// One file's unsynced state. The file as readers see it is: the backing file's bytes below
/// `kept`, zeros from there to `len`, with `extents` laid over both.
///
/// Invariants: `kept <= backing_len` and `kept <= len`; the extents are disjoint, not
/// empty, and lie below `len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBuffer {
    /// The backing file's length (as of the last sync, or when this buffer started).
    backing_len: u64,
    /// The file's length as readers see it.
    len: u64,
    /// The backing bytes at and past this offset were cut off by a truncate.
    kept: u64,
    /// Written bytes by offset.
    extents: BTreeMap<u64, Vec<u8>>,
}

impl FileBuffer {
    /// A clean buffer over a backing file of `backing_len` bytes.
    pub fn new(backing_len: u64) -> Self {
        Self {
            backing_len,
            len: backing_len,
            kept: backing_len,
            extents: BTreeMap::new(),
        }
    }

    /// The file's length as readers see it.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty as readers see it.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether anything differs from the backing file.
    pub fn is_dirty(&self) -> bool {
        !self.extents.is_empty() || self.len != self.backing_len || self.kept != self.backing_len
    }

    /// The bytes held in memory.
    pub fn buffered_bytes(&self) -> u64 {
        self.extents.values().map(|v| v.len() as u64).sum()
    }

    /// Records a write of `data` at `offset` (past the end extends the file, with zeros in
    /// between).
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let end = offset + data.len() as u64;
        // The extent before (or at) `offset` that reaches it is extended in place: appends,
        // the common case, cost a copy of the new bytes only.
        let touching = self
            .extents
            .range(..=offset)
            .next_back()
            .filter(|(start, bytes)| *start + bytes.len() as u64 >= offset)
            .map(|(start, _)| *start);
        let (start, mut merged) = match touching {
            Some(start) => (start, self.extents.remove(&start).unwrap_or_default()),
            None => (offset, Vec::new()),
        };
        let at = (offset - start) as usize;
        if merged.len() < at + data.len() {
            merged.resize(at + data.len(), 0);
        }
        merged[at..at + data.len()].copy_from_slice(data);
        // Later extents that the new bytes overlap or touch: what lies past them is kept.
        let merged_end = start + merged.len() as u64;
        let later: Vec<u64> = self
            .extents
            .range(offset..=merged_end)
            .map(|(start, _)| *start)
            .collect();
        for later_start in later {
            let Some(bytes) = self.extents.remove(&later_start) else {
                continue;
            };
            let covered = start + merged.len() as u64;
            let later_end = later_start + bytes.len() as u64;
            if later_end > covered {
                merged.extend_from_slice(&bytes[(covered - later_start) as usize..]);
            }
        }
        self.extents.insert(start, merged);
        self.len = self.len.max(end);
    }

    /// Sets the file's length: shorter drops what lies past it, longer adds zeros.
    pub fn set_len(&mut self, len: u64) {
        if len < self.len {
            let past: Vec<u64> = self.extents.range(len..).map(|(start, _)| *start).collect();
            for start in past {
                self.extents.remove(&start);
            }
            if let Some((start, bytes)) = self.extents.range_mut(..len).next_back() {
                let keep = len - *start;
                if (bytes.len() as u64) > keep {
                    bytes.truncate(keep as usize);
                }
            }
            self.kept = self.kept.min(len);
        }
        self.len = len;
    }

    /// Reads up to `size` bytes at `offset` as readers see the file: short at its end.
    pub fn read(&self, backing: &impl Backing, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        if offset >= self.len {
            return Ok(Vec::new());
        }
        let end = self.len.min(offset.saturating_add(size as u64));
        let mut out = vec![0; (end - offset) as usize];
        let from_backing = end.min(self.kept);
        if offset < from_backing {
            // A backing file shorter than it should be reads as zeros past its end.
            fill(
                backing,
                &mut out[..(from_backing - offset) as usize],
                offset,
            )?;
        }
        let first = self
            .extents
            .range(..=offset)
            .next_back()
            .map_or(offset, |(start, _)| *start);
        for (start, bytes) in self.extents.range(first..end) {
            let extent_end = start + bytes.len() as u64;
            if extent_end <= offset {
                continue;
            }
            let from = offset.max(*start);
            let to = end.min(extent_end);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&bytes[(from - start) as usize..(to - start) as usize]);
        }
        Ok(out)
    }

    /// Writes this buffer into `backing` (the caller syncs it, then calls
    /// [`synced`](Self::synced)).
    pub fn write_to(&self, backing: &mut impl Backing) -> io::Result<()> {
        let mut backing_len = self.backing_len;
        if self.kept < backing_len {
            backing.set_len(self.kept)?;
            backing_len = self.kept;
        }
        for (start, bytes) in &self.extents {
            backing.write_all_at(bytes, *start)?;
            backing_len = backing_len.max(start + bytes.len() as u64);
        }
        if backing_len != self.len {
            backing.set_len(self.len)?;
        }
        Ok(())
    }

    /// The buffer after its contents reached the backing file: clean at the new length.
    pub fn synced(&mut self) {
        *self = Self::new(self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Backing for Vec<u8> {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let offset = (offset as usize).min(self.len());
            let n = buf.len().min(self.len() - offset);
            buf[..n].copy_from_slice(&self[offset..offset + n]);
            Ok(n)
        }

        fn write_all_at(&mut self, data: &[u8], offset: u64) -> io::Result<()> {
            let end = offset as usize + data.len();
            if self.len() < end {
                self.resize(end, 0);
            }
            self[offset as usize..end].copy_from_slice(data);
            Ok(())
        }

        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.resize(len as usize, 0);
            Ok(())
        }
    }

    /// The whole file as `buffer` shows it over `backing`.
    fn contents(buffer: &FileBuffer, backing: &Vec<u8>) -> Vec<u8> {
        buffer.read(backing, 0, usize::MAX / 2).expect("read")
    }

    /// What syncing `buffer` leaves in a copy of `backing`.
    fn synced(buffer: &FileBuffer, backing: &[u8]) -> Vec<u8> {
        let mut out = backing.to_vec();
        buffer.write_to(&mut out).expect("write");
        out
    }

    /// Applies the same operations to the buffer and to a plain vector (the model), and
    /// checks the buffer shows the model, and that a sync writes exactly the model.
    struct Check {
        backing: Vec<u8>,
        buffer: FileBuffer,
        model: Vec<u8>,
    }

    impl Check {
        fn over(backing: &[u8]) -> Self {
            Self {
                backing: backing.to_vec(),
                buffer: FileBuffer::new(backing.len() as u64),
                model: backing.to_vec(),
            }
        }

        fn write(&mut self, offset: u64, data: &[u8]) -> &mut Self {
            self.buffer.write(offset, data);
            self.model.write_all_at(data, offset).expect("model");
            self.agree()
        }

        fn set_len(&mut self, len: u64) -> &mut Self {
            self.buffer.set_len(len);
            self.model.resize(len as usize, 0);
            self.agree()
        }

        fn agree(&mut self) -> &mut Self {
            assert_eq!(contents(&self.buffer, &self.backing), self.model);
            assert_eq!(self.buffer.len(), self.model.len() as u64);
            assert_eq!(synced(&self.buffer, &self.backing), self.model);
            for extents in self.buffer.extents.iter().collect::<Vec<_>>().windows(2) {
                let (a, b) = (extents[0], extents[1]);
                assert!(a.0 + a.1.len() as u64 <= *b.0, "overlap: {:?}", self.buffer);
            }
            self
        }
    }

    #[test]
    fn a_write_is_read_back_before_any_sync_and_the_backing_is_untouched() {
        let backing = b"hello world".to_vec();
        let mut buffer = FileBuffer::new(backing.len() as u64);
        buffer.write(6, b"there");
        assert_eq!(contents(&buffer, &backing), b"hello there");
        assert_eq!(backing, b"hello world");
        assert!(buffer.is_dirty());
        assert_eq!(buffer.buffered_bytes(), 5);
    }

    #[test]
    fn appends_grow_one_extent() {
        let mut check = Check::over(b"");
        for i in 0..100u8 {
            check.write(u64::from(i) * 3, &[i, i, i]);
        }
        assert_eq!(check.buffer.extents.len(), 1);
    }

    #[test]
    fn overlapping_writes_keep_the_newest_bytes() {
        Check::over(b"0123456789")
            .write(2, b"aaaa")
            .write(4, b"bbbb")
            .write(0, b"c")
            .write(1, b"dddddddddd")
            .write(20, b"far")
            .write(15, b"xxxxxxx");
    }

    #[test]
    fn a_write_that_covers_several_extents_merges_them() {
        let mut check = Check::over(b"");
        check
            .write(0, b"aa")
            .write(5, b"bb")
            .write(10, b"cc")
            .write(1, b"zzzzzzzzz");
        assert_eq!(check.buffer.extents.len(), 1);
    }

    #[test]
    fn a_write_past_the_end_leaves_zeros_between() {
        Check::over(b"abc").write(10, b"z").write(5, b"y");
    }

    #[test]
    fn reads_in_the_middle_and_past_the_end() {
        let backing = b"0123456789".to_vec();
        let mut buffer = FileBuffer::new(10);
        buffer.write(3, b"xy");
        buffer.write(12, b"q");
        assert_eq!(buffer.read(&backing, 2, 4).expect("read"), b"2xy5");
        assert_eq!(buffer.read(&backing, 4, 1).expect("read"), b"y");
        assert_eq!(buffer.read(&backing, 9, 100).expect("read"), b"9\0\0q");
        assert_eq!(buffer.read(&backing, 13, 10).expect("read"), b"");
        assert_eq!(buffer.read(&backing, 100, 10).expect("read"), b"");
    }

    #[test]
    fn truncate_then_extend_reads_zeros_not_the_old_bytes() {
        Check::over(b"0123456789")
            .set_len(4)
            .set_len(8)
            .write(6, b"ab")
            .write(12, b"c")
            .set_len(7)
            .write(1, b"z");
    }

    #[test]
    fn truncate_cuts_an_extent_in_the_middle() {
        let mut check = Check::over(b"");
        check.write(0, b"abcdefgh").set_len(3).write(5, b"z");
        assert_eq!(check.model, b"abc\0\0z");
    }

    #[test]
    fn truncating_a_clean_file_to_its_length_is_clean() {
        let mut buffer = FileBuffer::new(5);
        buffer.set_len(5);
        assert!(!buffer.is_dirty());
        buffer.set_len(6);
        assert!(buffer.is_dirty());
    }

    #[test]
    fn after_a_sync_the_buffer_is_clean_and_shows_the_synced_file() {
        let mut backing = b"0123456789".to_vec();
        let mut buffer = FileBuffer::new(10);
        buffer.set_len(2);
        buffer.write(4, b"ab");
        buffer.write_to(&mut backing).expect("write");
        buffer.synced();
        assert!(!buffer.is_dirty());
        assert_eq!(backing, b"01\0\0ab");
        assert_eq!(contents(&buffer, &backing), b"01\0\0ab");
        assert_eq!(buffer, FileBuffer::new(6));
    }

    #[test]
    fn dropping_the_buffer_leaves_the_backing_file_as_it_was() {
        // The power cut: a buffer that is never written to its backing file.
        let backing = b"synced".to_vec();
        let mut buffer = FileBuffer::new(6);
        buffer.write(6, b" and not synced");
        buffer.set_len(3);
        drop(buffer);
        assert_eq!(
            contents(&FileBuffer::new(backing.len() as u64), &backing),
            b"synced"
        );
    }

    #[test]
    fn a_short_backing_file_reads_as_zeros() {
        let backing = b"ab".to_vec();
        let buffer = FileBuffer::new(4);
        assert_eq!(contents(&buffer, &backing), b"ab\0\0");
    }

    #[test]
    fn random_operations_agree_with_a_plain_vector() {
        // A small deterministic generator (no rand dependency for one test).
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..50 {
            let start: Vec<u8> = (0..next(40)).map(|i| i as u8).collect();
            let mut check = Check::over(&start);
            for step in 0..40 {
                if next(5) == 0 {
                    check.set_len(next(60));
                } else {
                    let data = vec![step as u8 + 100; next(12) as usize + 1];
                    check.write(next(50), &data);
                }
            }
        }
    }
}
