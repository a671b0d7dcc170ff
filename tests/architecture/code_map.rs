//! ARCHITECTURE.md's code map, read as data: for each crate, its bullets (`- `name` — …`),
//! and whether a module file is named in them (rust-analyzer's tidy test, for our layout).

use std::path::Path;

/// One bullet of a crate's code map: its first named item (the heading, e.g. `store/`) and
/// every name written in backticks in it.
pub struct Bullet {
    pub head: String,
    pub names: Vec<String>,
}

/// The bullets of the section `## Code map: `<crate_dir>`…`, or `None` when there is none.
pub fn section(architecture: &str, crate_dir: &str) -> Option<Vec<Bullet>> {
    let title = format!("## Code map: `{crate_dir}`");
    let start = architecture.find(&title)?;
    let body = &architecture[start + title.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let mut bullets: Vec<Bullet> = Vec::new();
    for line in body.lines() {
        if let Some(item) = line.strip_prefix("- ") {
            let names = backticked(item);
            bullets.push(Bullet {
                head: names.first().cloned().unwrap_or_default(),
                names,
            });
        } else if line.starts_with("  ") {
            if let Some(last) = bullets.last_mut() {
                last.names.extend(backticked(line));
            }
        }
    }
    Some(bullets)
}

fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Whether the module file at `rel` (relative to the crate's `src/`) is named: by its whole
/// path in any bullet; a top-level file by its name in a bullet about a top-level file; a
/// file in a folder by its name (or its path below that folder) in the folder's bullet.
/// A folder's `mod.rs` is named by the folder (`store/`, or `snapshot/` in the `store/`
/// bullet); the crate root needs no bullet.
pub fn names_module(bullets: &[Bullet], rel: &Path) -> bool {
    let rel_str = rel.to_string_lossy().replace('\\', "/");
    if rel_str == "lib.rs" {
        return true;
    }
    let named_anywhere = |name: &str| bullets.iter().any(|b| b.names.iter().any(|n| n == name));
    let in_folder_bullet = |top: &str, names: &[&str]| {
        bullets
            .iter()
            .filter(|b| b.head == format!("{top}/"))
            .any(|b| b.names.iter().any(|n| names.contains(&n.as_str())))
    };
    if named_anywhere(&rel_str) {
        return true;
    }
    if let Some(folder) = rel_str.strip_suffix("/mod.rs") {
        if named_anywhere(&format!("{folder}/")) {
            return true;
        }
        // A folder inside a folder: `snapshot/` in the `store/` bullet.
        return folder
            .split_once('/')
            .is_some_and(|(top, below)| in_folder_bullet(top, &[&format!("{below}/")]));
    }
    match rel_str.split_once('/') {
        None => bullets
            .iter()
            .filter(|b| !b.head.contains('/'))
            .any(|b| b.names.contains(&rel_str)),
        Some((top, below)) => {
            let file = below.rsplit('/').next().unwrap_or(below);
            in_folder_bullet(top, &[below, file])
        }
    }
}
