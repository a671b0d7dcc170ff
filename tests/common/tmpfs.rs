//! A size-limited tmpfs for a node's data dir (disk-full and disk-space tests). Mounting
//! needs root: where it is refused, `Tmpfs::mount` says why and the test prints "SKIPPED".

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a fresh temp dir, unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mb` MiB; Err says why not (then the test is skipped).
    pub fn mount(mb: u64) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("bazaar-tmpfs-")
            .tempdir()
            .map_err(|e| format!("no temp dir: {e}"))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn filler(&self) -> PathBuf {
        self.path().join("filler")
    }

    /// Free bytes on this filesystem.
    pub fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.path())
            .output()
            .expect("run df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df prints the free bytes")
    }

    /// Writes a filler file until about `left` bytes are free.
    pub fn fill_leaving(&self, left: u64) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("create the filler");
        let chunk = vec![0xA5u8; 1 << 20];
        loop {
            let free = self.available();
            if free <= left {
                break;
            }
            let n = (free - left).min(chunk.len() as u64) as usize;
            if file.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
        file.sync_all().expect("sync the filler");
    }

    pub fn free_filler(&self) {
        std::fs::remove_file(self.filler()).expect("remove the filler");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // The cluster (declared after the mounts) is dropped first, so no node holds a
        // file here any more; lazily if something still does.
        let ok = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// Where each node's data goes on its own mount: `data` under it.
pub fn data_places(mounts: &BTreeMap<u64, Tmpfs>) -> BTreeMap<u64, PathBuf> {
    mounts
        .iter()
        .map(|(id, m)| (*id, m.path().join("data")))
        .collect()
}

/// Makes node `id`'s data dir a link to `place` (on a tmpfs), before the node first starts.
pub fn link_data_dir(cluster: &super::TestCluster, id: u64, place: &Path) {
    let link = cluster.config.node_data_dir(id);
    std::fs::create_dir_all(link.parent().expect("data dir parent")).expect("data root");
    std::fs::create_dir_all(place).expect("data dir on the tmpfs");
    std::os::unix::fs::symlink(place, &link).expect("link the data dir");
}
