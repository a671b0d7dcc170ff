//! Every file's unsynced data, by node id: written to the backing file on that file's fsync,
//! dropped all at once by [`Unsynced::cut`] (the power cut).
//!
//! Locks: the map's, then an entry's, never the other way round. An fsync holds only its
//! file's entry while it writes and syncs, so other files go on meanwhile. An entry taken
//! out of the map (synced clean, cut, or its file gone) is marked `retired`, and whoever
//! finds it retired after locking it looks again: a write can never land in an entry that
//! is no longer in the map.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::fs::OFlags;

use crate::buffer::{read_backing, FileBuffer};
use crate::inodes::{reopen, stat, Pin};

struct Entry {
    /// The backing file (held, so its inode cannot be reused while data is buffered for it).
    pin: Pin,
    buffer: FileBuffer,
    retired: bool,
}

type Shared = Arc<Mutex<Entry>>;

/// What a power cut dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files whose unsynced writes or size changes were dropped.
    pub files: usize,
    /// Written bytes that were held in memory and are gone.
    pub bytes: u64,
}

/// What a sync of every file wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub files: usize,
    pub bytes: u64,
}

#[derive(Default)]
pub struct Unsynced {
    files: Mutex<HashMap<u64, Shared>>,
}

fn lock(entry: &Shared) -> MutexGuard<'_, Entry> {
    entry.lock().unwrap_or_else(|e| e.into_inner())
}

impl Unsynced {
    fn files(&self) -> MutexGuard<'_, HashMap<u64, Shared>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: u64) -> Option<Shared> {
        self.files().get(&id).cloned()
    }

    /// Runs `change` on node `id`'s buffer, starting one over the backing file `pin` if the
    /// file has none.
    pub fn change<R>(
        &self,
        id: u64,
        pin: &Pin,
        change: impl FnOnce(&mut FileBuffer) -> R,
    ) -> io::Result<R> {
        loop {
            let shared = match self.get(id) {
                Some(shared) => shared,
                None => {
                    let len = stat(pin.as_ref())?.st_size as u64;
                    let fresh = Arc::new(Mutex::new(Entry {
                        pin: Arc::clone(pin),
                        buffer: FileBuffer::new(len),
                        retired: false,
                    }));
                    Arc::clone(self.files().entry(id).or_insert(fresh))
                }
            };
            let mut entry = lock(&shared);
            if !entry.retired {
                return Ok(change(&mut entry.buffer));
            }
        }
    }

    /// Reads node `id` as its writers see it: its buffer over `backing`, or `backing` alone.
    pub fn read(&self, id: u64, backing: &File, offset: u64, size: usize) -> io::Result<Vec<u8>> {
        if let Some(shared) = self.get(id) {
            let entry = lock(&shared);
            if !entry.retired {
                return entry.buffer.read(backing, offset, size);
            }
        }
        read_backing(backing, offset, size)
    }

    /// Node `id`'s length as its writers see it, while it has unsynced changes.
    pub fn len(&self, id: u64) -> Option<u64> {
        let shared = self.get(id)?;
        let entry = lock(&shared);
        (!entry.retired).then(|| entry.buffer.len())
    }

    /// fsync (`data_only`: fdatasync) of node `id`: writes its buffer to the backing file and
    /// syncs that. Returns the bytes written. On an error the buffer is kept.
    pub fn sync(&self, id: u64, data_only: bool) -> io::Result<u64> {
        let Some(shared) = self.get(id) else {
            return Ok(0);
        };
        let bytes = {
            let mut entry = lock(&shared);
            if entry.retired || !entry.buffer.is_dirty() {
                0
            } else {
                let mut file = File::from(reopen(&entry.pin, OFlags::WRONLY)?);
                entry.buffer.write_to(&mut file)?;
                if data_only {
                    file.sync_data()?;
                } else {
                    file.sync_all()?;
                }
                let bytes = entry.buffer.buffered_bytes();
                entry.buffer.synced();
                bytes
            }
        };
        // Clean now: out of the map, unless a write came in meanwhile.
        let mut files = self.files();
        if files.get(&id).is_some_and(|s| Arc::ptr_eq(s, &shared)) {
            let mut entry = lock(&shared);
            if !entry.buffer.is_dirty() {
                entry.retired = true;
                files.remove(&id);
            }
        }
        Ok(bytes)
    }

    /// Syncs every file (a clean shutdown's `sync`). Stops at the first error.
    pub fn sync_all(&self) -> io::Result<SyncReport> {
        let ids: Vec<u64> = self.files().keys().copied().collect();
        let mut report = SyncReport::default();
        for id in ids {
            let bytes = self.sync(id, false)?;
            if bytes > 0 {
                report.files += 1;
                report.bytes += bytes;
            }
        }
        Ok(report)
    }

    /// The power cut: every unsynced write and size change is dropped. The backing files
    /// keep what the last sync of each wrote.
    pub fn cut(&self) -> CutReport {
        let mut files = self.files();
        let mut report = CutReport::default();
        for (_, shared) in files.drain() {
            let mut entry = lock(&shared);
            if entry.buffer.is_dirty() {
                report.files += 1;
                report.bytes += entry.buffer.buffered_bytes();
            }
            entry.retired = true;
        }
        report
    }

    /// Forgets node `id`'s unsynced data: its file is gone (no name, no open handle).
    pub fn discard(&self, id: u64) {
        if let Some(shared) = self.files().remove(&id) {
            lock(&shared).retired = true;
        }
    }

    /// Files with unsynced changes, and the bytes they hold.
    pub fn pending(&self) -> (usize, u64) {
        let entries: Vec<Shared> = self.files().values().cloned().collect();
        entries.iter().fold((0, 0), |(files, bytes), shared| {
            let entry = lock(shared);
            if entry.retired || !entry.buffer.is_dirty() {
                (files, bytes)
            } else {
                (files + 1, bytes + entry.buffer.buffered_bytes())
            }
        })
    }
}
