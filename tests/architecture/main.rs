//! ARCHITECTURE.md kept true, and the crates kept layered: every module file of every crate
//! is named in its crate's code map, and no module imports one that imports it back (read
//! from the `use` lines and the paths in the code, folder by folder).

mod code_map;
mod imports;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The workspace's library crates, by folder (the root package holds only tests).
const CRATES: [&str; 6] = [
    "api",
    "service",
    "raft-node",
    "frontend",
    "client",
    "powercut",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_module_is_in_the_code_map() {
    let architecture =
        std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut missing = Vec::new();
    for crate_dir in CRATES {
        let src = root().join(crate_dir).join("src");
        let Some(bullets) = code_map::section(&architecture, crate_dir) else {
            missing.push(format!("no `## Code map: `{crate_dir}`` section"));
            continue;
        };
        for file in all_rs_files(&src) {
            let rel = file.strip_prefix(&src).expect("under src");
            if !code_map::names_module(&bullets, rel) {
                missing.push(format!("{crate_dir}/src/{}", rel.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's code map does not name these modules (add a line to the crate's \
         section, in its folder's bullet for a file in a folder):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let mut found = Vec::new();
    for crate_dir in CRATES {
        let edges = imports::import_graph(&root().join(crate_dir).join("src"));
        found.extend(
            imports::cycles(&edges)
                .into_iter()
                .map(|c| format!("{crate_dir}: {c}")),
        );
    }
    assert!(found.is_empty(), "import cycles:\n  {}", found.join("\n  "));
}

/// Every `.rs` file under `src`, binaries included.
fn all_rs_files(src: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

// The checkers themselves, on made-up crates: each finds what it must.

fn scratch_crate(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn the_cycle_check_finds_a_circle_through_a_folder_and_a_reexport() {
    let dir = scratch_crate(&[
        ("lib.rs", "mod a;\nmod net;\n"),
        ("a.rs", "use crate::net::Client;\n"),
        (
            "net/mod.rs",
            "mod client;\nmod routes;\npub use client::Client;\n",
        ),
        ("net/client.rs", "pub struct Client;\n"),
        ("net/routes.rs", "fn f() { crate::a::serve(); }\n"),
    ]);
    let edges = imports::import_graph(dir.path());
    let a = vec!["a".to_string()];
    let client = vec!["net".to_string(), "client".to_string()];
    assert!(
        edges[&a].contains(&client),
        "the re-export is followed: {edges:?}"
    );
    let found = imports::cycles(&edges);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("a <-> net"), "{found:?}");
    assert!(found[0].contains("net/routes -> a"), "{found:?}");
}

#[test]
fn the_cycle_check_ignores_comments_strings_tests_and_a_parent_naming_its_children() {
    let dir = scratch_crate(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "// use crate::b;\nconst S: &str = \"crate::b::x\";\nuse crate::b::X;\n",
        ),
        (
            "b/mod.rs",
            "mod c;\npub use self::c::X;\n#[cfg(test)]\nmod tests { use crate::a; }\n",
        ),
        (
            "b/c.rs",
            "/* crate::a */ pub struct X; use super::super::b;\n",
        ),
    ]);
    let edges = imports::import_graph(dir.path());
    let found = imports::cycles(&edges);
    assert!(found.is_empty(), "{found:?} from {edges:?}");
    let b: BTreeSet<Vec<String>> = edges[&vec!["b".to_string()]].clone();
    assert!(
        b.is_empty(),
        "a parent naming its child is not an import: {b:?}"
    );
}

#[test]
fn the_code_map_check_wants_a_nested_file_in_its_folders_bullet() {
    let map = "## Code map: `x`\n\n- `store/` — the store; `view.rs` reads it, `snap/` \
               dumps it.\n- `view.rs` — \
               top-level views.\n- `bin/x.rs` — the binary.\n\n## Code map: `y`\n- `other.rs`\n";
    let bullets = code_map::section(map, "x").expect("section x");
    let named = |p: &str| code_map::names_module(&bullets, Path::new(p));
    assert!(named("store/mod.rs"));
    assert!(named("store/view.rs"));
    assert!(named("store/snap/mod.rs"));
    assert!(
        !named("store/other/mod.rs"),
        "a folder not named in its parent's bullet"
    );
    assert!(named("view.rs"));
    assert!(named("bin/x.rs"));
    assert!(named("lib.rs"));
    assert!(!named("store/log.rs"), "not in the store bullet");
    assert!(!named("other.rs"), "named in another crate's section only");
    assert!(
        !named("net/view.rs"),
        "named only in another folder's bullet"
    );
    assert!(
        code_map::section(map, "z").is_none(),
        "no section for crate z"
    );
}
