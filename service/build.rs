//! Records the git commit the binaries are built from, for `--version`, `GET /version` and
//! the `bazaar_build_info` metric. Outside a git checkout (a source tarball) it says so.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BAZAAR_GIT_COMMIT={commit}");
    // Rebuild when HEAD moves (a commit, a checkout) so the binaries never report a stale
    // commit: HEAD itself, the branch it names, and packed refs. Paths are relative to
    // this crate.
    let mut watched = vec![
        "../.git/HEAD".to_string(),
        "../.git/packed-refs".to_string(),
    ];
    if let Ok(head) = std::fs::read_to_string("../.git/HEAD") {
        if let Some(branch) = head.trim().strip_prefix("ref: ") {
            watched.push(format!("../.git/{branch}"));
        }
    }
    for path in watched {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
