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

/// Where a source groups imports from the crate (`use crate::folder::module::{A, B};`, over one
/// line or several), test modules included: the house style is one `use crate::…::Item;` a line,
/// so that an import added or dropped is a line of its own in a diff and in a merge. Grouped
/// imports of `std` and other crates, and re-exports of a folder's own modules (`pub use
/// commit::{…}`), are left alone.
fn grouped_crate_imports(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut lines = source.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        let statement = ["use ", "pub use ", "pub(crate) use "]
            .iter()
            .find_map(|keyword| trimmed.strip_prefix(keyword));
        if !statement.is_some_and(|path| path.starts_with("crate::")) {
            continue;
        }
        let mut whole = trimmed.to_string();
        while !whole.contains(';') {
            let Some((_, next)) = lines.next() else { break };
            whole.push_str(next.trim());
        }
        if whole.contains('{') {
            found.push(format!("line {}: {}", index + 1, whole));
        }
    }
    found
}

#[test]
fn each_import_from_the_crate_is_a_line_of_its_own() {
    let found = found_in(|_| true, grouped_crate_imports);
    assert!(
        found.is_empty(),
        "write one `use crate::folder::module::Item;` a line:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_grouped_crate_import_is_found_and_others_are_not() {
    let source = "use std::path::{Path, PathBuf};\n\
        use crate::git::{self, Repo};\n\
        use crate::output::printer::Message;\n\
        pub use crate::task::plan::{Plan, TaskPlan};\n\
        pub use commit::{commit_all, head};\n\
        use crate::process::child::{\n\
            Child, Leftovers,\n\
        };\n\
        // use crate::x::{a, b}; in a comment\n\
        fn f() {\n\
            use crate::results::{Review, Verdict};\n\
        }\n";
    assert_eq!(
        grouped_crate_imports(source),
        vec![
            "line 2: use crate::git::{self, Repo};",
            "line 4: pub use crate::task::plan::{Plan, TaskPlan};",
            "line 6: use crate::process::child::{Child, Leftovers,};",
            "line 11: use crate::results::{Review, Verdict};",
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
    let found = found_outside("state/", state_paths_built);
    assert!(
        found.is_empty(),
        "ask `state::StateDir` for the path:\n{}",
        found.join("\n")
    );
}

/// What `finder` finds in the files of `src/` outside the folder `owner`, each with its file.
fn found_outside(owner: &str, finder: fn(&str) -> Vec<String>) -> Vec<String> {
    found_in(|path| !path.starts_with(owner), finder)
}

/// What `finder` finds in the files of `src/` whose path (below `src/`) `chosen` accepts.
fn found_in(chosen: impl Fn(&str) -> bool, finder: fn(&str) -> Vec<String>) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for (path, _, source) in source_files(&root.join("src")) {
        if chosen(&path) {
            found.extend(
                finder(&source)
                    .iter()
                    .map(|place| format!("src/{path}: {place}")),
            );
        }
    }
    found
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

/// git's subcommands as porch would pass them: an argument list that starts with one of these
/// is a git call. (`rm`, `mv` and `init` are left out: they are also words of other commands
/// porch prints, and porch never runs them through git.)
const GIT_SUBCOMMANDS: [&str; 44] = [
    "add",
    "apply",
    "branch",
    "cat-file",
    "check-ignore",
    "check-ref-format",
    "checkout",
    "cherry-pick",
    "clean",
    "clone",
    "commit",
    "commit-tree",
    "config",
    "diff",
    "diff-tree",
    "fetch",
    "for-each-ref",
    "gc",
    "hash-object",
    "log",
    "ls-files",
    "ls-remote",
    "ls-tree",
    "merge",
    "merge-base",
    "merge-tree",
    "prune",
    "pull",
    "push",
    "rebase",
    "remote",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "show",
    "show-ref",
    "stash",
    "status",
    "submodule",
    "switch",
    "symbolic-ref",
    "update-ref",
    "worktree",
];

/// Where a source builds a git command line outside its unit tests: the git command builder
/// or `Command::new("git")`, or a list of arguments (`[…]`, `vec![…]`, `.arg(…)`) that starts
/// with a git subcommand. A command porch only prints starts with `"git"`, so it is not one.
fn git_calls_built(source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let builders = [
        "Command::new(\"git\")",
        "git::command(",
        "git::run(",
        "git::output(",
        "git::query(",
    ];
    let mut found = Vec::new();
    let mut in_list = false;
    for (index, line) in code.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") {
            continue;
        }
        let opens_git_list = starts_with_subcommand(trimmed, in_list);
        let builds = builders.iter().any(|b| line.contains(b));
        if opens_git_list || builds {
            found.push(format!("line {}: {}", index + 1, trimmed));
        }
        // A list opened at the end of a line has its first word on the next one.
        in_list = trimmed.ends_with('[') || trimmed.ends_with(".arg(");
    }
    found
}

/// Whether `line` opens an argument list whose first word is a git subcommand: `["worktree"`,
/// `.arg("merge")`, or a line holding only `"status",` right after a line that opened a list.
fn starts_with_subcommand(line: &str, after_open: bool) -> bool {
    let is_subcommand = |rest: &str| {
        let rest = rest.trim_start();
        GIT_SUBCOMMANDS.iter().any(|sub| {
            rest.strip_prefix('"')
                .and_then(|r| r.strip_prefix(sub))
                .is_some_and(|r| r.starts_with('"'))
        })
    };
    if after_open && is_subcommand(line) {
        return true;
    }
    let openers = line
        .match_indices('[')
        .map(|(at, _)| at + 1)
        .chain(line.match_indices(".arg(").map(|(at, s)| at + s.len()));
    openers.into_iter().any(|at| is_subcommand(&line[at..]))
}

#[test]
fn every_git_call_is_made_in_git() {
    let found = found_outside("git/", git_calls_built);
    assert!(
        found.is_empty(),
        "put each call behind a function named for its job in src/git/:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_git_argument_list_built_elsewhere_is_found_and_a_printed_command_is_not() {
    let source = "fn a() {\n\
        let out = git::run(dir, &args);\n\
        let head = run(dir, &[\"rev-parse\", \"HEAD\"]);\n\
        let mut cmd = Command::new(\"git\");\n\
        cmd.arg(\"status\");\n\
        let args = vec![\n\
            \"update-ref\",\n\
            reference,\n\
        ];\n\
        let hint = quote::command(&[\"git\", \"merge\", branch]);\n\
        let words = [\n\
            \"git\",\n\
            \"worktree\",\n\
        ];\n\
        (\"status\", Topic::Status),\n\
        // run(dir, &[\"worktree\", \"prune\"]) in a comment\n\
        }\n\
        #[cfg(test)]\n\
        let made = git(&[\"commit\", \"-m\", \"x\"]);\n";
    assert_eq!(
        git_calls_built(source),
        vec![
            "line 2: let out = git::run(dir, &args);",
            "line 3: let head = run(dir, &[\"rev-parse\", \"HEAD\"]);",
            "line 4: let mut cmd = Command::new(\"git\");",
            "line 5: cmd.arg(\"status\");",
            "line 7: \"update-ref\",",
        ]
    );
}

/// The longest a function of `src/` may be, its signature and closing brace included.
const MOST_LINES_A_FUNCTION: usize = 80;

/// `source` with its comments, strings and character literals blanked (newlines kept), so that
/// a brace in them does not count.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut code = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |code: &mut String, text: &[char]| {
        code.extend(text.iter().map(|&c| if c == '\n' { '\n' } else { ' ' }));
    };
    while i < chars.len() {
        let rest = &chars[i..];
        let end = match rest {
            ['/', '/', ..] => rest.iter().position(|&c| c == '\n').unwrap_or(rest.len()),
            ['/', '*', ..] => find(rest, &['*', '/'], 2).map_or(rest.len(), |at| at + 2),
            ['r', '#' | '"', ..] | ['b', 'r', '#' | '"', ..] if !after_identifier(&chars, i) => {
                let quote = rest.iter().position(|&c| c == '"').unwrap_or(0);
                let hashes = rest[..quote].iter().filter(|&&c| c == '#').count();
                let mut closing = vec!['"'];
                closing.extend(std::iter::repeat_n('#', hashes));
                find(rest, &closing, quote + 1).map_or(rest.len(), |at| at + closing.len())
            }
            ['"', ..] => string_end(rest),
            ['\'', '\\', ..] => find(rest, &['\''], 2).map_or(rest.len(), |at| at + 1),
            ['\'', _, '\'', ..] => 3,
            _ => 0,
        };
        if end == 0 {
            code.push(chars[i]);
            i += 1;
        } else {
            blank(&mut code, &rest[..end]);
            i += end;
        }
    }
    code
}

