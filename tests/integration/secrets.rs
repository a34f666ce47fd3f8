//! A task's `env` values stay hidden (`[env NAME]`) in everything porch writes: the terminal,
//! `--events`, the results, the log, `porch logs` rendered and raw, the JUnit report; and
//! hiding them never changes what porch decides, which reads the real text.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

/// What porch wrote about one task, where a person or a script reads it.
struct Written {
    /// (where, text)
    places: Vec<(&'static str, String)>,
    /// The results of the run on the terminal (the stored run `porch logs` reads).
    results: Value,
    /// The results of the `--events` run.
    events_results: Value,
}

impl Written {
    /// Fails, naming the place, when any of `pieces` is in a text porch wrote, as it is or in
    /// a JSON string of it however escaped; and when a place of `shown_in` does not say
    /// `[env NAME]`, which would mean the test looked at nothing.
    #[track_caller]
    fn assert_hidden(&self, pieces: &[&str], name: &str, shown_in: &[&str]) {
        let hidden = format!("[env {name}]");
        for (place, text) in &self.places {
            for piece in pieces {
                let decoded = json_strings(text);
                assert!(
                    !text.contains(piece) && !decoded.iter().any(|s| s.contains(piece)),
                    "{piece:?} is shown in {place}:\n{text}"
                );
            }
        }
        for place in shown_in {
            let (_, text) = self.places.iter().find(|(p, _)| p == place).unwrap();
            assert!(text.contains(&hidden), "{place} lacks {hidden}:\n{text}");
        }
    }
}

/// Every JSON string in `text`: of the whole, if it is JSON, else of each line from its first
/// `{` (a log line may start with `[stderr] `).
fn json_strings(text: &str) -> Vec<String> {
    fn collect(value: &Value, into: &mut Vec<String>) {
        match value {
            Value::String(s) => into.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| collect(v, into)),
            Value::Object(map) => map.iter().for_each(|(k, v)| {
                into.push(k.clone());
                collect(v, into);
            }),
            _ => {}
        }
    }
    let mut strings = Vec::new();
    if let Ok(whole) = serde_json::from_str::<Value>(text) {
        collect(&whole, &mut strings);
        return strings;
    }
    for line in text.lines() {
        let json = line.find('{').map_or("", |at| &line[at..]);
        if let Ok(value) = serde_json::from_str::<Value>(json) {
            collect(&value, &mut strings);
        }
    }
    strings
}

fn read(path: impl AsRef<Path>) -> String {
    String::from_utf8_lossy(&std::fs::read(path.as_ref()).unwrap()).into_owned()
}

fn stored_results(sandbox: &Sandbox) -> Value {
    let runs = sandbox.worktree_dir().join("repo/.porch/runs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    serde_json::from_str(&read(files.last().expect("a stored run"))).unwrap()
}

/// Runs the tasks twice, `extra` given to both: with `--events` on branches `ev/NAME`, then
/// on the terminal with `--junit`, stored, which `porch logs NAME` then reads back.
fn run_and_read(sandbox: &Sandbox, tasks: &Path, name: &str, extra: &[&str], code: i32) -> Written {
    let events_output = sandbox.path().join("events-results.json");
    let events = sandbox
        .porch_run(&["--events", "--branch-template", "ev/{name}"])
        .output(&events_output)
        .arg(tasks)
        .arg(sandbox.repo())
        .args(extra)
        .run();
    events.expect_code(code).expect_no_panic();

    let junit = sandbox.path().join("junit.xml");
    let run = sandbox
        .porch_run(&[path_str(tasks), "--junit", path_str(&junit)])
        .without_output()
        .current_dir(sandbox.repo())
        .args(extra)
        .run();
    run.expect_code(code).expect_no_panic();
    let results = stored_results(sandbox);
    let log = task(&results, name)["log"].as_str().unwrap().to_string();
    let logs = |args: &[&str]| {
        let mut porch = sandbox.porch(args);
        porch
            .worktree_dir(sandbox.worktree_dir())
            .current_dir(sandbox.repo());
        let shown = porch.run();
        shown.expect_code(0);
        shown.stdout()
    };
    Written {
        places: vec![
            ("events", events.stdout()),
            ("events' stderr", events.stderr()),
            ("events' results", read(&events_output)),
            ("stdout", run.stdout()),
            ("stderr", run.stderr()),
            ("results", results.to_string()),
            ("log", read(&log)),
            ("logs", logs(&["logs", name])),
            ("logs --raw", logs(&["logs", name, "--raw"])),
            ("junit", read(&junit)),
        ],
        events_results: serde_json::from_str(&read(&events_output)).unwrap(),
        results,
    }
}

/// Where a value the session or its steps print shows up, hidden.
const EVERYWHERE: [&str; 6] = ["stdout", "events", "log", "logs", "logs --raw", "results"];

/// A value's lines long enough to be hidden on their own, as a test looks for them.
fn lines_of(value: &str) -> Vec<&str> {
    value
        .lines()
        .map(str::trim)
        .filter(|l| l.len() >= 6)
        .collect()
}

#[test]
fn a_value_of_several_lines_is_hidden_line_by_line_and_whole() {
    let sandbox = Sandbox::new();
    let pem = "-----BEGIN TEST KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEFAASC\n\
               AT8wggE7AgEAAkEAq7BFUpkGp3+XQ0F3\n-----END TEST KEY-----\n";
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "keyed",
        // The session reads the key and repeats a line of it; setup and check print it whole.
        "prompt": "@bash printenv PEM\n@say AT8wggE7AgEAAkEAq7BFUpkGp3+XQ0F3",
        "setup": ["sh", "-c", "printenv PEM"],
        "check": ["sh", "-c", "echo the key was:; printenv PEM; exit 1"],
        "env": {"PEM": pem}
    }]}));
    let written = run_and_read(&sandbox, &tasks, "keyed", &[], 1);
    let mut pieces = lines_of(pem);
    pieces.push(pem.trim_end());
    written.assert_hidden(&pieces, "PEM", &EVERYWHERE);
    let error = task(&written.results, "keyed")["error"].as_str().unwrap();
    assert!(
        error.contains("the key was:") && error.contains("[env PEM]"),
        "the check's last lines are in the error, the key hidden: {error}"
    );
    let junit = &written
        .places
        .iter()
        .find(|(p, _)| *p == "junit")
        .unwrap()
        .1;
    assert!(junit.contains("[env PEM]"), "{junit}");
}

