//! The filesystem really loses what was not synced: each test mounts a powercut over a temp
//! backing dir (in this process), writes through the mount, cuts the power, and looks at
//! what is left, through the mount and in the backing dir. Without these, a power-loss test
//! of the whole system could pass with a filesystem that never dropped anything.
//!
//! Mounting needs /dev/fuse and root (or fusermount3). Where it is refused each test writes
//! "SKIPPED: ..." to stderr, past the test harness's capture, and returns: count it as
//! skipped, never as passed (scripts/test.sh does).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use powercut::{Error, Mount};

/// A powercut mounted over a fresh backing dir, with both dirs removed afterwards.
struct Disk {
    mount: Option<Mount>,
    backing: PathBuf,
    mountpoint: PathBuf,
    _dir: tempfile::TempDir,
}

impl Disk {
    /// Mounts one; None (after the SKIPPED line) where FUSE mounting is refused.
    fn mount() -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("powercut-test-")
            .tempdir()
            .expect("temp dir");
        let backing = dir.path().join("backing");
        let mountpoint = dir.path().join("mnt");
        fs::create_dir(&backing).expect("backing dir");
        fs::create_dir(&mountpoint).expect("mount point");
        match Mount::new(&backing, &mountpoint, 2) {
            Ok(mount) => Some(Self {
                mount: Some(mount),
                backing,
                mountpoint,
                _dir: dir,
            }),
            Err(e @ Error::MountRefused { .. }) => {
                skipped(&e.to_string());
                None
            }
            Err(e) => panic!("mounting failed: {e}"),
        }
    }

    fn mounted(&self, name: &str) -> PathBuf {
        self.mountpoint.join(name)
    }

    fn backing(&self, name: &str) -> PathBuf {
        self.backing.join(name)
    }

    fn mount_ref(&self) -> &Mount {
        self.mount.as_ref().expect("mounted")
    }

    fn cut(&self) -> powercut::CutReport {
        self.mount_ref().cut()
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if let Some(mount) = self.mount.take() {
            if let Err(e) = mount.unmount() {
                eprintln!("{e}");
            }
        }
    }
}

