//! The FUSE side: a passthrough of the backing dir whose file data goes through
//! `Unsynced` (unsynced.rs) instead of straight to the backing files.
//!
//! - Writes, truncates (setattr size, `O_TRUNC`) and `fallocate` that grows a file are held
//!   in memory; reads and `stat` show them (read-your-writes). fsync and fdatasync of a file
//!   write its data to the backing file and sync that; close (flush, release) does not.
//!   A handle opened with `O_SYNC` or `O_DSYNC` syncs after every write.
//! - Metadata goes straight to the backing dir: create, mkdir, mknod, symlink, link, unlink,
//!   rmdir, rename, chmod, chown, utimes. LazyFS does the same by default. A real power cut
//!   can also lose a rename or a new file whose directory was not fsynced; that is not
//!   simulated here.
//! - Every file is opened with `FOPEN_DIRECT_IO` and attributes are never cached, so the
//!   kernel's page cache cannot show a reader data that a cut dropped.
//! - Locks (`fcntl`, `flock`) are left to the kernel, which keeps them locally when the
//!   filesystem does not take them (RocksDB's `LOCK` file works). `fallocate` that only
//!   reserves space (`FALLOC_FL_KEEP_SIZE`) succeeds and does nothing; punching holes and
//!   zeroing ranges answer `EOPNOTSUPP` (RocksDB copes).
//! - New files belong to the user running `powercut` (root in the tests). There are no
//!   extended attributes (`ENOTSUP`).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, LockOwner, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use rustix::fs::{AtFlags, FallocateFlags, Mode, OFlags, Timespec, Timestamps, CWD};

use crate::inodes::{dirent_kind, proc_path, reopen, stat, stat_entry, Inodes, Pin, ROOT};
use crate::unsynced::Unsynced;

/// Attributes and entries are not cached by the kernel: a cut changes sizes behind its back.
const TTL: Duration = Duration::ZERO;

/// An open file.
struct Handle {
    id: u64,
    file: Arc<File>,
    /// Opened with `O_SYNC` or `O_DSYNC`: every write is synced before it is answered.
    sync_writes: bool,
}

/// One entry of an open directory, listed when it was opened.
struct Listed {
    id: u64,
    kind: fuser::FileType,
    name: OsString,
}

pub struct PowercutFs {
    inodes: Inodes,
    unsynced: Arc<Unsynced>,
    files: Mutex<HashMap<u64, Handle>>,
    dirs: Mutex<HashMap<u64, Arc<Vec<Listed>>>>,
    next_handle: AtomicU64,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn errno(e: io::Error) -> Errno {
    Errno::from(e)
}

fn rerr(e: rustix::io::Errno) -> Errno {
    Errno::from_i32(e.raw_os_error())
}

/// The flags a backing file is opened with for an application's `flags`: never appending
/// (a buffered write carries its offset), never direct, never synchronous (syncs are ours).
fn backing_flags(flags: i32) -> OFlags {
    OFlags::from_bits_retain(flags as u32)
        - (OFlags::CREATE
            | OFlags::EXCL
            | OFlags::TRUNC
            | OFlags::NOCTTY
            | OFlags::APPEND
            | OFlags::DIRECT
            | OFlags::SYNC
            | OFlags::DSYNC
            | OFlags::RSYNC)
}

fn wants_sync(flags: i32) -> bool {
    OFlags::from_bits_retain(flags as u32).intersects(OFlags::SYNC | OFlags::DSYNC)
}

fn timespec(t: Option<TimeOrNow>) -> Timespec {
    match t {
        None => Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => {
            let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            Timespec {
                tv_sec: since.as_secs() as i64,
                tv_nsec: since.subsec_nanos().into(),
            }
        }
    }
}

impl PowercutFs {
    pub fn new(backing: &Path, unsynced: Arc<Unsynced>) -> io::Result<Self> {
        Ok(Self {
            inodes: Inodes::new(backing)?,
            unsynced,
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
        })
    }

    fn handle(&self, fh: FileHandle) -> Result<(u64, Arc<File>, bool), Errno> {
        locked(&self.files)
            .get(&fh.0)
            .map(|h| (h.id, Arc::clone(&h.file), h.sync_writes))
            .ok_or(Errno::EBADF)
    }

    fn add_handle(&self, id: u64, file: File, flags: i32) -> u64 {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        locked(&self.files).insert(
            fh,
            Handle {
                id,
                file: Arc::new(file),
                sync_writes: wants_sync(flags),
            },
        );
        fh
    }

    fn attr_of(&self, id: u64) -> Result<FileAttr, Errno> {
        let pin = self.inodes.pin(id).map_err(errno)?;
        let st = stat(pin.as_ref()).map_err(errno)?;
        Ok(self.inodes.attr(id, &st, self.unsynced.len(id)))
    }

    /// Looks `name` up in `parent` and answers with its entry (the kernel now holds it).
    fn entry(&self, parent: &Pin, name: &OsStr) -> Result<FileAttr, Errno> {
        let (id, st) = self.inodes.lookup(parent, name).map_err(errno)?;
        Ok(self.inodes.attr(id, &st, self.unsynced.len(id)))
    }