#[test]
fn a_value_is_hidden_in_what_porch_shows_but_the_real_path_decides() {
    let sandbox = Sandbox::new();
    // Not a secret, and in the name of a file the agent writes where git ignores it.
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "build",
        "prompt": "@write ignored/.env.production NODE_ENV=production",
        "env": {"NODE_ENV": "production"}
    }]}));
    let written = run_and_read(&sandbox, &tasks, "build", &["--cleanup"], 0);
    for (results, worktree) in [
        (&written.events_results, sandbox.worktree("ev/build")),
        (&written.results, sandbox.worktree("build")),
    ] {
        let build = task(results, "build");
        assert_eq!(
            build["ignored_files"],
            json!(["ignored/.env.[env NODE_ENV]"]),
            "{build:#}"
        );
        assert_eq!(build["worktree_kept"], true, "{build:#}");
        assert_eq!(
            read(worktree.join("ignored/.env.production")),
            "NODE_ENV=production",
            "--cleanup kept the worktree holding the ignored file"
        );
    }
    written.assert_hidden(&["production"], "NODE_ENV", &EVERYWHERE);
}

#[test]
fn a_value_the_agent_writes_with_json_escapes_is_hidden() {
    let sandbox = Sandbox::new();
    let password = "pässwörd-ünï";
    // Valid stream-json, each non-ASCII character written as an escape, in both cases.
    let said = r#"{"type":"assistant","message":{"content":[{"type":"text","text":"the password is p\u00e4ssw\u00F6rd-\u00fcn\u00ef"}]},"session_id":"s"}"#;
    let result = r#"{"type":"result","subtype":"success","is_error":true,"result":"login failed with p\u00E4ssw\u00f6rd-\u00fcn\u00EF","session_id":"s","num_turns":1}"#;
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "login",
        "prompt": format!("@raw {said}\n@raw {result}\n@exit 1"),
        "env": {"PASSWORD": password}
    }]}));
    let written = run_and_read(&sandbox, &tasks, "login", &[], 1);
    written.assert_hidden(&[password], "PASSWORD", &EVERYWHERE);
    for results in [&written.results, &written.events_results] {
        let login = task(results, "login");
        let error = login["error"].as_str().unwrap();
        assert!(
            error.starts_with("login failed with [env PASSWORD]"),
            "{login:#}"
        );
        assert_eq!(
            login["result"], "login failed with [env PASSWORD]",
            "{login:#}"
        );
    }
}

