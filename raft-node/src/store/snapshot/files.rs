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
        Ok(Self {
            dir: dir.to_owned(),
            next: Arc::new(AtomicU64::new(1)),
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
        fs::rename(part, self.current_path())?;
        sync_dir(&self.dir)
    }

    /// The current snapshot's size in bytes (0 when there is none).
    pub fn current_bytes(&self) -> Result<u64, StoreError> {
        match fs::metadata(self.current_path()) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e.into()),
        }
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
