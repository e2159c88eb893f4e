//! The shape of the code, checked: the architecture document's invariants that a reading of
//! the sources can verify.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::repo_root;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(path) = todo.pop() {
        if path.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The crate's top-level modules each file of `src/` uses through `crate::` paths, outside
/// comments, keyed by the file's own top-level module.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = repo_root().join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|n| n != "lib" && n != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let own = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if own == "lib" || own == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let used = graph.entry(own.clone()).or_default();
        for piece in code.split("crate::").skip(1) {
            // `crate::a::…`, or a group `crate::{a, b::c}`.
            let names: Vec<String> = match piece.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or("")
                    .split(',')
                    .map(|n| n.trim().split("::").next().unwrap_or("").to_string())
                    .collect(),
                None => vec![piece
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("")
                    .to_string()],
            };
            for name in names {
                if modules.contains(&name) && name != own {
                    used.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle through `start` in `graph`, if there is one.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

/// No module of `src/` imports a module that imports it back, however indirectly: the flow
/// runs one way (sources → runner → render → view → server), as the architecture says.
#[test]
fn the_import_graph_of_src_has_no_cycle() {
    let graph = imports();
    assert!(graph.len() > 15, "{graph:?}");
    assert!(
        graph["runner"].contains("render"),
        "the reader sees imports"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
    // The render task and the view never reach back into the runner or the server.
    for (module, forbidden) in [
        ("render", ["runner", "server"]),
        ("view", ["runner", "render"]),
        ("signal", ["runner", "render"]),
    ] {
        for f in forbidden {
            assert!(!graph[module].contains(f), "{module} imports {f}");
        }
    }
}

/// Only `config` knows YAML (and the Backstage reader its catalog files), and only `store`
/// knows SQL.
#[test]
fn each_format_has_one_home() {
    for file in sources(&repo_root().join("src")) {
        let relative = file.strip_prefix(repo_root().join("src")).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        // Backstage's catalog files are data found in repositories, not configuration.
        let backstage = relative.ends_with("sources/git/backstage.rs");
        if !top.starts_with("config") && !backstage {
            assert!(
                !text.contains("yaml_rust2"),
                "{} reads YAML",
                relative.display()
            );
        }
        if !top.starts_with("store") {
            assert!(
                !text.contains("rusqlite"),
                "{} speaks SQL",
                relative.display()
            );
        }
    }
}