#[test]
fn porchs_own_notes_hide_a_value_but_act_on_the_real_path() {
    let sandbox = Sandbox::new();
    let token = "tok-abcdef123456";
    let tasks = sandbox.tasks_json(&json!({"tasks": [{
        "name": "scaffold",
        "prompt": "@bash git init -q proj-$TOKEN && echo hi > proj-$TOKEN/index.js\n@write notes.txt n",
        "env": {"TOKEN": token}
    }]}));
    let written = run_and_read(&sandbox, &tasks, "scaffold", &["--cleanup"], 0);
    // Only porch's own notes and results name the repository.
    let porchs = ["stdout", "events", "results", "events' results"];
    written.assert_hidden(&[token], "TOKEN", &porchs);
    for (results, worktree, branch) in [
        (
            &written.events_results,
            sandbox.worktree("ev/scaffold"),
            "ev/scaffold",
        ),
        (
            &written.results,
            sandbox.worktree("scaffold"),
            "task/scaffold",
        ),
    ] {
        let scaffold = task(results, "scaffold");
        assert_eq!(
            scaffold["nested_repositories"],
            json!(["proj-[env TOKEN]"]),
            "{scaffold:#}"
        );
        assert!(
            scaffold["warnings"][0]
                .as_str()
                .unwrap()
                .starts_with("proj-[env TOKEN] is a git repository the session created"),
            "{scaffold:#}"
        );
        assert_eq!(scaffold["worktree_kept"], true, "{scaffold:#}");
        assert!(worktree.join("proj-tok-abcdef123456/index.js").exists());
        // The repository was left out of the commit by its real name.
        assert_eq!(
            sandbox.git(&["ls-tree", "--name-only", branch]).trim_end(),
            ".gitignore\nREADME.md\nnotes.txt"
        );
    }
}

#[test]
fn the_files_two_branches_share_are_shown_with_values_hidden() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "mine", "prompt": "@write config-production.txt mine", "env": {"NODE_ENV": "production"}},
        {"name": "theirs", "prompt": "@write config-production.txt theirs"}
    ]}));
    let run = sandbox.porch_run_tasks(&tasks).run();
    run.expect_code(0);
    let results = sandbox.results();
    assert_eq!(
        results["conflicts"],
        json!([{"tasks": ["mine", "theirs"], "files": ["config-[env NODE_ENV].txt"], "clean": false}]),
        "{results:#}"
    );
    // The summary shows what the results hold (`theirs` has no such value, and its own lines
    // show the name as it is).
    run.expect_stdout("  mine and theirs: config-[env NODE_ENV].txt\n");
}

/// A task's description and its prompt's first line become the title of porch's commit and
/// the results' `description`: a value quoted there is hidden in both, and in the events.
#[test]
fn a_value_in_the_description_or_prompt_stays_out_of_commits_and_results() {
    let sandbox = Sandbox::new();
    let key = "Sup3rS3cretKey";
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {
            "name": "described",
            "description": format!("deploy with key {key}"),
            "prompt": "@write d.txt d",
            "env": {"KEY": key}
        },
        {
            "name": "prompted",
            "prompt": format!("@write p.txt token={key}"),
            "env": {"KEY": key}
        }
    ]}));
    let written = run_and_read(&sandbox, &tasks, "described", &[], 0);
    written.assert_hidden(&[key], "KEY", &["results", "events"]);
    for branch in [
        "task/described",
        "task/prompted",
        "ev/described",
        "ev/prompted",
    ] {
        let message = sandbox.git(&["log", "-1", "--format=%B", branch]);
        assert!(!message.contains(key), "{branch}: {message}");
        assert!(message.contains("[env KEY]"), "{branch}: {message}");
    }
}

/// An error about the tasks file quotes what it found wrong, which may be an `env` value of a
/// task (a `copy` path, a `base_branch`): it shows the value hidden, as the output does.
#[test]
fn an_error_quoting_a_value_of_the_tasks_file_hides_an_env_value() {
    let sandbox = Sandbox::new();
    let env = json!({"NODE_ENV": "production-eu"});
    for task in [
        json!({"name": "a", "prompt": "p", "env": env, "copy": [".env.production-eu"]}),
        json!({"name": "a", "prompt": "p", "env": env, "base_branch": "production-eu"}),
        json!({"name": "a", "prompt": "p", "env": env, "copy": ["production-eu/../../x"]}),
    ] {
        let run = sandbox.run_tasks_json(&json!([task]), &[]);
        run.expect_code(2).expect_stderr("[env NODE_ENV]");
        assert!(!run.stderr().contains("production-eu"), "{run}");
    }
    // Nor does the plan `--dry-run` prints, as text or JSON.
    std::fs::write(sandbox.repo().join(".env.production-eu"), "x").unwrap();
    let task = json!({"name": "a", "prompt": "p", "env": env, "copy": [".env.production-eu"]});
    for extra in [&["--dry-run"][..], &["--dry-run", "--json"]] {
        let run = sandbox.run_tasks_json(&json!([task]), extra);
        run.expect_code(0).expect_stdout("[env NODE_ENV]");
        assert!(!run.stdout().contains("production-eu"), "{run}");
    }
}
