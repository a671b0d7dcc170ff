//! The import graph of one crate, read from its source files: which module files name which
//! (`use` lines and paths written in the code, from `crate::`, `super::` or `self::`), and the
//! circles in it. Test modules (`#[cfg(test)] mod …`) are left out: a test may import freely.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module by its path inside the crate: `["store", "content"]`; the crate root is `[]`.
pub type ModPath = Vec<String>;

/// Every module file of a crate (binaries under `src/bin/` left out: nothing imports them).
pub fn module_files(src: &Path) -> BTreeMap<ModPath, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let rel = path.strip_prefix(src).expect("under src").to_path_buf();
            if path.is_dir() {
                if rel != Path::new("bin") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let mut segs: ModPath = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(segs.last().map(String::as_str), Some("mod" | "lib")) {
                segs.pop();
            }
            found.insert(segs, path);
        }
    }
    found
}

/// The source without comments, string literals' contents and test modules.
fn code_of(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if source[i..].starts_with("//") {
            i += source[i..].find('\n').unwrap_or(source.len() - i);
        } else if source[i..].starts_with("/*") {
            i += source[i + 2..]
                .find("*/")
                .map_or(source.len() - i, |n| n + 4);
        } else if bytes[i] == b'"' {
            // Skip the literal, keeping its quotes; escapes never end it.
            out.push('"');
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            out.push('"');
            i += 1;
        } else {
            let ch = source[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    match out.find("#[cfg(test)]") {
        Some(at)
            if out[at..]
                .trim_start_matches("#[cfg(test)]")
                .trim_start()
                .starts_with("mod ") =>
        {
            out.truncate(at);
            out
        }
        _ => out,
    }
}

/// `a::{b, c::{d as e}}` as the paths it names: `a::b`, `a::c::d`.
fn expand_use_tree(tree: &str) -> Vec<String> {
    let tree: String = tree
        .chars()
        .filter(|c| !c.is_whitespace() || *c == ' ')
        .collect();
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("").replace(' ', "");
        return if path.is_empty() { vec![] } else { vec![path] };
    };
    let head = tree[..open].replace(' ', "");
    let body = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in body.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
        .into_iter()
        .flat_map(expand_use_tree)
        .map(|p| {
            if p == "self" {
                head.trim_end_matches("::").to_string()
            } else {
                format!("{head}{p}")
            }
        })
        .collect()
}

/// Every path a module's code names: expanded `use` trees and inline `crate::`/`super::`/
/// `self::` paths.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        paths.extend(expand_use_tree(&after[..end]));
        rest = &after[end..];
    }
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(start) {
            let at = from + at;
            let before = code[..at].chars().next_back();
            from = at + start.len();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let len = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(code.len() - at);
            paths.push(code[at..at + len].trim_end_matches(':').to_string());
        }
    }
    paths
}

/// Where `word` starts as a whole word (an identifier on its own).
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find(word) {
        let at = from + at;
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let ident = |c: char| c.is_alphanumeric() || c == '_';
        if !before.is_some_and(ident) && !after.is_some_and(ident) {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The module a path names, from the module that names it: the deepest module prefix of
/// the path, following a `pub use child::Item` re-export to the child that defines it.
fn resolve(
    modules: &BTreeMap<ModPath, PathBuf>,
    reexports: &BTreeMap<(ModPath, String), ModPath>,
    absolute: &[String],
) -> Option<ModPath> {
    for n in (0..=absolute.len()).rev() {
        let prefix = absolute[..n].to_vec();
        if modules.contains_key(&prefix) {
            if let Some(item) = absolute.get(n) {
                if let Some(child) = reexports.get(&(prefix.clone(), item.clone())) {
                    return Some(child.clone());
                }
            }
            return Some(prefix);
        }
    }
    None
}

/// The absolute segments of `path` named in module `from`, or `None` for an external crate's
/// path. (`self` is the module itself and `super` its parent, for a file and a folder alike.)
fn absolute(from: &ModPath, path: &str) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => {
            segs.remove(0);
            vec![]
        }
        Some(&"self") => {
            segs.remove(0);
            from.clone()
        }
        Some(&"super") => {
            let mut base = from.clone();
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
            base
        }
        _ => return None,
    };
    base.extend(segs.into_iter().map(str::to_string));
    Some(base)
}

