//! The real `frontend` binary for whole-system tests: started on a free port against a
//! `TestCluster`, its address read from its first line of output, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{binary, TestCluster, DEADLINE};

pub struct Frontend {
    child: Child,
    /// `http://host:port` of this frontend.
    pub url: String,
    log: PathBuf,
}

impl Frontend {
    /// Starts a frontend for `cluster` with extra flags and environment variables.
    pub fn start(cluster: &TestCluster, args: &[&str], env: &[(&str, &str)]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let log = cluster.dir.path().join(format!(
            "frontend{}.log",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let stderr = std::fs::File::create(&log).expect("frontend log file");
        let mut command = Command::new(binary("frontend"));
        command
            .args([
                "--config",
                &cluster.config_path().to_string_lossy(),
                "--listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .env("RUST_LOG", "info,frontend=debug")
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn frontend");
        let stdout = child.stdout.take().expect("frontend stdout");
        // The binary prints its bound address first; read it off a thread so a frontend
        // that never prints cannot hang the test, then keep draining the pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(DEADLINE)
            .expect("frontend printed its address");
        let addr = line
            .rsplit(' ')
            .next()
            .expect("address at the end of the first line")
            .to_string();
        Self {
            child,
            url: cluster.config.url_of(&addr),
            log,
        }
    }

    /// The URL of `path` on this frontend.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// How many lines of this frontend's log (its stderr) contain `needle`.
    pub fn log_lines_with(&self, needle: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(needle))
            .count()
    }
}

impl Drop for Frontend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- frontend log ----\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}
