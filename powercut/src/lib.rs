//! A disk that can lose power, for the power-loss tests: a FUSE filesystem that serves a
//! backing dir as it is, except that file data written through it stays in memory until
//! that file is fsynced, and a simulated power cut ([`Mount::cut`]) drops every write that
//! was not, as Jepsen's LazyFS does. After a cut each file has exactly what its last fsync
//! left in the backing dir; metadata (names, renames, new files and dirs) is not held back.
//! See [`fs`] for what is buffered and what is not, and [`buffer`] for the
//! per-file logic.
//!
//! Mounting needs `/dev/fuse` and either root (mount(2)) or `fusermount3`; where it is
//! refused, [`Mount::new`] says so with [`Error::MountRefused`].

pub mod buffer;
pub mod fs;
mod inodes;
mod unsynced;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fuser::{BackgroundSession, Config, MountOption};

pub use unsynced::{CutReport, SyncReport};

/// Default number of threads serving requests.
pub const DEFAULT_THREADS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot serve the backing dir {path}: {source}")]
    Backing {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot mount on {path}: {source}")]
    Mountpoint {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("mounting FUSE on {path} was refused: {source}")]
    MountRefused {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the unsynced data to the backing dir failed: {0}")]
    Sync(#[source] io::Error),
    #[error("unmounting {path} failed: {source}")]
    Unmount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A mounted powercut filesystem. Dropping it unmounts without writing the unsynced data
/// (call [`sync`](Self::sync) first for a clean shutdown).
pub struct Mount {
    session: Option<BackgroundSession>,
    unsynced: Arc<unsynced::Unsynced>,
    mountpoint: PathBuf,
}

impl Mount {
    /// Serves `backing` on `mountpoint` with `threads` request threads (at least one).
    pub fn new(backing: &Path, mountpoint: &Path, threads: usize) -> Result<Self, Error> {
        // A missing mount point is the caller's mistake, not a refusal to mount.
        let is_dir = std::fs::metadata(mountpoint).and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(io::Error::from(io::ErrorKind::NotADirectory))
            }
        });
        if let Err(source) = is_dir {
            return Err(Error::Mountpoint {
                path: mountpoint.to_owned(),
                source,
            });
        }
        let unsynced = Arc::new(unsynced::Unsynced::default());
        let filesystem = fs::PowercutFs::new(backing, Arc::clone(&unsynced)).map_err(|source| {
            Error::Backing {
                path: backing.to_owned(),
                source,
            }
        })?;
        let mut config = Config::default();
        config.mount_options = vec![
            MountOption::FSName("powercut".into()),
            MountOption::Subtype("powercut".into()),
            MountOption::DefaultPermissions,
        ];
        config.n_threads = Some(threads.max(1));
        config.clone_fd = true;
        let session = fuser::spawn_mount(filesystem, mountpoint, &config).map_err(|source| {
            // fusermount's failures can come without a message.
            let source = if source.to_string().is_empty() {
                io::Error::new(source.kind(), format!("{:?}", source.kind()))
            } else {
                source
            };
            Error::MountRefused {
                path: mountpoint.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            session: Some(session),
            unsynced,
            mountpoint: mountpoint.to_owned(),
        })
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The power cut: drops every unsynced write and size change, at once.
    pub fn cut(&self) -> CutReport {
        self.unsynced.cut()
    }

    /// Writes every file's unsynced data to the backing dir and syncs it (`sync`).
    pub fn sync(&self) -> Result<SyncReport, Error> {
        self.unsynced.sync_all().map_err(Error::Sync)
    }

    /// Files with unsynced data, and the bytes held for them.
    pub fn pending(&self) -> (usize, u64) {
        self.unsynced.pending()
    }

    /// False once the filesystem stopped serving (unmounted from outside).
    pub fn is_serving(&self) -> bool {
        self.session
            .as_ref()
            .is_some_and(|s| !s.guard.is_finished())
    }

    /// Unmounts (the unsynced data is not written). If files are still open there, the
    /// mount is detached lazily: it goes once they are closed.
    pub fn unmount(mut self) -> Result<(), Error> {
        self.unmount_now()
    }

    fn unmount_now(&mut self) -> Result<(), Error> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        if session.umount_and_join().is_ok() {
            return Ok(());
        }
        match rustix::mount::unmount(&self.mountpoint, rustix::mount::UnmountFlags::DETACH) {
            // EINVAL: no longer a mount point (the first attempt got that far).
            Ok(()) | Err(rustix::io::Errno::INVAL) => Ok(()),
            Err(e) => Err(Error::Unmount {
                path: self.mountpoint.clone(),
                source: e.into(),
            }),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Err(e) = self.unmount_now() {
            tracing::warn!("{e}");
        }
    }
}