/// Edges `a -> b`: module file `a` names something defined in module file `b`. A module
/// naming its own descendants is structure (declaring and re-exporting them), not an import.
pub fn import_graph(src: &Path) -> BTreeMap<ModPath, BTreeSet<ModPath>> {
    let modules = module_files(src);
    let code: BTreeMap<ModPath, String> = modules
        .iter()
        .map(|(m, p)| {
            let text =
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (m.clone(), code_of(&text))
        })
        .collect();
    let mut reexports = BTreeMap::new();
    for (m, text) in &code {
        let mut rest = text.as_str();
        while let Some(at) = rest
            .find("pub use ")
            .or_else(|| rest.find("pub(crate) use "))
        {
            let after = &rest[at..];
            let after = &after[after.find("use ").expect("use") + 4..];
            let end = after.find(';').unwrap_or(after.len());
            for path in expand_use_tree(&after[..end]) {
                let segs: Vec<String> = path
                    .split("::")
                    .filter(|s| !s.is_empty() && *s != "self")
                    .map(str::to_string)
                    .collect();
                if segs.len() >= 2 {
                    let mut child = m.clone();
                    child.push(segs[0].clone());
                    if modules.contains_key(&child) {
                        let mut defining = m.clone();
                        defining.extend(segs[..segs.len() - 1].iter().cloned());
                        let last = segs.last().expect("two segments").clone();
                        let mut as_module = defining.clone();
                        as_module.push(last.clone());
                        let target = if modules.contains_key(&as_module) {
                            as_module
                        } else {
                            defining
                        };
                        reexports.insert((m.clone(), last), target);
                    }
                }
            }
            rest = &after[end..];
        }
    }
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = modules
        .keys()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (m, text) in &code {
        for path in named_paths(text) {
            let Some(abs) = absolute(m, &path) else {
                continue;
            };
            let Some(target) = resolve(&modules, &reexports, &abs) else {
                continue;
            };
            if target.starts_with(m) {
                continue;
            }
            edges.get_mut(m).expect("a module").insert(target);
        }
    }
    edges
}

/// The circles of a crate, looked at folder by folder as rust-analyzer's layering is: in each
/// folder module, its direct children (each with everything under it) are the nodes, and
/// `a -> b` when anything under `a` names anything under `b`. Each circle is given with the
/// file-level imports that make it.
pub fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<String> {
    let folders: BTreeSet<ModPath> = edges
        .keys()
        .filter(|m| !m.is_empty())
        .map(|m| m[..m.len() - 1].to_vec())
        .collect();
    let mut found = Vec::new();
    for folder in folders {
        let depth = folder.len();
        let under = |m: &ModPath| m.len() > depth && m.starts_with(&folder);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut why: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (from, targets) in edges.iter().filter(|(m, _)| under(m)) {
            graph.entry(from[depth].clone()).or_default();
            for to in targets
                .iter()
                .filter(|t| under(t) && t[depth] != from[depth])
            {
                graph
                    .entry(from[depth].clone())
                    .or_default()
                    .insert(to[depth].clone());
                graph.entry(to[depth].clone()).or_default();
                why.entry((from[depth].clone(), to[depth].clone()))
                    .or_default()
                    .push(format!("{} -> {}", from.join("/"), to.join("/")));
            }
        }
        for component in strongly_connected(&graph) {
            let inside: BTreeSet<&String> = component.iter().collect();
            let mut links = Vec::new();
            for ((a, b), files) in &why {
                if inside.contains(a) && inside.contains(b) {
                    links.push(files.join(", "));
                }
            }
            let place = if folder.is_empty() {
                "crate root".to_string()
            } else {
                folder.join("/")
            };
            found.push(format!(
                "in {place}: {} ({})",
                component.join(" <-> "),
                links.join("; ")
            ));
        }
    }
    found
}

/// Tarjan's strongly connected components of more than one node.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        next: usize,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            for w in &self.graph[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.stack.contains(&w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}
