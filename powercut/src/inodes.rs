//! The inodes the kernel knows: each FUSE node id maps to an `O_PATH` handle on the backing
//! object, so a rename or unlink in the backing dir never leaves a stale path behind, and the
//! backing inode cannot be freed (and its number reused) while the handle is held.
//!
//! A node id is the backing inode number, except that the backing root is node 1 (FUSE's
//! root) and a backing inode numbered 1, if any, takes the root's number: one bijection,
//! no table of numbers to keep. The backing dir must be one filesystem (inode numbers are
//! only unique within one).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo};
use rustix::fs::{AtFlags, Mode, OFlags, Stat, CWD};

/// FUSE's root node id.
pub const ROOT: u64 = 1;

/// An `O_PATH` handle on a backing object, shared by the table and whoever uses it.
pub type Pin = Arc<OwnedFd>;

struct Node {
    pin: Pin,
    /// How many times the kernel was handed this node (lookups, creates) minus forgets.
    lookups: u64,
}

pub struct Inodes {
    /// The backing root's inode number.
    root_ino: u64,
    nodes: Mutex<HashMap<u64, Node>>,
}

impl Inodes {
    /// The table with the backing dir `root` as node 1.
    pub fn new(root: &Path) -> io::Result<Self> {
        let pin = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let root_ino = rustix::fs::fstat(&pin)?.st_ino;
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                pin: Arc::new(pin),
                lookups: u64::MAX / 2,
            },
        );
        Ok(Self {
            root_ino,
            nodes: Mutex::new(nodes),
        })
    }

    fn nodes(&self) -> MutexGuard<'_, HashMap<u64, Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node id of backing inode `ino`.
    pub fn node_id(&self, ino: u64) -> u64 {
        if ino == self.root_ino {
            ROOT
        } else if ino == ROOT {
            self.root_ino
        } else {
            ino
        }
    }

    /// The handle of node `id`; ESTALE for a node the kernel was never handed (or forgot).
    pub fn pin(&self, id: u64) -> io::Result<Pin> {
        self.nodes()
            .get(&id)
            .map(|n| Arc::clone(&n.pin))
            .ok_or_else(|| io::Error::from_raw_os_error(rustix::io::Errno::STALE.raw_os_error()))
    }

    /// Looks `name` up in directory `parent` (not following a symlink) and counts one more
    /// lookup of the node found: the kernel now holds it.
    pub fn lookup(&self, parent: &Pin, name: &OsStr) -> io::Result<(u64, Stat)> {
        let fd = rustix::fs::openat(
            parent.as_fd(),
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let stat = rustix::fs::fstat(&fd)?;
        let id = self.node_id(stat.st_ino);
        self.nodes()
            .entry(id)
            .and_modify(|n| n.lookups += 1)
            .or_insert_with(|| Node {
                pin: Arc::new(fd),
                lookups: 1,
            });
        Ok((id, stat))
    }

    /// The kernel forgot `n` lookups of node `id`; its handle goes with the last.
    pub fn forget(&self, id: u64, n: u64) {
        if id == ROOT {
            return;
        }
        let mut nodes = self.nodes();
        if let Some(node) = nodes.get_mut(&id) {
            node.lookups = node.lookups.saturating_sub(n);
            if node.lookups == 0 {
                nodes.remove(&id);
            }
        }
    }

    /// The attributes of node `id` from `stat`, with `len` (the unsynced length, when the
    /// file has one) for its size.
    pub fn attr(&self, id: u64, stat: &Stat, len: Option<u64>) -> FileAttr {
        FileAttr {
            ino: INodeNo(id),
            size: len.unwrap_or(stat.st_size as u64),
            blocks: stat.st_blocks as u64,
            atime: time(stat.st_atime, stat.st_atime_nsec as u32),
            mtime: time(stat.st_mtime, stat.st_mtime_nsec as u32),
            ctime: time(stat.st_ctime, stat.st_ctime_nsec as u32),
            crtime: UNIX_EPOCH,
            kind: kind(stat.st_mode),
            perm: (stat.st_mode & 0o7777) as u16,
            nlink: stat.st_nlink as u32,
            uid: stat.st_uid,
            gid: stat.st_gid,
            rdev: stat.st_rdev as u32,
            blksize: stat.st_blksize as u32,
            flags: 0,
        }
    }
}

fn time(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// The FUSE file type of a `st_mode`.
pub fn kind(mode: u32) -> FileType {
    match rustix::fs::FileType::from_raw_mode(mode) {
        rustix::fs::FileType::Directory => FileType::Directory,
        rustix::fs::FileType::Symlink => FileType::Symlink,
        rustix::fs::FileType::Fifo => FileType::NamedPipe,
        rustix::fs::FileType::Socket => FileType::Socket,
        rustix::fs::FileType::CharacterDevice => FileType::CharDevice,
        rustix::fs::FileType::BlockDevice => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

/// The FUSE file type of a directory entry's type.
pub fn dirent_kind(kind: rustix::fs::FileType) -> FileType {
    match kind {
        rustix::fs::FileType::Directory => FileType::Directory,
        rustix::fs::FileType::Symlink => FileType::Symlink,
        rustix::fs::FileType::Fifo => FileType::NamedPipe,
        rustix::fs::FileType::Socket => FileType::Socket,
        rustix::fs::FileType::CharacterDevice => FileType::CharDevice,
        rustix::fs::FileType::BlockDevice => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

/// `/proc/self/fd/N` of a handle: opening it opens the object itself, wherever it now is.
pub fn proc_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens the object behind an `O_PATH` handle for I/O with `flags`.
pub fn reopen(pin: &Pin, flags: OFlags) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        CWD,
        proc_path(pin.as_ref()),
        flags | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `fstat` of a handle.
pub fn stat(fd: impl AsFd) -> io::Result<Stat> {
    Ok(rustix::fs::fstat(fd)?)
}

/// `fstatat(dir, name)` without following a symlink; None if there is no such entry.
pub fn stat_entry(dir: &Pin, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
