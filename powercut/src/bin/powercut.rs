//! `powercut`: mounts the power-loss filesystem and turns signals into power cuts. Flags,
//! logging and the signal loop only; the filesystem is the `powercut` library.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use powercut::{Error, Mount};
use tokio::signal::unix::{signal, SignalKind};

/// Exit code when FUSE mounting is refused (no /dev/fuse, no permission): a test counts
/// itself as skipped on it rather than failed.
const MOUNT_REFUSED: u8 = 3;

/// Logging unless RUST_LOG says otherwise. fuser's "[Not Implemented]" warnings are left
/// out, and its failures to send a reply: those are answers to requests the kernel has
/// dropped already (its interrupt of a request from a killed process, after the answer).
const DEFAULT_LOG: &str = "warn,fuser=error,fuser::reply=off";

/// A disk that can lose power, for power-loss tests (as Jepsen's LazyFS).
#[derive(Parser, Debug)]
#[command(version, about, long_about = LONG_ABOUT)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

const LONG_ABOUT: &str = "\
A disk that can lose power, for power-loss tests (as Jepsen's LazyFS).

`powercut mount` serves a backing dir on a mount point through FUSE. Everything passes
through to the backing dir, except file data: writes (and truncates) are held in memory
until that file is fsynced or fdatasynced, and only then written to the backing file.
Reads see the held data. Metadata (create, mkdir, rename, unlink, link, symlink, chmod)
goes to the backing dir at once, as with LazyFS; a lost rename is not simulated.

Signals to the powercut process:
  SIGUSR1          power cut: every write not yet fsynced is dropped; each file keeps
                   what its last fsync left. Prints `cut: ...`. Kill the processes using
                   the mount first, as a real power cut would.
  SIGUSR2          sync: writes every held write to the backing dir. Prints `synced: ...`.
  SIGTERM, SIGINT  clean shutdown: syncs everything (as an OS does when it shuts down),
                   unmounts and exits 0. To shut down with a cut, send SIGUSR1 first.

Output: `mounted <MOUNTPOINT>` on stdout once the filesystem serves; one line on stderr and
exit code 3 if mounting is refused (no /dev/fuse, not root and no fusermount3); exit code 1
for any other error. Needs /dev/fuse, and root or fusermount3.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Mount BACKING on MOUNTPOINT until SIGTERM or SIGINT.
    Mount {
        /// The dir whose contents are served (and where synced data goes).
        #[arg(long)]
        backing: PathBuf,
        /// An existing empty dir to mount on.
        #[arg(long)]
        mountpoint: PathBuf,
        /// Threads serving requests.
        #[arg(long, default_value_t = powercut::DEFAULT_THREADS)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let Command::Mount {
        backing,
        mountpoint,
        threads,
    } = args.command;
    // Modes are the application's, not masked again by ours.
    rustix::process::umask(rustix::fs::Mode::empty());
    let mount = match Mount::new(&backing, &mountpoint, threads) {
        Ok(mount) => mount,
        Err(e @ Error::MountRefused { .. }) => {
            eprintln!("powercut: {e}");
            return ExitCode::from(MOUNT_REFUSED);
        }
        Err(e) => {
            eprintln!("powercut: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("mounted {}", mountpoint.display());
    match serve(mount) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("powercut: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Answers signals until a shutdown signal or an unmount from outside.
fn serve(mount: Mount) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut cut = signal(SignalKind::user_defined1())?;
        let mut sync = signal(SignalKind::user_defined2())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = cut.recv() => {
                    let report = mount.cut();
                    println!(
                        "cut: dropped {} unsynced bytes of {} files",
                        report.bytes, report.files
                    );
                }
                _ = sync.recv() => {
                    let report = mount.sync()?;
                    println!("synced: wrote {} bytes of {} files", report.bytes, report.files);
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => {
                    if !mount.is_serving() {
                        println!("unmounted {} from outside", mount.mountpoint().display());
                        return Ok(());
                    }
                }
            }
        }
        let report = mount.sync()?;
        println!(
            "synced: wrote {} bytes of {} files",
            report.bytes, report.files
        );
        let mountpoint = mount.mountpoint().to_owned();
        mount.unmount()?;
        println!("unmounted {}", mountpoint.display());
        anyhow::Ok(())
    })
}
