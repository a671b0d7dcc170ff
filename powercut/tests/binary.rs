//! The `powercut` binary as the whole-system tests drive it: `mounted` on stdout, SIGUSR1
//! cuts the power (`cut: ...`), SIGTERM syncs, unmounts and exits 0; a mistake in its
//! arguments is one line and exit code 1.
//!
//! Where FUSE mounting is refused (exit code 3) the test writes "SKIPPED: ..." to stderr,
//! past the harness's capture, and returns: count it as skipped, never as passed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_powercut");
/// Generous: the machines running the tests are small and shared.
const DEADLINE: Duration = Duration::from_secs(30);

fn skipped(why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// A running `powercut mount` and its stdout, line by line.
struct Running {
    child: Child,
    lines: Receiver<String>,
}

impl Running {
    /// The next stdout line; panics after the deadline or at the end of the output.
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(DEADLINE)
            .expect("a line from powercut in time")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `powercut mount`; None (after the SKIPPED line) where mounting is refused.
fn start(backing: &Path, mountpoint: &Path) -> Option<Running> {
    let mut child = Command::new(BIN)
        .args(["mount", "--backing"])
        .arg(backing)
        .arg("--mountpoint")
        .arg(mountpoint)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn powercut");
    let stdout = child.stdout.take().expect("stdout");
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
        Ok(line) => {
            assert_eq!(line, format!("mounted {}", mountpoint.display()));
            Some(Running { child, lines })
        }
        Err(_) => {
            let out = child.wait_with_output().expect("wait for powercut");
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            assert_eq!(out.status.code(), Some(3), "powercut failed: {stderr}");
            skipped(&stderr);
            None
        }
    }
}

fn is_mounted(mountpoint: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("read mounts");
    let wanted = mountpoint.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(wanted.as_ref()))
}

#[test]
fn sigusr1_cuts_the_power_and_sigterm_syncs_and_unmounts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let backing = dir.path().join("backing");
    let mountpoint = dir.path().join("mnt");
    std::fs::create_dir(&backing).expect("backing");
    std::fs::create_dir(&mountpoint).expect("mount point");
    let Some(running) = start(&backing, &mountpoint) else {
        return;
    };
    assert!(is_mounted(&mountpoint));

    let mut synced = std::fs::File::create(mountpoint.join("synced")).expect("create");
    synced.write_all(b"kept").expect("write");
    synced.sync_all().expect("fsync");
    drop(synced);
    std::fs::write(mountpoint.join("unsynced"), b"lost").expect("write");
    running.signal("USR1");
    assert_eq!(
        running.next_line(),
        "cut: dropped 4 unsynced bytes of 1 files"
    );
    assert_eq!(
        std::fs::read(mountpoint.join("synced")).expect("read"),
        b"kept"
    );
    assert_eq!(
        std::fs::read(mountpoint.join("unsynced")).expect("read"),
        b""
    );

    // A clean shutdown writes what is held.
    std::fs::write(mountpoint.join("at-shutdown"), b"written").expect("write");
    running.signal("TERM");
    assert_eq!(running.next_line(), "synced: wrote 7 bytes of 1 files");
    assert_eq!(
        running.next_line(),
        format!("unmounted {}", mountpoint.display())
    );
    let mut running = running;
    let status = running.child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    assert!(!is_mounted(&mountpoint));
    assert_eq!(
        std::fs::read(backing.join("at-shutdown")).expect("read"),
        b"written"
    );
}

#[test]
fn a_missing_backing_dir_is_one_line_and_exit_code_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(BIN)
        .args(["mount", "--backing"])
        .arg(dir.path().join("nothing-here"))
        .arg("--mountpoint")
        .arg(dir.path())
        .output()
        .expect("run powercut");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nothing-here"), "{stderr}");
    assert!(!is_mounted(dir.path()));
}

#[test]
fn help_explains_the_signals() {
    let out = Command::new(BIN)
        .args(["mount", "--help"])
        .output()
        .expect("run powercut");
    assert!(out.status.success());
    let top = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run powercut");
    let help = String::from_utf8_lossy(&top.stdout);
    for word in ["SIGUSR1", "SIGTERM", "fsync", "mounted", "exit code 3"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
}
