//! A disk that can lose power, for a node's data dir (the power-loss tests): the `powercut`
//! binary serving a temp backing dir through FUSE, which holds written data in memory until
//! it is fsynced and drops it on a cut. Mounting needs /dev/fuse and root (or fusermount3):
//! where it is refused, [`PowercutDisk::mount`] says why and the test is skipped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};

use super::{binary, signal, DEADLINE};

/// The exit code of `powercut` when FUSE mounting is refused.
const MOUNT_REFUSED: i32 = 3;

/// A `powercut` mount on a fresh temp dir; unmounted (and its process ended) on drop.
pub struct PowercutDisk {
    child: Child,
    /// `powercut`'s stdout, line by line.
    lines: Receiver<String>,
    mountpoint: PathBuf,
    dir: tempfile::TempDir,
}

impl PowercutDisk {
    /// Mounts one; Err says why not (then the test is skipped). Panics if `powercut` fails
    /// for any other reason.
    pub fn mount() -> Result<Self, String> {
        if !Path::new("/dev/fuse").exists() {
            return Err("no /dev/fuse".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("bazaar-powercut-")
            .tempdir()
            .expect("temp dir");
        let backing = dir.path().join("backing");
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&backing).expect("backing dir");
        std::fs::create_dir(&mountpoint).expect("mount point");
        let stderr = std::fs::File::create(dir.path().join("powercut.log")).expect("log file");
        let mut child = Command::new(binary("powercut"))
            .args(["mount", "--backing"])
            .arg(&backing)
            .arg("--mountpoint")
            .arg(&mountpoint)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn powercut");
        let stdout = child.stdout.take().expect("powercut's stdout");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        match lines.recv_timeout(DEADLINE) {
            Ok(line) if line == format!("mounted {}", mountpoint.display()) => Ok(Self {
                child,
                lines,
                mountpoint,
                dir,
            }),
            first => {
                let _ = child.kill();
                let status = child.wait().expect("wait for powercut");
                let log = std::fs::read_to_string(dir.path().join("powercut.log"))
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                if status.code() == Some(MOUNT_REFUSED) {
                    return Err(log);
                }
                panic!("powercut did not mount ({first:?}, {status}): {log}");
            }
        }
    }

    /// The mount point: where the data written here can be lost.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// The power cut: every write on this disk that was not fsynced is gone. Stop the
    /// processes writing here first (SIGKILL), as the cut stops them. Returns `powercut`'s
    /// report (`cut: dropped N unsynced bytes of M files`).
    pub fn cut(&self) -> String {
        signal(self.child.id(), "USR1");
        let line = self
            .lines
            .recv_timeout(DEADLINE)
            .expect("powercut reports the cut");
        assert!(line.starts_with("cut: "), "{line}");
        line
    }

    /// `powercut`'s own log (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("powercut.log")).unwrap_or_default()
    }
}

impl Drop for PowercutDisk {
    fn drop(&mut self) {
        // The cluster (declared after the disks) is dropped first, so no node holds a file
        // here any more. SIGTERM: powercut syncs, unmounts and exits.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = std::time::Instant::now();
        while start.elapsed() < DEADLINE {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(super::POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("umount")
            .arg("-l")
            .arg(&self.mountpoint)
            .status();
    }
}
