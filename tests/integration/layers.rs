//! The layers docs/design.md lists are the layers the code has: every folder of `src/` is one
//! layer, every file is listed there, each folder's `mod.rs` says its job in a `//!` line, and no
//! file imports from a layer above its own.

use std::collections::BTreeMap;
use std::path::Path;

fn layers_section(design: &str) -> &str {
    design
        .split("## Modules and layers")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/design.md has a `## Modules and layers` section")
}

/// Top-level module (a folder of `src/`, or `error`) → layer number (1 is the top), from the
/// "Modules and layers" section's `- `folder/` — job` lines.
fn layers_from_design(design: &str) -> BTreeMap<String, u32> {
    let section = layers_section(design);
    let mut layers = BTreeMap::new();
    let mut current = None;
    for line in section.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("**") {
            current = rest.split('.').next().and_then(|n| n.parse::<u32>().ok());
            continue;
        }
        let (Some(layer), Some(item)) = (current, trimmed.strip_prefix("- ")) else {
            continue;
        };
        let Some((names, _)) = item.split_once(" — ") else {
            continue;
        };
        for name in names.split('`').skip(1).step_by(2) {
            let module = name.split('/').next().unwrap_or(name);
            layers.entry(module.to_string()).or_insert(layer);
        }
    }
    layers
}

/// Every `crate::NAME` a source text uses outside its unit tests (`{` for a grouped
/// `crate::{…}`, which this check cannot read).
fn imported_modules(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    code.match_indices("crate::")
        .map(|(at, found)| {
            code[at + found.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '{')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// What breaks the layering: (module, its source) pairs checked against the design's layers.
fn violations(layers: &BTreeMap<String, u32>, modules: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (module, source) in modules {
        if module == "main" {
            continue;
        }
        let Some(&own) = layers.get(module) else {
            found.push(format!(
                "`{module}` is not listed in docs/design.md's layers"
            ));
            continue;
        };
        for imported in imported_modules(source) {
            match layers.get(&imported) {
                None if imported.starts_with('{') => found.push(format!(
                    "`{module}` groups imports as `crate::{{…}}`: write one `use crate::module` each"
                )),
                None => found.push(format!(
                    "`{module}` imports `{imported}`, which docs/design.md does not list"
                )),
                Some(&layer) if layer < own => found.push(format!(
                    "`{module}` (layer {own}) imports `{imported}` from layer {layer} above it"
                )),
                Some(_) => {}
            }
        }
    }
    found
}

/// Each file of `src/` as (its path below `src/`, its top-level module, its source):
/// `preflight/jobs.rs` is in `preflight`.
fn source_files(src: &Path) -> Vec<(String, String, String)> {
    let mut modules = Vec::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/ is readable") {
            let path = entry.expect("src/ entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).expect("below src/");
            let top = relative.components().next().expect("a file name");
            let module = Path::new(top.as_os_str())
                .file_stem()
                .expect("a stem")
                .to_string_lossy()
                .into_owned();
            let source = std::fs::read_to_string(&path).expect("a readable source file");
            let relative = relative.to_string_lossy().into_owned();
            modules.push((relative, module, source));
        }
    }
    modules
}

#[test]
fn imports_point_down_the_layers_design_md_lists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/design.md")).expect("docs/design.md");
    let layers = layers_from_design(&design);
    assert!(
        layers.len() >= 12,
        "docs/design.md's layers were not read: {layers:?}"
    );
    let files = source_files(&root.join("src"));
    let modules: Vec<(String, String)> = files
        .iter()
        .map(|(_, module, source)| (module.clone(), source.clone()))
        .collect();
    let found = violations(&layers, &modules);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn design_md_draws_every_file_and_each_folder_says_its_job() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/design.md")).expect("docs/design.md");
    let section = layers_section(&design);
    let mut missing = Vec::new();
    for (path, _, source) in source_files(&root.join("src")) {
        if !path.contains('/') {
            // main.rs and error.rs: the only files at the top, drawn in the section's tree.
            if !section.contains(&format!("src/{path}")) {
                missing.push(format!("src/{path} is not drawn in docs/design.md"));
            }
            continue;
        }
        if !section.contains(&format!("`{path}`")) {
            missing.push(format!(
                "src/{path} is not listed in docs/design.md's layers"
            ));
        }
        if path.ends_with("/mod.rs") && !source.starts_with("//! ") {
            missing.push(format!(
                "src/{path} does not open with a `//!` line saying its job"
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn an_upward_import_or_an_unlisted_module_is_found() {
    let design = "## Modules and layers\n\n\
        **1. Entry.**\n- `cli` — arguments\n\n\
        **2. Leaves.**\n- `error`, `clip` — leaves\n\n## Threads\n";
    let layers = layers_from_design(design);
    assert_eq!(layers.get("cli"), Some(&1));
    assert_eq!(layers.get("clip"), Some(&2));
    let modules = vec![
        ("cli".to_string(), "use crate::error::Error;".to_string()),
        ("error".to_string(), "use crate::cli::parse;".to_string()),
        (
            "clip".to_string(),
            "#[cfg(test)]\nuse crate::cli;".to_string(),
        ),
        ("stray".to_string(), String::new()),
    ];
    assert_eq!(
        violations(&layers, &modules),
        vec![
            "`error` (layer 2) imports `cli` from layer 1 above it".to_string(),
            "`stray` is not listed in docs/design.md's layers".to_string(),
        ]
    );
}

/// The names in the state directory that only `state/` (its `StateDir`) may put in a path.
const STATE_PIECES: [&str; 8] = [
    ".porch",
    "logs",
    "runs",
    "results.json",
    "tasks",
    "locks",
    "merge",
    "repo",
];

/// Where a source builds a path in the state directory outside its unit tests: a piece joined
/// onto a path, or `.porch` or `results.json` spelled as a whole string. A message that only
/// mentions one (`-o results.json`) and a `logs` subcommand are not paths.
fn state_paths_built(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let mut found = Vec::new();
    for (index, line) in code.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let builds = STATE_PIECES.iter().any(|piece| {
            let joined = [format!("join(\"{piece}\")"), format!("join(\"{piece}/")];
            let whole = matches!(*piece, ".porch" | "results.json")
                && line.contains(&format!("\"{piece}\""));
            whole || joined.iter().any(|j| line.contains(j.as_str()))
        });
        if builds {
            found.push(format!("line {}: {}", index + 1, line.trim()));
        }
    }
    found
}

#[test]
fn only_state_builds_paths_in_the_state_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for (path, _, source) in source_files(&root.join("src")) {
        if path.starts_with("state/") {
            continue;
        }
        for place in state_paths_built(&source) {
            found.push(format!(
                "src/{path}: {place} (ask `state::StateDir` for the path)"
            ));
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_state_path_built_elsewhere_is_found_and_a_mention_is_not() {
    let source = "fn a() {\n\
        let log = state_dir.join(\"logs\").join(name);\n\
        const LATEST: &str = \"results.json\";\n\
        let lock = root.join(\"locks/x\");\n\
        // state_dir.join(\"logs\") in a comment\n\
        let hint = \"give -o a file path, e.g. -o results.json\";\n\
        \"logs\" => Some(Topic::Logs),\n\
        }\n\
        #[cfg(test)]\n\
        let dir = tmp.join(\".porch\");\n";
    let found = state_paths_built(source);
    assert_eq!(
        found,
        vec![
            "line 2: let log = state_dir.join(\"logs\").join(name);",
            "line 3: const LATEST: &str = \"results.json\";",
            "line 4: let lock = root.join(\"locks/x\");",
        ]
    );
}
