//! The reserve file (CockroachDB's ballast): `<data dir>/reserve`, `storage.reserve_bytes`
//! allocated at start, which an operator deletes to give a full disk room back for a restart
//! and a disarm. It never stops a node: one short of space at start says so in one line and
//! runs without it (the stores fail-stop on their own if the disk is really full).

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// The reserve file's name in the data dir.
pub const RESERVE_FILE: &str = "reserve";

/// What [`ensure_reserve`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserve {
    /// None is configured (and none is left).
    Off,
    /// A reserve of at least the size asked for was already there.
    Kept { bytes: u64 },
    /// The file was allocated to the size asked for now.
    Written { bytes: u64 },
    /// Not written: the filesystem had too little free for it (so a node restarted after
    /// the operator deleted it does not take that room back at once).
    Skipped { free_bytes: u64, needed_bytes: u64 },
    /// Writing it failed; what was written of it is removed.
    Failed { cause: String },
}

/// Makes `<data_dir>/reserve` hold `bytes` (none when 0) when at least twice that plus
/// `min_free_bytes` is free. Blocking: run it on the blocking pool.
pub fn ensure_reserve(data_dir: &Path, bytes: u64, min_free_bytes: u64) -> Reserve {
    let path = data_dir.join(RESERVE_FILE);
    let have = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if bytes == 0 {
        if have > 0 || path.exists() {
            if let Err(e) = std::fs::remove_file(&path) {
                return Reserve::Failed {
                    cause: format!("cannot remove {}: {e}", path.display()),
                };
            }
        }
        return Reserve::Off;
    }
    if have >= bytes {
        return Reserve::Kept { bytes: have };
    }
    // A new node's data dir does not exist yet.
    if let Err(e) = std::fs::create_dir_all(data_dir) {
        return Reserve::Failed {
            cause: format!("cannot create {}: {e}", data_dir.display()),
        };
    }
    let free = match rustix::fs::statvfs(data_dir) {
        Ok(s) => s.f_bavail.saturating_mul(s.f_frsize),
        Err(e) => {
            return Reserve::Failed {
                cause: format!("cannot read the free space of {}: {e}", data_dir.display()),
            }
        }
    };
    let needed = (bytes - have)
        .saturating_mul(2)
        .saturating_add(min_free_bytes);
    if free < needed {
        return Reserve::Skipped {
            free_bytes: free,
            needed_bytes: needed,
        };
    }
    match allocate(&path, bytes) {
        Ok(()) => Reserve::Written { bytes },
        Err(cause) => {
            // A half-written reserve would only take room that the stores need.
            let _ = std::fs::remove_file(&path);
            Reserve::Failed { cause }
        }
    }
}

/// Allocates `path` to `bytes` for real (a sparse file would give nothing back when deleted)
/// and syncs it.
fn allocate(path: &Path, bytes: u64) -> Result<(), String> {
    let io = |what: &str, e: &dyn std::fmt::Display| format!("{what} {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io("cannot create", &e))?;
    match rustix::fs::fallocate(file.as_fd(), rustix::fs::FallocateFlags::empty(), 0, bytes) {
        Ok(()) => {}
        // A filesystem without fallocate: write the zeros ourselves.
        Err(e) if e == rustix::io::Errno::OPNOTSUPP => {
            file.set_len(0).map_err(|e| io("cannot truncate", &e))?;
            let chunk = vec![0u8; 1 << 20];
            let mut left = bytes;
            while left > 0 {
                let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
                file.write_all(&chunk[..n])
                    .map_err(|e| io("cannot write", &e))?;
                left -= n as u64;
            }
        }
        Err(e) => return Err(io("cannot allocate", &e)),
    }
    file.sync_all().map_err(|e| io("cannot sync", &e))
}

/// Ensures the reserve on the blocking pool and says in one line what came of it.
pub async fn prepare_reserve(node: u64, data_dir: PathBuf, bytes: u64, min_free_bytes: u64) {
    let file = data_dir.join(RESERVE_FILE);
    let done =
        tokio::task::spawn_blocking(move || ensure_reserve(&data_dir, bytes, min_free_bytes))
            .await
            .unwrap_or_else(|e| Reserve::Failed {
                cause: e.to_string(),
            });
    let file = file.display();
    match done {
        Reserve::Off | Reserve::Kept { .. } => {}
        Reserve::Written { bytes } => {
            tracing::info!(node, file = %file, bytes, "reserve file written");
        }
        Reserve::Skipped {
            free_bytes,
            needed_bytes,
        } => tracing::warn!(
            node,
            file = %file,
            free_bytes,
            needed_bytes,
            "short of disk space at start: running without the reserve file"
        ),
        Reserve::Failed { cause } => tracing::warn!(
            node,
            file = %file,
            cause = %cause,
            "cannot write the reserve file: running without it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn written_kept_and_removed_as_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(RESERVE_FILE);
        assert_eq!(
            ensure_reserve(dir.path(), 1 << 20, 0),
            Reserve::Written { bytes: 1 << 20 }
        );
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.len(), 1 << 20);
        // Allocated, not sparse: deleting it gives the room back.
        assert!(meta.blocks() * 512 >= 1 << 20, "{} blocks", meta.blocks());
        assert_eq!(
            ensure_reserve(dir.path(), 1 << 20, 0),
            Reserve::Kept { bytes: 1 << 20 }
        );
        assert_eq!(ensure_reserve(dir.path(), 0, 0), Reserve::Off);
        assert!(!file.exists());
    }

    #[test]
    fn a_disk_short_of_space_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        // More than any test machine has free: skipped, nothing written, no error.
        let done = ensure_reserve(dir.path(), 1 << 20, u64::MAX / 2);
        assert!(matches!(done, Reserve::Skipped { .. }), "{done:?}");
        assert!(!dir.path().join(RESERVE_FILE).exists());
    }
}