/// Says the test is skipped on stderr itself, not through `eprintln!`, which the harness
/// captures and hides for a test that returns normally.
fn skipped(why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn a_write_without_fsync_is_read_back_then_gone_after_a_cut() {
    let Some(disk) = Disk::mount() else { return };
    let path = disk.mounted("unsynced");
    let mut file = File::create(&path).expect("create");
    file.write_all(b"never synced").expect("write");
    drop(file);
    // Closed but not synced: the writer reads it back, the backing file has none of it.
    assert_eq!(read(&path), b"never synced");
    assert_eq!(fs::metadata(&path).expect("stat").len(), 12);
    assert_eq!(read(&disk.backing("unsynced")), b"");

    let report = disk.cut();
    assert_eq!(report.files, 1, "{report:?}");
    assert_eq!(report.bytes, 12, "{report:?}");
    // The file's name is metadata, which is not held back; its data is gone.
    assert_eq!(read(&path), b"");
    assert_eq!(fs::metadata(&path).expect("stat").len(), 0);
}

#[test]
fn an_fsynced_write_survives_a_cut_and_what_follows_it_does_not() {
    let Some(disk) = Disk::mount() else { return };
    let path = disk.mounted("log");
    let mut file = File::create(&path).expect("create");
    file.write_all(b"first record\n").expect("write");
    file.sync_all().expect("fsync");
    file.write_all(b"second record\n").expect("write");
    file.sync_data().expect("fdatasync");
    file.write_all(b"third record, not synced\n")
        .expect("write");
    assert_eq!(read(&disk.backing("log")), b"first record\nsecond record\n");

    disk.cut();
    assert_eq!(read(&path), b"first record\nsecond record\n");
    // The handle is still usable after the cut, at the synced length.
    file.seek(SeekFrom::End(0)).expect("seek");
    file.write_all(b"after\n").expect("write");
    file.sync_all().expect("fsync");
    assert_eq!(read(&path), b"first record\nsecond record\nafter\n");
    assert_eq!(read(&disk.backing("log")), read(&path));
}

#[test]
fn overwrites_and_truncates_are_held_back_until_fsync() {
    let Some(disk) = Disk::mount() else { return };
    let path = disk.mounted("data");
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("create");
    file.write_all(b"0123456789").expect("write");
    file.sync_all().expect("fsync");

    // Overwrite the middle, truncate, extend: all seen through the mount at once.
    file.write_all_at(b"ab", 3).expect("write");
    file.set_len(6).expect("truncate");
    file.write_all_at(b"z", 8).expect("write");
    let mut seen = Vec::new();
    file.seek(SeekFrom::Start(0)).expect("seek");
    file.read_to_end(&mut seen).expect("read");
    assert_eq!(seen, b"012ab5\0\0z");
    assert_eq!(read(&disk.backing("data")), b"0123456789");

    let report = disk.cut();
    assert_eq!(report.files, 1, "{report:?}");
    assert_eq!(read(&path), b"0123456789");

    // Again, synced this time.
    file.write_all_at(b"ab", 3).expect("write");
    file.set_len(6).expect("truncate");
    file.write_all_at(b"z", 8).expect("write");
    file.sync_all().expect("fsync");
    disk.cut();
    assert_eq!(read(&path), b"012ab5\0\0z");
    assert_eq!(read(&disk.backing("data")), b"012ab5\0\0z");
}

#[test]
fn a_renamed_file_keeps_its_name_but_not_its_unsynced_data() {
    let Some(disk) = Disk::mount() else { return };
    fs::write(disk.mounted("tmp"), b"contents").expect("write");
    fs::rename(disk.mounted("tmp"), disk.mounted("final")).expect("rename");
    assert_eq!(read(&disk.mounted("final")), b"contents");
    disk.cut();
    assert!(!disk.mounted("tmp").exists());
    assert_eq!(read(&disk.mounted("final")), b"");

    // The way to do it: sync the file before the rename.
    let mut file = File::create(disk.mounted("tmp")).expect("create");
    file.write_all(b"contents").expect("write");
    file.sync_all().expect("fsync");
    drop(file);
    fs::rename(disk.mounted("tmp"), disk.mounted("final")).expect("rename");
    disk.cut();
    assert_eq!(read(&disk.mounted("final")), b"contents");
}

#[test]
fn o_dsync_writes_are_synced_when_they_return() {
    let Some(disk) = Disk::mount() else { return };
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .custom_flags(rustix::fs::OFlags::DSYNC.bits() as i32)
        .open(disk.mounted("dsync"))
        .expect("create");
    file.write_all(b"durable").expect("write");
    let report = disk.cut();
    assert_eq!(report.files, 0, "{report:?}");
    assert_eq!(read(&disk.mounted("dsync")), b"durable");
}

#[test]
fn appends_go_to_the_end_the_writer_sees() {
    let Some(disk) = Disk::mount() else { return };
    let path = disk.mounted("appended");
    fs::write(&path, b"one\n").expect("write");
    for line in [b"two\n", b"six\n"] {
        let mut file = OpenOptions::new().append(true).open(&path).expect("open");
        file.write_all(line).expect("append");
    }
    assert_eq!(read(&path), b"one\ntwo\nsix\n");
    let file = OpenOptions::new().append(true).open(&path).expect("open");
    file.sync_all().expect("fsync");
    disk.cut();
    assert_eq!(read(&path), b"one\ntwo\nsix\n");
}

#[test]
fn directories_links_and_removal_pass_through() {
    let Some(disk) = Disk::mount() else { return };
    fs::create_dir_all(disk.mounted("a/b")).expect("mkdir");
    fs::write(disk.mounted("a/b/f"), b"x").expect("write");
    fs::hard_link(disk.mounted("a/b/f"), disk.mounted("a/g")).expect("link");
    std::os::unix::fs::symlink("b/f", disk.mounted("a/s")).expect("symlink");
    assert_eq!(read(&disk.mounted("a/g")), b"x");
    assert_eq!(read(&disk.mounted("a/s")), b"x");
    assert_eq!(
        fs::read_link(disk.mounted("a/s")).expect("readlink"),
        Path::new("b/f")
    );
    let mut names: Vec<String> = fs::read_dir(disk.mounted("a"))
        .expect("readdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["b", "g", "s"]);
    assert!(disk.backing("a/b/f").exists());
    fs::remove_file(disk.mounted("a/b/f")).expect("unlink");
    assert_eq!(
        read(&disk.mounted("a/g")),
        b"x",
        "the other link still has it"
    );
    fs::remove_file(disk.mounted("a/g")).expect("unlink");
    fs::remove_file(disk.mounted("a/s")).expect("unlink");
    fs::remove_dir(disk.mounted("a/b")).expect("rmdir");
    fs::remove_dir(disk.mounted("a")).expect("rmdir");
    assert!(!disk.backing("a").exists());
    assert_eq!(
        disk.mount_ref().pending(),
        (0, 0),
        "a removed file holds nothing"
    );
    File::open(disk.mountpoint.as_path())
        .expect("open the root")
        .sync_all()
        .expect("fsync a directory");
}

#[test]
fn a_sync_of_the_whole_disk_writes_everything() {
    let Some(disk) = Disk::mount() else { return };
    fs::write(disk.mounted("one"), b"1").expect("write");
    fs::write(disk.mounted("two"), b"22").expect("write");
    assert_eq!(disk.mount_ref().pending(), (2, 3));
    let report = disk.mount_ref().sync().expect("sync");
    assert_eq!((report.files, report.bytes), (2, 3));
    assert_eq!(disk.mount_ref().pending(), (0, 0));
    disk.cut();
    assert_eq!(read(&disk.mounted("two")), b"22");
    assert_eq!(read(&disk.backing("one")), b"1");
}