fn after_identifier(chars: &[char], at: usize) -> bool {
    at > 0 && (chars[at - 1].is_alphanumeric() || chars[at - 1] == '_')
}

/// Where `needle` starts in `haystack`, looking from `from`.
fn find(haystack: &[char], needle: &[char], from: usize) -> Option<usize> {
    (from..=haystack.len().saturating_sub(needle.len()))
        .find(|&at| haystack[at..].starts_with(needle))
}

/// The length of the string literal `rest` starts with, its quotes included.
fn string_end(rest: &[char]) -> usize {
    let mut at = 1;
    while at < rest.len() && rest[at] != '"' {
        at += if rest[at] == '\\' { 2 } else { 1 };
    }
    (at + 1).min(rest.len())
}

/// Each function of `source` that has a body: (its name, the line its `fn` is on, how many
/// lines it spans to its closing brace).
fn function_lengths(source: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(source);
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = code[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(body) = body_start(&code[at..]).map(|start| at + start) else {
            continue;
        };
        let mut depth = 0;
        for (offset, c) in code[body..].char_indices() {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            if depth == 0 {
                let lines = line_of(body + offset) - line_of(at) + 1;
                found.push((name, line_of(at), lines));
                break;
            }
        }
    }
    found
}

/// Where the body of the function `text` starts with opens (its `{`), or none for a function
/// without one (a trait's or an extern declaration, ended by `;`).
fn body_start(text: &str) -> Option<usize> {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '(' | '[' | '<' => depth += 1,
            ')' | ']' => depth -= 1,
            // `->` is no closing bracket.
            '>' if !text[..at].ends_with('-') => depth -= 1,
            ';' if depth == 0 => return None,
            '{' if depth == 0 => return Some(at),
            _ => {}
        }
    }
    None
}

#[test]
fn no_function_is_over_80_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for (path, _, source) in source_files(&root.join("src")) {
        for (name, line, lines) in function_lengths(&source) {
            if lines > MOST_LINES_A_FUNCTION {
                found.push(format!(
                    "src/{path}:{line}: fn {name} is {lines} lines long"
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a function over {MOST_LINES_A_FUNCTION} lines (split it by job):\n{}",
        found.join("\n")
    );
}

#[test]
fn a_function_is_measured_from_fn_to_its_closing_brace_whatever_its_text_holds() {
    let source = "fn short() {}\n\
        pub fn braces_in_text<T: Into<String>>(x: T) -> Vec<u8> {\n\
            let s = \"}}\"; let c = '}'; let e = '\\'';\n\
            let r = r#\"{\"a\":{}}\"#; // }\n\
            /* } */\n\
        }\n\
        trait T { fn declared(&self); }\n\
        fn after() {\n\
        }\n";
    assert_eq!(
        function_lengths(source),
        vec![
            ("short".to_string(), 1, 1),
            ("braces_in_text".to_string(), 2, 5),
            ("after".to_string(), 8, 2),
        ]
    );
}
