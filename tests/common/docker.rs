//! Compose projects of docker-compose.yml for the container tests (`docker_cluster.rs`,
//! `docker_monitoring.rs`): the images built offline into throwaway tags, the operator's
//! first-run set-up (`scripts/compose-init.sh`) in a temp dir of the test's own, free host
//! ports, and everything removed on drop (project, containers, network, volumes, images),
//! also when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;

pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim().to_string()
}

pub fn docker_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `docker compose` (v2) or `docker-compose` (v1.28+, the first with profiles), whichever
/// is installed.
pub fn compose_program() -> Option<Vec<String>> {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if v2 {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    let v1 = Command::new("docker-compose")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    v1.then(|| vec!["docker-compose".into()])
}

/// Where the release binaries the images are packed from are.
pub fn bin_dir() -> PathBuf {
    super::binary("raft-node")
        .parent()
        .map(Path::to_path_buf)
        .expect("binary directory")
}

/// One compose project of docker-compose.yml on free host ports, with the given profiles
/// active in every compose command; torn down on drop.
pub struct Project {
    compose: Vec<String>,
    pub name: String,
    profiles: Vec<String>,
    /// Throwaway image tags this project built; removed on drop.
    images: Vec<String>,
    /// Whether `up` ran (then drop runs `down`, even if `up` failed halfway).
    started: AtomicBool,
    pub env: Vec<(String, String)>,
    pub http_port: u16,
    pub node_ports: [u16; 3],
    /// Trusts only the project's own CA.
    pub http: reqwest::Client,
    /// .env and certs/ as `compose-init.sh` wrote them; removed after the project.
    _setup: tempfile::TempDir,
}

impl Project {
    /// Everything up to `up`: checks that a Docker engine and Compose answer, builds the
    /// image bazaar:test-PID from the release binaries (`scripts/build-image.sh
    /// --no-build`), runs `compose-init.sh` into a temp dir (fresh secrets, TLS files) and
    /// picks free host ports. `name` tells the tests' projects apart (`bazaar<name><pid>`).
    pub fn prepare(name: &str, profiles: &[&str]) -> Project {
        assert!(
            docker_answers(),
            "no docker engine (`docker info` failed): run this test only where one answers"
        );
        let compose = compose_program()
            .expect("no docker compose (neither `docker compose` nor `docker-compose` v1.28+)");
        // Binaries must exist before anything is created.
        for b in ["raft-node", "frontend", "bazaar"] {
            super::binary(b);
        }
        let pid = std::process::id();
        let setup = tempfile::tempdir().expect("temp dir");
        let http_port = super::free_port();
        let node_ports = [super::free_port(), super::free_port(), super::free_port()];
        let mut project = Project {
            compose,
            name: format!("bazaar{name}{pid}"),
            profiles: profiles.iter().map(|p| p.to_string()).collect(),
            images: Vec::new(),
            started: AtomicBool::new(false),
            env: Vec::new(),
            http_port,
            node_ports,
            http: reqwest::Client::new(),
            _setup: setup,
        };
        let image = format!("bazaar:test-{pid}");
        project.build_image("build-image.sh", &image, &["--no-build"]);

        // First-run set-up, as an operator does it: fresh secrets and TLS files, here in a
        // temp dir of this test's own.
        let dir = project._setup.path().to_path_buf();
        let init = run(
            Command::new(super::repo_root().join("scripts/compose-init.sh"))
                .arg("--out")
                .arg(&dir)
                .env("BAZAAR_BIN_DIR", bin_dir()),
        );
        assert!(
            init.status.success(),
            "scripts/compose-init.sh failed: {}",
            text(&init.stderr)
        );
        let secrets = std::fs::read_to_string(dir.join(".env")).expect(".env written");
        project.env = secrets
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(project.env.len(), 2, "two secrets in .env: {secrets}");
        let ca = std::fs::read(dir.join("certs/ca.crt")).expect("CA written");
        project.http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("a PEM CA"))
            .build()
            .expect("client");
        project.set_env("BAZAAR_CERTS_DIR", &dir.join("certs").to_string_lossy());
        project.set_env("BAZAAR_IMAGE", &image);
        project.set_env("BAZAAR_HTTP_PORT", &http_port.to_string());
        project.set_env("BAZAAR_BIND", "127.0.0.1");
        for (i, port) in node_ports.iter().enumerate() {
            project.set_env(&format!("BAZAAR_NODE{}_PORT", i + 1), &port.to_string());
        }
        project.set_env("BAZAAR_RESTART", "no");
        project
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Builds the throwaway image `tag` with `scripts/<script> --tag TAG ARGS...` (removed on
    /// drop, so also when the build itself fails halfway) and prints the script's summary.
    pub fn build_image(&mut self, script: &str, tag: &str, args: &[&str]) {
        self.images.push(tag.to_string());
        let build = run(
            Command::new(super::repo_root().join("scripts").join(script))
                .args(["--tag", tag])
                .args(args)
                .env("BAZAAR_BIN_DIR", bin_dir()),
        );
        assert!(
            build.status.success(),
            "scripts/{script} failed: {}\n{}",
            text(&build.stdout),
            text(&build.stderr)
        );
        println!("{}", text(&build.stdout));
    }

    pub fn compose(&self) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..])
            .arg("-f")
            .arg(super::repo_root().join("docker-compose.yml"))
            .args(["-p", &self.name]);
        for profile in &self.profiles {
            cmd.args(["--profile", profile]);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    pub fn compose_ok(&self, args: &[&str]) -> String {
        let out = run(self.compose().args(args));
        assert!(
            out.status.success(),
            "compose {args:?} failed: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `compose up -d`: every service of the default set and of the active profiles.
    pub fn up(&self) {
        self.started.store(true, Ordering::SeqCst);
        let up = run(self.compose().args(["up", "-d"]));
        assert!(
            up.status.success(),
            "compose up failed: {}",
            text(&up.stderr)
        );
    }

    /// The container id of `service` (node1, frontend, prometheus, ...).
    pub fn container(&self, service: &str) -> String {
        let cid = self.compose_ok(&["ps", "-q", service]);
        assert!(!cid.is_empty(), "no container for {service}");
        cid
    }

    pub fn network(&self, container: &str) -> String {
        let out = run(Command::new("docker").args([
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}\n{{end}}",
            container,
        ]));
        let name = text(&out.stdout).lines().next().unwrap_or("").to_string();
        assert!(!name.is_empty(), "cannot tell the network of {container}");
        name
    }

    pub fn frontend(&self) -> String {
        format!("https://127.0.0.1:{}", self.http_port)
    }

    pub fn node(&self, id: u64) -> String {
        format!("https://127.0.0.1:{}", self.node_ports[id as usize - 1])
    }

    /// GET `url`: the status and the JSON body; None while nothing (or no JSON) answers.
    pub async fn get_json(&self, url: String) -> Option<(u16, Value)> {
        let resp = self
            .http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        Some((status, resp.json().await.ok()?))
    }

    /// A service's log, for a failure's message.
    pub fn logs(&self, service: &str) -> String {
        let out = run(self.compose().args(["logs", "--no-color", service]));
        format!("{}\n{}", text(&out.stdout), text(&out.stderr))
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // Paused, cut-off or stopped containers do not matter: down removes them in any
        // state, with the profiles' services (they are passed to every compose command).
        if self.started.load(Ordering::SeqCst) {
            let out = run(self
                .compose()
                .args(["down", "-v", "--remove-orphans", "-t", "2"]));
            if !out.status.success() {
                eprintln!("compose down failed: {}", text(&out.stderr));
            }
        }
        for image in &self.images {
            let _ = run(Command::new("docker").args(["image", "rm", image]));
        }
    }
}