    fn parent(&self, parent: INodeNo) -> Result<Pin, Errno> {
        self.inodes.pin(parent.0).map_err(errno)
    }

    /// Whether any open handle is on node `id`.
    fn is_open(&self, id: u64) -> bool {
        locked(&self.files).values().any(|h| h.id == id)
    }

    /// The node id of regular file `name` in `dir` while it has a single link (so removing
    /// that name leaves the file without any).
    fn last_link(&self, dir: &Pin, name: &OsStr) -> Option<u64> {
        let st = stat_entry(dir, name).ok()??;
        let regular =
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
        (regular && st.st_nlink == 1).then(|| self.inodes.node_id(st.st_ino))
    }

    /// A file whose last name went: its unsynced data can go too, unless it is still open.
    fn unlinked(&self, id: Option<u64>) {
        if let Some(id) = id {
            if !self.is_open(id) {
                self.unsynced.discard(id);
            }
        }
    }

    fn set_size(&self, id: u64, size: u64) -> Result<(), Errno> {
        let pin = self.inodes.pin(id).map_err(errno)?;
        self.unsynced
            .change(id, &pin, |buffer| buffer.set_len(size))
            .map_err(errno)
    }

    #[allow(clippy::too_many_arguments)]
    fn do_setattr(
        &self,
        id: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
    ) -> Result<FileAttr, Errno> {
        let pin = self.inodes.pin(id).map_err(errno)?;
        if let Some(mode) = mode {
            rustix::fs::chmodat(
                CWD,
                proc_path(pin.as_ref()),
                Mode::from_raw_mode(mode),
                AtFlags::empty(),
            )
            .map_err(rerr)?;
        }
        if uid.is_some() || gid.is_some() {
            rustix::fs::chownat(
                pin.as_fd(),
                "",
                uid.map(rustix::fs::Uid::from_raw),
                gid.map(rustix::fs::Gid::from_raw),
                AtFlags::EMPTY_PATH,
            )
            .map_err(rerr)?;
        }
        if let Some(size) = size {
            self.set_size(id, size)?;
        }
        if atime.is_some() || mtime.is_some() {
            let times = Timestamps {
                last_access: timespec(atime),
                last_modification: timespec(mtime),
            };
            rustix::fs::utimensat(CWD, proc_path(pin.as_ref()), &times, AtFlags::empty())
                .map_err(rerr)?;
        }
        self.attr_of(id)
    }
}

impl Filesystem for PowercutFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.parent(parent).and_then(|p| self.entry(&p, name)) {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match self.do_setattr(ino.0, mode, uid, gid, size, atime, mtime) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let target = self
            .inodes
            .pin(ino.0)
            .map_err(errno)
            .and_then(|pin| rustix::fs::readlinkat(pin.as_fd(), "", Vec::new()).map_err(rerr));
        match target {
            Ok(target) => reply.data(target.as_bytes()),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let made = self.parent(parent).and_then(|p| {
            rustix::fs::mknodat(
                p.as_fd(),
                name,
                rustix::fs::FileType::from_raw_mode(mode),
                Mode::from_raw_mode(mode & !umask),
                rdev.into(),
            )
            .map_err(rerr)?;
            self.entry(&p, name)
        });
        match made {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let made = self.parent(parent).and_then(|p| {
            rustix::fs::mkdirat(p.as_fd(), name, Mode::from_raw_mode(mode & !umask))
                .map_err(rerr)?;
            self.entry(&p, name)
        });
        match made {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let done = self.parent(parent).and_then(|p| {
            let last = self.last_link(&p, name);
            rustix::fs::unlinkat(p.as_fd(), name, AtFlags::empty()).map_err(rerr)?;
            self.unlinked(last);
            Ok(())
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let done = self
            .parent(parent)
            .and_then(|p| rustix::fs::unlinkat(p.as_fd(), name, AtFlags::REMOVEDIR).map_err(rerr));
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let made = self.parent(parent).and_then(|p| {
            rustix::fs::symlinkat(target, p.as_fd(), link_name).map_err(rerr)?;
            self.entry(&p, link_name)
        });
        match made {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let done = self.parent(parent).and_then(|from| {
            let to = self.parent(newparent)?;
            let moving = stat_entry(&from, name).ok().flatten().map(|s| s.st_ino);
            // A file replaced by the rename loses its last name (not when it is the very
            // file being moved, as with two names of one file, nor on an exchange).
            let replaced = self
                .last_link(&to, newname)
                .filter(|id| Some(*id) != moving.map(|ino| self.inodes.node_id(ino)))
                .filter(|_| !flags.contains(RenameFlags::RENAME_EXCHANGE));
            rustix::fs::renameat_with(
                from.as_fd(),
                name,
                to.as_fd(),
                newname,
                rustix::fs::RenameFlags::from_bits_retain(flags.bits()),
            )
            .map_err(rerr)?;
            self.unlinked(replaced);
            Ok(())
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let made = self.inodes.pin(ino.0).map_err(errno).and_then(|pin| {
            let to = self.parent(newparent)?;
            rustix::fs::linkat(
                CWD,
                proc_path(pin.as_ref()),
                to.as_fd(),
                newname,
                AtFlags::SYMLINK_FOLLOW,
            )
            .map_err(rerr)?;
            self.entry(&to, newname)
        });
        match made {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let opened = self.inodes.pin(ino.0).map_err(errno).and_then(|pin| {
            reopen(&pin, backing_flags(flags.0))
                .map(File::from)
                .map_err(errno)
        });
        match opened {
            Ok(file) => {
                let fh = self.add_handle(ino.0, file, flags.0);
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
            }
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let created = self.parent(parent).and_then(|p| {
            let mut open_flags = backing_flags(flags) | OFlags::CREATE;
            if OFlags::from_bits_retain(flags as u32).contains(OFlags::EXCL) {
                open_flags |= OFlags::EXCL;
            }
            let fd = rustix::fs::openat(
                p.as_fd(),
                name,
                open_flags | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode & !umask),
            )
            .map_err(rerr)?;
            let attr = self.entry(&p, name)?;
            Ok((attr, File::from(fd)))
        });
        match created {
            Ok((attr, file)) => {
                let fh = self.add_handle(attr.ino.0, file, flags);
                reply.created(
                    &TTL,
                    &attr,
                    Generation(0),
                    FileHandle(fh),
                    FopenFlags::FOPEN_DIRECT_IO,
                );
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let data = self.handle(fh).and_then(|(id, file, _)| {
            self.unsynced
                .read(id, &file, offset, size as usize)
                .map_err(errno)
        });
        match data {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let written = self.handle(fh).and_then(|(id, _, sync_writes)| {
            let pin = self.inodes.pin(id).map_err(errno)?;
            self.unsynced
                .change(id, &pin, |buffer| buffer.write(offset, data))
                .map_err(errno)?;
            if sync_writes {
                self.unsynced.sync(id, true).map_err(errno)?;
            }
            Ok(())
        });
        match written {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close() does not sync.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let closed = locked(&self.files).remove(&fh.0);
        if let Some(handle) = closed {
            let no_name = stat(handle.file.as_fd()).is_ok_and(|st| st.st_nlink == 0);
            if no_name {
                self.unlinked(Some(handle.id));
            }
        }
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.unsynced.sync(ino.0, datasync) {
            Ok(_) => reply.ok(),
            Err(e) => {
                tracing::warn!("fsync of node {} failed: {e}", ino.0);
                reply.error(errno(e));
            }
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let listed = self.inodes.pin(ino.0).map_err(errno).and_then(|pin| {
            let dir = reopen(&pin, OFlags::RDONLY | OFlags::DIRECTORY).map_err(errno)?;
            let mut listed = Vec::new();
            for entry in rustix::fs::Dir::read_from(&dir).map_err(rerr)? {
                let entry = entry.map_err(rerr)?;
                listed.push(Listed {
                    id: self.inodes.node_id(entry.ino()),
                    kind: dirent_kind(entry.file_type()),
                    name: OsStr::from_bytes(entry.file_name().to_bytes()).to_owned(),
                });
            }
            Ok(listed)
        });
        match listed {
            Ok(listed) => {
                let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
                locked(&self.dirs).insert(fh, Arc::new(listed));
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let Some(listed) = locked(&self.dirs).get(&fh.0).cloned() else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, entry) in listed.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(entry.id), i as u64 + 1, entry.kind, &entry.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        locked(&self.dirs).remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Metadata is never held back, so the directory is as durable as the backing one;
        // sync that.
        let synced = self.inodes.pin(ino.0).map_err(errno).and_then(|pin| {
            let dir = reopen(&pin, OFlags::RDONLY | OFlags::DIRECTORY).map_err(errno)?;
            rustix::fs::fsync(&dir).map_err(rerr)
        });
        match synced {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let st = self
            .inodes
            .pin(ROOT)
            .map_err(errno)
            .and_then(|pin| rustix::fs::fstatvfs(pin.as_fd()).map_err(rerr));
        match st {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                st.f_namemax as u32,
                st.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        // Mounted with default_permissions: the kernel checks access itself.
        reply.ok();
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        // No extended attributes (the kernel stops asking after the first answer).
        reply.error(Errno::ENOTSUP);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOTSUP);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOTSUP);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::ENOTSUP);
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mode = FallocateFlags::from_bits_retain(mode as u32);
        let done = if mode == FallocateFlags::KEEP_SIZE {
            // Reserving space changes no byte of the file.
            Ok(())
        } else if mode.is_empty() {
            let end = offset.saturating_add(length);
            self.inodes.pin(ino.0).map_err(errno).and_then(|pin| {
                self.unsynced
                    .change(ino.0, &pin, |buffer| {
                        if end > buffer.len() {
                            buffer.set_len(end);
                        }
                    })
                    .map_err(errno)
            })
        } else {
            Err(Errno::EOPNOTSUPP)
        };
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
