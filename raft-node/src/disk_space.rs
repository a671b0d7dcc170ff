//! Disk space: the bytes this node's data takes on disk (log, state, snapshots) and the free
//! bytes of its data dir's filesystem, measured on the blocking pool on a timer, so a scrape
//! or a check reads the last figures without touching the filesystem on an async worker.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use bazaar_service::{CancellationToken, TaskTracker};

use crate::log_gate::LogGate;

/// How often the figures are measured: often enough for an alarm to follow a filling disk
/// within seconds, seldom enough that walking a few dozen files costs nothing measurable.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// The parts of a node's data dir, each its own folder (see `node::run` and `store`).
pub const PARTS: [(&str, &str); 3] = [("log", "raft"), ("state", "sm"), ("snapshots", "snapshots")];

#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    #[error("cannot measure {path}: {source}")]
    Walk {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the free space of {path}'s filesystem: {source}")]
    Statvfs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the measuring task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// One measurement of this node's data dir.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceFigures {
    /// The Raft log and vote (`raft/`).
    pub log_bytes: u64,
    /// The state machine's database (`sm/`).
    pub state_bytes: u64,
    /// Snapshot files (`snapshots/`).
    pub snapshot_bytes: u64,
    /// Bytes an unprivileged writer can still use on the data dir's filesystem.
    pub free_bytes: u64,
}

impl SpaceFigures {
    /// The node's data size, as `storage.quota_bytes` counts it.
    pub fn data_bytes(&self) -> u64 {
        self.log_bytes
            .saturating_add(self.state_bytes)
            .saturating_add(self.snapshot_bytes)
    }

    /// The figure of one part by its metric label.
    pub fn part(&self, part: &str) -> u64 {
        match part {
            "log" => self.log_bytes,
            "state" => self.state_bytes,
            _ => self.snapshot_bytes,
        }
    }
}

/// Measures `data_dir` now. Blocking: call it on the blocking pool.
pub fn measure(data_dir: &Path) -> Result<SpaceFigures, SpaceError> {
    let [log, state, snapshots] = PARTS.map(|(_, dir)| data_dir.join(dir));
    Ok(SpaceFigures {
        log_bytes: dir_bytes(&log)?,
        state_bytes: dir_bytes(&state)?,
        snapshot_bytes: dir_bytes(&snapshots)?,
        free_bytes: free_bytes(data_dir)?,
    })
}

/// Bytes allocated on disk under `dir`, as `du` counts them: RocksDB preallocates its WAL,
/// so a file's length understates what it holds of the disk. A missing folder is empty, and
/// a file removed while the walk runs (a compaction, a snapshot replaced) is skipped.
fn dir_bytes(dir: &Path) -> Result<u64, SpaceError> {
    let walk = |path: &Path, source: std::io::Error| SpaceError::Walk {
        path: path.to_owned(),
        source,
    };
    let mut total = 0u64;
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(walk(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| walk(&dir, e))?;
            // Not followed: a link's target is not this node's data.
            let meta = match std::fs::symlink_metadata(entry.path()) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(walk(&entry.path(), e)),
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.blocks().saturating_mul(512));
            }
        }
    }
    Ok(total)
}

/// Free bytes for an unprivileged writer (`f_bavail`: the root reserve is not ours).
fn free_bytes(path: &Path) -> Result<u64, SpaceError> {
    let stat = rustix::fs::statvfs(path).map_err(|e| SpaceError::Statvfs {
        path: path.to_owned(),
        source: e.into(),
    })?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// The last figures of this node's data dir; cheap to clone, read at scrape time.
#[derive(Debug, Clone)]
pub struct DiskSpace {
    data_dir: Arc<PathBuf>,
    latest: Arc<ArcSwapOption<SpaceFigures>>,
}

/// Measurement failures repeat every refresh: one line a minute is enough.
static MEASURE_FAILED: LogGate = LogGate::new(Duration::from_secs(60));

impl DiskSpace {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir: Arc::new(data_dir),
            latest: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// The last figures measured; none before the first measurement, or after one failed
    /// (stale figures would hide a disk that keeps filling).
    pub fn latest(&self) -> Option<SpaceFigures> {
        self.latest.load_full().map(|f| *f)
    }

    /// Measures now on the blocking pool and keeps the figures.
    pub async fn refresh(&self) -> Result<SpaceFigures, SpaceError> {
        let dir = Arc::clone(&self.data_dir);
        let measured = tokio::task::spawn_blocking(move || measure(&dir)).await?;
        match measured {
            Ok(figures) => {
                self.latest.store(Some(Arc::new(figures)));
                Ok(figures)
            }
            Err(e) => {
                self.latest.store(None);
                Err(e)
            }
        }
    }

    /// Measures every [`REFRESH_EVERY`] until `stop`.
    pub fn spawn_refresh(&self, tasks: &TaskTracker, stop: CancellationToken) {
        let space = self.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                if let Err(e) = space.refresh().await {
                    if let Some(held_back) = MEASURE_FAILED.pass() {
                        tracing::warn!(cause = %e, held_back, "cannot measure the data dir");
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_counts_its_own_folder_and_missing_ones_are_empty() {
        let dir = tempfile::tempdir().unwrap();
        let empty = measure(dir.path()).unwrap();
        assert_eq!(empty.data_bytes(), 0);
        assert!(empty.free_bytes > 0);
        std::fs::create_dir_all(dir.path().join("sm/gen-1")).unwrap();
        std::fs::write(dir.path().join("sm/gen-1/000001.sst"), vec![7u8; 100_000]).unwrap();
        std::fs::create_dir_all(dir.path().join("raft")).unwrap();
        std::fs::write(dir.path().join("raft/LOG"), vec![1u8; 10_000]).unwrap();
        // Not a part: counted in none.
        std::fs::write(dir.path().join("reserve"), vec![0u8; 50_000]).unwrap();
        let f = measure(dir.path()).unwrap();
        assert!((100_000..=110_000).contains(&f.state_bytes), "{f:?}");
        assert!((10_000..=20_000).contains(&f.log_bytes), "{f:?}");
        assert_eq!(f.snapshot_bytes, 0);
        assert_eq!(f.data_bytes(), f.log_bytes + f.state_bytes);
        assert_eq!(f.part("state"), f.state_bytes);
    }

    #[tokio::test]
    async fn refresh_keeps_the_figures_and_forgets_them_when_it_fails() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::new(dir.path().to_owned());
        assert_eq!(space.latest(), None);
        let f = space.refresh().await.unwrap();
        assert_eq!(space.latest(), Some(f));
        let gone = DiskSpace::new(dir.path().join("no-such-dir"));
        assert!(gone.refresh().await.is_err());
        assert_eq!(gone.latest(), None);
    }
}
