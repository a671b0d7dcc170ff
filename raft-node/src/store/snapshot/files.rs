//! The node's snapshot files: `current.snap` (the one openraft sends to lagging peers),
//! files being built or received beside it, each moved into place atomically.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::stream::{StreamHeader, StreamReader};
use crate::store::error::StoreError;
use crate::store::sm_db::sync_dir;

const CURRENT: &str = "current.snap";

#[derive(Debug, Clone)]
pub struct SnapshotFiles {
    dir: PathBuf,
    next: Arc<AtomicU64>,
    /// The current snapshot's size (0: none), noted where it is made, so a reader needs
    /// no file-system call.
    current_bytes: Arc<AtomicU64>,
}

impl SnapshotFiles {
    /// Opens the folder, removing partial files a crash left behind.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        fs::create_dir_all(dir)?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().ends_with(".part") {
                fs::remove_file(entry.path())?;
            }
        }
        let current_bytes = match fs::metadata(dir.join(CURRENT)) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            dir: dir.to_owned(),
            next: Arc::new(AtomicU64::new(1)),
            current_bytes: Arc::new(AtomicU64::new(current_bytes)),
        })
    }

    pub fn current_path(&self) -> PathBuf {
        self.dir.join(CURRENT)
    }

    /// A fresh file name for a snapshot being built or received (`<what>-<n>.part`).
    pub fn part_path(&self, what: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{what}-{}-{n}.part", std::process::id()))
    }

    /// Makes a finished (synced) part the current snapshot.
    pub fn make_current(&self, part: &Path) -> Result<(), StoreError> {
        let bytes = fs::metadata(part)?.len();
        fs::rename(part, self.current_path())?;
        self.current_bytes.store(bytes, Ordering::Relaxed);
        sync_dir(&self.dir)
    }

    /// The current snapshot's size in bytes (0 when there is none).
    pub fn current_bytes(&self) -> u64 {
        self.current_bytes.load(Ordering::Relaxed)
    }

    /// Reads the current snapshot whole, checking its framing, its record count and its
    /// CRC; returns its record count (none without a snapshot). Blocking.
    pub fn verify_current(&self) -> Result<Option<u64>, StoreError> {
        let file = match File::open(self.current_path()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut reader = StreamReader::open(std::io::BufReader::with_capacity(1 << 20, file))?;
        let mut records = 0;
        while reader.next_record()?.is_some() {
            records += 1;
        }
        Ok(Some(records))
    }

    /// The current snapshot's header, if there is one.
    pub fn current_header(&self) -> Result<Option<StreamHeader>, StoreError> {
        match File::open(self.current_path()) {
            Ok(f) => Ok(Some(StreamReader::open(f)?.header().clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_size_is_known_after_make_current_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let files = SnapshotFiles::open(dir.path()).unwrap();
        assert_eq!(files.current_bytes(), 0);
        let part = files.part_path("build");
        fs::write(&part, [7u8; 1234]).unwrap();
        files.make_current(&part).unwrap();
        assert_eq!(files.current_bytes(), 1234);
        assert_eq!(
            SnapshotFiles::open(dir.path()).unwrap().current_bytes(),
            1234
        );
    }
}
