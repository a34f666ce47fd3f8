//! `porch completions bash|zsh|fish`: each script is valid for its shell, and the bash one,
//! loaded into a bash, completes what a user types.

use std::path::Path;
use std::process::Command;

use crate::support::Sandbox;

fn script(sandbox: &Sandbox, shell: &str) -> String {
    let run = sandbox.porch(&["completions", shell]).run();
    run.expect_code(0);
    let script = run.stdout();
    assert!(script.contains("porch"), "{shell}:\n{script}");
    script
}

fn installed(shell: &str) -> bool {
    Command::new(shell)
        .args(["-c", "exit 0"])
        .status()
        .is_ok_and(|s| s.success())
}

/// `SHELL -n FILE`: the shell reads the script without running it.
fn parses(shell: &str, file: &Path) -> Result<(), String> {
    let out = Command::new(shell).arg("-n").arg(file).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn each_script_is_valid_for_its_shell() {
    let sandbox = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let file = sandbox.path().join(format!("porch.{shell}"));
        std::fs::write(&file, script(&sandbox, shell)).unwrap();
        if !installed(shell) {
            println!("note: {shell} is not installed: its completion script was not checked");
            continue;
        }
        if let Err(err) = parses(shell, &file) {
            panic!("{shell} -n refuses the script: {err}");
        }
    }
}

/// What the bash script proposes for the words typed (the last one being completed), asked in
/// `dir`.
fn bash_completes(script: &Path, dir: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_porch\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash failed for {words:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reply: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    reply.sort();
    reply
}

#[test]
fn the_bash_script_completes_commands_flags_values_files_and_directories() {
    let sandbox = Sandbox::new();
    let file = sandbox.path().join("porch.bash");
    std::fs::write(&file, script(&sandbox, "bash")).unwrap();
    let dir = sandbox.path().join("here");
    std::fs::create_dir_all(dir.join("shop")).unwrap();
    std::fs::write(dir.join("tasks.json"), "{}").unwrap();
    // (words typed, the last being completed; what bash proposes, sorted)
    let cases: &[(&[&str], &[&str])] = &[
        (&["porch", "run", "--co"], &["--color"]),
        (
            &["porch", "run", "--color", ""],
            &["always", "auto", "never"],
        ),
        (
            &["porch", "run", "--permission-mode", "d"],
            &["default", "dontAsk"],
        ),
        (&["porch", "run", "--ju"], &["--junit"]),
        (&["porch", "resume", "--ti"], &["--timeout"]),
        (&["porch", "logs", "--f"], &["--follow"]),
        (&["porch", "com"], &["completions"]),
        (&["porch", "completions", ""], &["bash", "fish", "zsh"]),
        (&["porch", "run", "t"], &["tasks.json"]),
        (&["porch", "run", "-o", "t"], &["tasks.json"]),
        (&["porch", "run", "tasks.json", ""], &["shop"]),
        (&["porch", "run", "-j", "2", "tasks.json", "s"], &["shop"]),
        (&["porch", "run", "--worktree-dir", ""], &["shop"]),
        (&["porch", "status", ""], &["shop"]),
    ];
    for (words, expected) in cases {
        assert_eq!(
            bash_completes(&file, &dir, words),
            expected.to_vec(),
            "{words:?}"
        );
    }
}
