//! `porch completions bash|zsh|fish`: each script, loaded into its shell, completes what a user
//! types: commands, each command's flags (exactly those its parser takes), values, paths with
//! spaces, and the task names of a tasks file or a stored run. bash is always tested; zsh and
//! fish when they are installed (the test says when one is skipped).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{PORCH, Sandbox, path_str};

fn script(sandbox: &Sandbox, shell: &str) -> String {
    let run = sandbox.porch(&["completions", shell]).run();
    run.expect_code(0);
    let script = run.stdout();
    assert!(script.contains("porch"), "{shell}:\n{script}");
    script
}

fn installed(shell: &str) -> bool {
    let found = Command::new(shell)
        .args(["-c", "exit 0"])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("note: {shell} is not installed: its completions were not tested");
    }
    found
}

/// A shell with porch's script loaded, in the sandbox's hermetic environment, with the built
/// porch on PATH (the scripts run `porch __complete` for task names).
struct Shell<'a> {
    sandbox: &'a Sandbox,
    name: &'static str,
    /// The script's file (for zsh, `_porch` in a directory of its own, for $fpath).
    file: PathBuf,
    env: Vec<(&'static str, OsString)>,
}

impl<'a> Shell<'a> {
    fn new(sandbox: &'a Sandbox, name: &'static str) -> Shell<'a> {
        let dir = sandbox.path().join(format!("completions-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(if name == "zsh" { "_porch" } else { "porch" });
        std::fs::write(&file, script(sandbox, name)).unwrap();
        let bin = sandbox.path().join("bin");
        if !bin.join("porch").exists() {
            std::fs::create_dir_all(&bin).unwrap();
            std::os::unix::fs::symlink(PORCH, bin.join("porch")).unwrap();
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin];
        dirs.extend(std::env::split_paths(&path));
        let path = std::env::join_paths(dirs).unwrap();
        Shell {
            sandbox,
            name,
            file,
            env: vec![("PATH", path)],
        }
    }

    fn with_env(mut self, key: &'static str, value: impl Into<OsString>) -> Shell<'a> {
        self.env.push((key, value.into()));
        self
    }

    /// `SHELL ARGS` in `dir`; its stdout.
    fn output(&self, args: &[&str], dir: &Path) -> String {
        let mut cmd = Command::new(self.name);
        self.sandbox.env(&mut cmd).args(args).current_dir(dir);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// What the script offers for the words typed, the last being completed, asked in `dir`:
    /// each candidate, sorted, without repeats.
    fn completes(&self, dir: &Path, words: &[&str]) -> Vec<String> {
        let offered = match self.name {
            "bash" => self.bash(dir, words),
            "fish" => self.fish(dir, words),
            _ => self.zsh(dir, &[words]).remove(0),
        };
        let set: BTreeSet<String> = offered.into_iter().map(|(word, _)| word).collect();
        set.into_iter().collect()
    }

    fn bash(&self, dir: &Path, words: &[&str]) -> Vec<(String, String)> {
        let program = format!(
            "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_porch\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            path_str(&self.file),
            quoted(words).join(" "),
            words.len() - 1
        );
        let stdout = self.output(&["-c", &program], dir);
        let lines = stdout.lines().filter(|l| !l.is_empty());
        lines.map(|l| (l.to_string(), String::new())).collect()
    }

    /// fish's own `complete -C`: a candidate a line, its description after a tab.
    fn fish(&self, dir: &Path, words: &[&str]) -> Vec<(String, String)> {
        let line: Vec<String> = words.iter().map(|w| fish_escape(w)).collect();
        let program = format!(
            "source '{}'; complete -C '{}'",
            path_str(&self.file),
            line.join(" ").replace('\\', "\\\\").replace('\'', "\\'")
        );
        let stdout = self.output(&["--no-config", "-c", &program], dir);
        stdout.lines().map(split_description).collect()
    }

    /// Completes each line in one interactive zsh on a pseudo-terminal (`ZSH_DRIVER`): what
    /// each line offers, with the description zsh shows.
    fn zsh(&self, dir: &Path, lines: &[&[&str]]) -> Vec<Vec<(String, String)>> {
        let driver = self.sandbox.path().join("zsh-driver.zsh");
        std::fs::write(&driver, ZSH_DRIVER).unwrap();
        let capture = self.sandbox.path().join("zsh-capture");
        let _ = std::fs::remove_file(&capture);
        let typed: Vec<String> = lines.iter().map(|words| typed(words)).collect();
        let fpath = self.file.parent().unwrap();
        let mut args = vec![
            "-f".to_string(),
            path_str(&driver).to_string(),
            path_str(fpath).to_string(),
            path_str(&capture).to_string(),
        ];
        args.extend(typed.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut timeout = vec!["120", "zsh"];
        timeout.extend(args);
        let mut cmd = Command::new("timeout");
        self.sandbox.env(&mut cmd).args(&timeout).current_dir(dir);
        for (key, value) in &self.env {
            cmd.env(key, value);
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "zsh driver: {status}");
        let text = std::fs::read_to_string(&capture).unwrap_or_default();
        let mut answers: Vec<Vec<(String, String)>> = Vec::new();
        for line in text.lines() {
            if line.starts_with(">>> ") {
                answers.push(Vec::new());
            } else if let Some(last) = answers.last_mut() {
                let (word, shown) = split_description(line);
                let description = shown.split_once(" -- ").map_or("", |(_, d)| d);
                last.push((word.replace("\\ ", " "), description.to_string()));
            }
        }
        assert_eq!(
            answers.len(),
            lines.len(),
            "zsh completed every line:\n{text}"
        );
        answers
    }
}

fn split_description(line: &str) -> (String, String) {
    match line.split_once('\t') {
        Some((word, description)) => (word.to_string(), description.to_string()),
        None => (line.to_string(), String::new()),
    }
}

/// Words single-quoted for bash and zsh.
fn quoted(words: &[&str]) -> Vec<String> {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect()
}

/// Words as typed on a command line: quoted only where needed, so the command word is `porch`
/// and an empty last word is the space before it.
fn typed(words: &[&str]) -> String {
    let plain = |w: &&str| {
        w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=~".contains(c))
    };
    let typed: Vec<String> = words
        .iter()
        .map(|w| match plain(w) {
            true => w.to_string(),
            false => quoted(&[w]).remove(0),
        })
        .collect();
    typed.join(" ")
}

fn fish_escape(word: &str) -> String {
    word.replace(' ', "\\ ")
}

/// `zsh -f DRIVER FPATH_DIR CAPTURE LINE...`: types each LINE and a Tab into an interactive zsh
/// on a pseudo-terminal, with `compadd` wrapped so that each match zsh would offer is written
/// to CAPTURE (its display string after a tab) after a line `>>> LINE`, instead of being
/// inserted. As nothing is added, `_files` would fall back to every file: the `file-patterns`
/// style turns that fallback off. Each key is typed only once the line editor waits for it
/// (it says so on the terminal, and so does Tab when its completion is over): keys typed ahead
/// can cut a completion short. Each step waits for the shell, never for a time.
const ZSH_DRIVER: &str = r#"zmodload zsh/zpty
fpath_dir=$1 capture=$2
shift 2
zpty porch_zsh zsh -f -i
zpty -w porch_zsh "stty columns 2000; PS1=''; PROMPT_EOL_MARK=''; unsetopt zle_bracketed_paste; setopt nobeep"
zpty -w porch_zsh "fpath=(${(q)fpath_dir} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w porch_zsh "capture=${(q)capture}; zmodload zsh/zutil; zstyle ':completion:*' file-patterns '%p:globbed-files'"
zpty -w porch_zsh 'compadd() {
    local -A dscrs oad
    zparseopts -E d:=dscrs O:=oad A:=oad D:=oad
    if (( $#oad )); then builtin compadd "$@"; return; fi
    local -a hits descriptions
    (( $#dscrs )) && descriptions=("${(@P)${(v)dscrs}}")
    builtin compadd -A hits -D descriptions "$@"
    local i tab=$'"'"'\t'"'"'
    for (( i = 1; i <= $#hits; i++ )); do
        print -r -- "${hits[i]}${descriptions[i]:+$tab${descriptions[i]}}" >> $capture
    done
}'
zpty -w porch_zsh 'step=0; zle-line-init() { print -r -- "LINE_""READY_$step" > /dev/tty }; zle -N zle-line-init'
zpty -w porch_zsh '_porch_test_tab() { zle complete-word; print -r -- "TAB_""DONE_$step" > /dev/tty }'
zpty -w porch_zsh 'zle -N _porch_test_tab; bindkey "^I" _porch_test_tab'
n=0
for line in "$@"; do
    (( n++ ))
    zpty -w porch_zsh "step=$n; print -r -- '>>> '${(q)line} >> \$capture"
    while zpty -r porch_zsh out; do [[ $out == *LINE_READY_$n* ]] && break; done
    zpty -wn porch_zsh "$line"$'\t'
    while zpty -r porch_zsh out; do [[ $out == *TAB_DONE_$n* ]] && break; done
    zpty -wn porch_zsh $'\C-u'
done
zpty -d porch_zsh
"#;

/// The shells to test: bash always, zsh and fish when installed.
fn shells(sandbox: &Sandbox) -> Vec<Shell<'_>> {
    ["bash", "zsh", "fish"]
        .into_iter()
        .filter(|name| *name == "bash" || installed(name))
        .map(|name| Shell::new(sandbox, name))
        .collect()
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
            continue;
        }
        if let Err(err) = parses(shell, &file) {
            panic!("{shell} refuses the script: {err}");
        }
    }
}

#[test]
fn the_bash_script_completes_commands_flags_values_files_and_directories() {
    let sandbox = Sandbox::new();
    let bash = Shell::new(&sandbox, "bash");
    let dir = sandbox.path().join("here");
    std::fs::create_dir_all(dir.join("shop")).unwrap();
    std::fs::create_dir_all(dir.join(".git/objects")).unwrap();
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
        (&["porch", "resume", "--s"], &["--stagger"]),
        (&["porch", "logs", "--f"], &["--follow"]),
        (&["porch", "com"], &["completions"]),
        (&["porch", "completions", ""], &["bash", "fish", "zsh"]),
        (&["porch", "help", "merge"], &["merge", "merge-results"]),
        (&["porch", "run", "t"], &["tasks.json"]),
        (&["porch", "run", "-o", "t"], &["tasks.json"]),
        (&["porch", "run", "tasks.json", ""], &["shop"]),
        (&["porch", "run", "-j", "2", "tasks.json", "s"], &["shop"]),
        (&["porch", "run", "--worktree-dir", ""], &["shop"]),
        // A .git directory is no worktree directory, nor a repository to name.
        (&["porch", "run", "--worktree-dir", ".g"], &[]),
        (&["porch", "run", "--worktree-dir", ".git/"], &[]),
        (&["porch", "status", ".g"], &[]),
        (&["porch", "status", ""], &["shop"]),
        (&["porch", "run", "tasks.json", "shop", ""], &[]),
    ];
    for (words, expected) in cases {
        assert_eq!(bash.completes(&dir, words), expected.to_vec(), "{words:?}");
    }
}

/// A file and a directory whose names hold a space are each offered whole, by every shell.
#[test]
fn paths_with_spaces_are_offered_whole() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("here");
    std::fs::create_dir_all(dir.join("my repo")).unwrap();
    std::fs::write(dir.join("my tasks.json"), "{}").unwrap();
    for shell in shells(&sandbox) {
        let both = shell.completes(&dir, &["porch", "run", "my"]);
        assert_eq!(
            both,
            ["my repo/", "my tasks.json"].map(|p| trailing(&shell, p))
        );
        let repo = shell.completes(&dir, &["porch", "run", "my tasks.json", "my"]);
        assert_eq!(repo, [trailing(&shell, "my repo/")], "{}", shell.name);
        let output = shell.completes(&dir, &["porch", "run", "-o", "my"]);
        assert_eq!(output, both, "{}", shell.name);
    }
}

/// How a shell offers a path: fish and zsh mark a directory with `/`, bash does not.
fn trailing(shell: &Shell, path: &str) -> String {
    match shell.name {
        "bash" | "zsh" => path.trim_end_matches('/').to_string(),
        _ => path.to_string(),
    }
}

/// REPO completes to directories, TASKS to files, in fish as in the others.
#[test]
fn fish_offers_directories_for_repo() {
    let sandbox = Sandbox::new();
    if !installed("fish") {
        return;
    }
    let fish = Shell::new(&sandbox, "fish");
    let dir = sandbox.path().join("here");
    std::fs::create_dir_all(dir.join("shop")).unwrap();
    std::fs::write(dir.join("tasks.json"), "{}").unwrap();
    assert_eq!(
        fish.completes(&dir, &["porch", "run", ""]),
        ["shop/", "tasks.json"]
    );
    assert_eq!(
        fish.completes(&dir, &["porch", "run", "tasks.json", ""]),
        ["shop/"]
    );
    assert_eq!(
        fish.completes(&dir, &["porch", "run", "-j", "2", "tasks.json", ""]),
        ["shop/"]
    );
    assert_eq!(fish.completes(&dir, &["porch", "status", ""]), ["shop/"]);
    assert_eq!(fish.completes(&dir, &["porch", "logs", "t", ""]), ["shop/"]);
}

/// zsh shows each flag's description whole: brackets, colons and underscores included.
#[test]
fn zsh_shows_descriptions_as_the_help_writes_them() {
    let sandbox = Sandbox::new();
    if !installed("zsh") {
        return;
    }
    let zsh = Shell::new(&sandbox, "zsh");
    let lines: [&[&str]; 3] = [
        &["porch", "run", "--cla"],
        &["porch", "run", "--colo"],
        &["porch", "status", "--work"],
    ];
    let answers = zsh.zsh(sandbox.path(), &lines);
    let expected = [
        (
            "--claude",
            "the agent executable [default: claude on PATH] [env: PORCH_CLAUDE]",
        ),
        (
            "--color",
            "auto, always or never [default: auto; NO_COLOR turns it off]",
        ),
        (
            "--worktree-dir",
            "the --worktree-dir the run was given [default: ~/worktrees] [env: PORCH_WORKTREE_DIR]",
        ),
    ];
    for (answer, (flag, description)) in answers.iter().zip(expected) {
        let found = answer.iter().find(|(word, _)| word == flag);
        let shown = found.map(|(_, d)| d.as_str());
        assert_eq!(shown, Some(description), "{answer:?}");
    }
}

/// `porch logs`, `porch merge` and `run --only`/`--skip` offer task names: the stored run's
/// (found through PORCH_WORKTREE_DIR, or --worktree-dir), and the tasks file's.
#[test]
fn task_names_are_offered_from_the_stored_run_and_the_tasks_file() {
    let sandbox = Sandbox::new();
    let tasks = sandbox.tasks(&[
        ("api", "@say a"),
        ("app", "@say b"),
        ("docs", "@say c"),
        ("down", "@api-error 500 boom"),
    ]);
    let mut run = sandbox.porch_run(&[path_str(&tasks)]);
    run.without_output()
        .current_dir(sandbox.repo())
        .run()
        .expect_code(1);
    let wt = sandbox.worktree_dir();
    let wt = path_str(&wt);
    let repo = sandbox.repo();
    for shell in shells(&sandbox) {
        let shell = shell.with_env("PORCH_WORKTREE_DIR", wt);
        let name = shell.name;
        let cases: &[(&[&str], &[&str])] = &[
            (&["porch", "logs", ""], &["api", "app", "docs", "down"]),
            (&["porch", "logs", "a"], &["api", "app"]),
            (&["porch", "logs", "--raw", "d"], &["docs", "down"]),
            (&["porch", "merge", "a"], &["api", "app"]),
            // merge and pr take what succeeded: a failed task is not offered.
            (&["porch", "merge", "api", "d"], &["docs"]),
            (&["porch", "pr", "d"], &["docs"]),
            (
                &["porch", "logs", "--worktree-dir", wt, "ap"],
                &["api", "app"],
            ),
        ];
        for (words, expected) in cases {
            assert_eq!(
                shell.completes(&repo, words),
                *expected,
                "{name}: {words:?}"
            );
        }
        let cases: &[(&[&str], &[&str])] = &[
            (
                &["porch", "run", "tasks.json", "--only", "a"],
                &["api", "app"],
            ),
            (
                &["porch", "run", "tasks.json", "--skip", "api,"],
                &["api,app", "api,docs", "api,down"],
            ),
            (
                &["porch", "run", "--tasks", "tasks.json", "--only", "d"],
                &["docs", "down"],
            ),
        ];
        for (words, expected) in cases {
            let offered = shell.completes(sandbox.path(), words);
            assert_eq!(offered, *expected, "{name}: {words:?}");
        }
    }
    // With no run to read, nothing is offered, and nothing is said.
    let elsewhere = sandbox
        .porch(&["__complete", "tasks", "", "porch", "logs"])
        .run();
    elsewhere.expect_code(0);
    assert_eq!(
        (elsewhere.stdout(), elsewhere.stderr()),
        (String::new(), String::new())
    );
}

/// Whether porch takes `flag` after `command`: `porch COMMAND FLAG=x --help` (a flag with a
/// value) or `porch COMMAND FLAG --help` (a switch) shows the help.
pub fn porch_takes(sandbox: &Sandbox, command: &str, flag: &str) -> bool {
    let with_value = match flag.starts_with("--") {
        true => format!("{flag}=x"),
        false => format!("{flag}x"),
    };
    [with_value.as_str(), flag].iter().any(|typed| {
        let run = sandbox.porch(&[command, typed, "--help"]).run();
        run.code() == Some(0) && run.stdout().contains("Usage:")
    })
}

/// For every command, every shell offers the same flags, and they are exactly the flags the
/// parser takes: each offered flag is taken, and each flag porch has for another command and
/// not for this one is refused.
#[test]
fn every_shell_offers_each_command_exactly_the_flags_porch_takes() {
    let sandbox = Sandbox::new();
    let shells = shells(&sandbox);
    let dir = sandbox.path().join("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let commands: Vec<String> = shells[0]
        .completes(&dir, &["porch", ""])
        .into_iter()
        .filter(|w| !w.starts_with('-'))
        .collect();
    assert!(commands.contains(&"resume".to_string()), "{commands:?}");
    let mut offered: Vec<(String, BTreeSet<String>)> = Vec::new();
    for command in &commands {
        let words = ["porch", command.as_str(), "-"];
        let flags = |shell: &Shell| -> BTreeSet<String> {
            shell.completes(&dir, &words).into_iter().collect()
        };
        let in_bash = flags(&shells[0]);
        for shell in &shells[1..] {
            assert_eq!(
                flags(shell),
                in_bash,
                "{} and bash: porch {command}",
                shell.name
            );
        }
        offered.push((command.clone(), in_bash));
    }
    let every_flag: BTreeSet<&String> = offered.iter().flat_map(|(_, f)| f).collect();
    assert!(every_flag.contains(&"--worktree-dir".to_string()));
    for (command, flags) in &offered {
        for flag in &every_flag {
            let taken = porch_takes(&sandbox, command, flag);
            assert_eq!(taken, flags.contains(*flag), "porch {command} {flag}");
        }
    }
}

/// No shell offers a .git directory, or one inside it, where porch takes a directory (a
/// worktree directory, REPO): none is one. Another hidden directory is offered.
#[test]
fn no_shell_offers_a_git_directory() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path().join("here");
    std::fs::create_dir_all(dir.join("shop")).unwrap();
    std::fs::create_dir_all(dir.join(".git/objects")).unwrap();
    std::fs::create_dir_all(dir.join(".github")).unwrap();
    for shell in shells(&sandbox) {
        let hidden: [&[&str]; 3] = [
            &["porch", "run", "--worktree-dir", ".g"],
            &["porch", "status", ".g"],
            &["porch", "merge", ".g"],
        ];
        for words in hidden {
            let offered = shell.completes(&dir, words);
            assert_eq!(
                offered,
                [trailing(&shell, ".github/")],
                "{} {words:?}",
                shell.name
            );
        }
        let inside = shell.completes(&dir, &["porch", "run", "--worktree-dir", ".git/"]);
        assert_eq!(inside, Vec::<String>::new(), "{}", shell.name);
    }
}
