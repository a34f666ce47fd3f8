//! The tasks file: its schema, and every check that can be made without looking at the
//! repository. Checks that need git (does the base branch exist?) live in `preflight`.
//!
//! A top-level `defaults` object gives any task field to every task that does not set it: each
//! task is read from the defaults with its own fields laid over them. Adding a field takes a
//! name in `TASK_FIELDS`, a member of `Task`, and a line in `parse_task`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::engine::dependencies::Dependencies;
use crate::error::Error;
use crate::preflight::branch_template::Template;
use crate::sys::bounded_read;
use crate::sys::bounded_read::Refusal;
use crate::task::plan::Hooks;
use crate::task::plan::Review;
pub use crate::task::plan::Task;
use crate::util::strict_json;
use crate::util::strict_json::Problem;
use crate::util::strict_json::Step;

/// Fields a task may have, all of them also allowed in `defaults` but `TASK_ONLY_FIELDS`.
pub const TASK_FIELDS: [&str; 21] = [
    "name",
    "prompt",
    "description",
    "allowed_tools",
    "base_branch",
    "timeout",
    "prompt_file",
    "model",
    "max_turns",
    "max_budget_usd",
    "append_system_prompt",
    "permission_mode",
    "disallowed_tools",
    "args",
    "env",
    "copy",
    "setup",
    "check",
    "repeat",
    "depends_on",
    "review",
];
/// Fields that say which task this is, or which others it follows: meaningless as a default
/// for every task.
pub const TASK_ONLY_FIELDS: [&str; 2] = ["name", "depends_on"];
const FILE_FIELDS: [&str; 6] = [
    "tasks",
    "defaults",
    "branch_template",
    "on_finish",
    "on_task_finish",
    "merge_check",
];
/// One setting written two ways: a task that gives either replaces whichever the defaults give.
const PROMPT_FIELDS: [&str; 2] = ["prompt", "prompt_file"];
pub const MAX_NAME_LEN: usize = 64;
/// The most rivals one task may have (`repeat`).
pub const MAX_REPEAT: u32 = 20;
/// The fields of a `review` object.
const REVIEW_FIELDS: [&str; 3] = ["prompt", "model", "required"];
const REVIEW_HINT: &str = "write true, or e.g. {\"prompt\": \"Check the error handling\", \"model\": \"opus\", \"required\": false}";
const NAME_HINT: &str = "a task name becomes a directory and the branch task/NAME: use letters, digits, '-', '_' and '.', e.g. \"fix-login\"";
const TOOLS_HINT: &str = "write e.g. [\"Read\", \"Edit\", \"Bash(cargo test:*)\"]";
/// `porch help tasks`: the whole format, every field.
pub const HELP: &str = r#"porch tasks files: JSON, one object per task

  {
    "branch_template": "task/{name}",
    "defaults": {"model": "sonnet", "timeout": "20m", "copy": [".env"], "setup": ["npm", "ci"]},
    "tasks": [
      {"name": "add-auth", "prompt": "Add login to the API, with tests."},
      {"name": "docs", "prompt_file": "prompts/docs.md", "max_turns": 10}
    ]
  }

A bare list [{...}, ...] is a file of tasks without defaults. Unknown fields are errors, and
so is a key given twice in one object (JSON readers disagree on which value counts).

Top level:
  tasks            the tasks, run in this order (required)
  defaults         any task field but name: every task that does not set it gets it (a task's
                   own value, even null, replaces the default whole; prompt and prompt_file
                   count as one field)
  branch_template  each task's branch; --branch-template overrides it [default: task/{name}]
  on_finish        a command list run once the run has ended, also after Ctrl-C, with
                   PORCH_RESULTS, PORCH_EXIT_CODE, PORCH_RUN_ID, PORCH_SUMMARY (--on-finish
                   overrides it)
  on_task_finish   a command list run as each task ends, with PORCH_TASK, PORCH_TASK_STATUS,
                   PORCH_BRANCH, PORCH_RESULTS (--on-task-finish overrides it)
  merge_check      a command list `porch merge` runs in its merge worktree after each merge:
                   a branch whose merge makes it fail is backed out (--check overrides it)
                   {name} the task's name (required), {run} the run's id (its results file's
                   name, e.g. 20261201T201500.042Z-4242), {date} UTC YYYYMMDD, {time} UTC HHMMSS.
                   Worktrees, logs and saved attempts follow the branch (without a leading
                   task/), so with {run} two runs never collide.

Task fields:
  name                  required: the worktree's directory and, in the branch, {name}. Letters,
                        digits, '-', '_', '.'; at most 64; not starting with '-' or '.'
  prompt                what the session should do, sent on stdin
  prompt_file           or: a regular file holding the prompt, at most 1 MiB, relative to the
                        tasks file's directory (to the current directory when the tasks come
                        on stdin); not a FIFO or a device
  description           a line for people: the commit title and the results
  base_branch           the branch to start from, or any revision git makes a commit of (a
                        tag, a commit id, main~2); a branch of that name comes first
                        [default: the branch checked out in REPO]
  timeout               a duration (90s, 10m, 1h30m) for setup and session together;
                        overrides --timeout
  allowed_tools         claude's --allowedTools, e.g. ["Read", "Edit", "Bash(cargo test:*)"]
  disallowed_tools      claude's --disallowedTools, e.g. ["Bash(git push:*)"]
  model                 claude's --model, e.g. "sonnet", "opus"
  max_turns             claude's --max-turns: a whole number, at least 1
  max_budget_usd        claude's --max-budget-usd: a number above 0
  append_system_prompt  claude's --append-system-prompt (it shows in `ps`: no secrets)
  permission_mode       claude's --permission-mode, overriding porch's --permission-mode
  args                  more claude arguments, after porch's own, e.g. ["--add-dir", "../lib"];
                        none that porch sets, in any spelling: -p, --output-format,
                        --input-format, --verbose, --resume, --continue, and the options of
                        the fields above (--allowed-tools, --model=opus, ...)
  env                   more environment variables for setup and session, as strings:
                        {"API_KEY": "..."}. Never written to results, logs or the terminal.
  copy                  paths relative to the repository's root that git does not track in
                        the task's base (ignored ones, like .env or node_modules), copied from
                        REPO into the worktree before setup: copy-on-write where the file
                        system can, modes and symlinks kept. A tracked file, a directory
                        holding tracked files, or a path over or through a tracked link is
                        refused: porch would commit REPO's version as the session's work
  setup                 a command as a list, run in the worktree before the session, without a
                        shell unless you name one: ["npm", "ci"], ["sh", "-c", "make deps"].
                        If it fails, the task fails and its session never starts.
  check                 a command as a list, run in the worktree after a successful session,
                        once porch committed the work: ["cargo", "test"]. If it fails, the
                        task fails (the work stays committed); results show its exit code.
  repeat                rival attempts, 1 to 20: with 3, the tasks NAME-1, NAME-2 and NAME-3
                        run, each with its own branch and worktree, the same prompt and
                        PORCH_GROUP=NAME. Of those that succeed (check passed), the one that
                        changed the fewest lines wins, then the fastest. --only and --skip
                        take NAME for all of them. 1: the task runs once, as NAME.
  depends_on            names of tasks of this file, e.g. ["add-auth"]: the task starts once
                        all of them succeeded, from their branch (several: a merge of their
                        branches); if one does not succeed, it is skipped. Not with
                        base_branch; a default base_branch is for the other tasks. On a
                        repeated task: it waits for every attempt and starts from the
                        winner's branch; skipped when no attempt succeeded.
  review                true, or {"prompt": "...", "model": "opus", "required": true}: after
                        the session succeeded and the check passed, a read-only claude
                        session in the worktree reads the task, the branch's diff and the
                        check, and answers approve or request_changes with comments (shown as
                        [review] lines, in the results' `review`). `prompt` is added to what
                        it is told; `model` [default: the task's]. With `required` (the
                        default) request_changes fails the task (the work stays committed,
                        porch resume hands the reviewer's words to the session); false: the
                        verdict is only recorded. porch merge and pr take approved work only.

setup, the session and check get: PORCH_TASK (the name), PORCH_TASK_INDEX (0-based, in file order),
PORCH_WORKTREE, PORCH_BRANCH, PORCH_BASE (the base commit), PORCH_RUN_ID, and PORCH_PORT: the
first of 10 ports of the task's own (--port-base, default 40000, + 10 x index), PORCH_GROUP (a
repeated task's name; empty for other tasks), plus env."#;

/// What a tasks file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskFile {
    pub tasks: Vec<Task>,
    /// The file's `branch_template`; `--branch-template` overrides it.
    pub branch_template: Option<Template>,
    /// The file's `on_finish` and `on_task_finish`; `--on-finish` and `--on-task-finish`
    /// override them.
    pub hooks: Hooks,
    /// The file's `merge_check`: what `porch merge` runs after each merge; `--check`
    /// overrides it.
    pub merge_check: Option<Vec<String>>,
}

/// Where a tasks file came from, for messages and for finding its `prompt_file`s.
pub struct Source<'a> {
    /// Its path, or "<stdin>".
    pub name: &'a str,
    /// Where a relative `prompt_file` is found: the tasks file's directory (the current
    /// directory for stdin).
    pub dir: &'a Path,
}

impl Source<'_> {
    fn error(&self, message: impl Into<String>, hint: impl Into<String>) -> Error {
        Error::Tasks {
            file: self.name.to_string(),
            task: None,
            field: None,
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    fn task_error(
        &self,
        index: usize,
        name: Option<&str>,
        field: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        Entry::Task { index, name }.error(self, field, message, hint)
    }
}

/// Where the `prompt_file`s of the tasks file `arg` (a path, or `-` for stdin) are found.
pub fn prompt_dir(arg: &str) -> PathBuf {
    match Path::new(arg).parent() {
        Some(dir) if arg != "-" && !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

pub fn task_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("tasks[{index}] ({name:?})"),
        None => format!("tasks[{index}]"),
    }
}

/// What a set of fields belongs to: `defaults`, or one task.
#[derive(Clone, Copy)]
enum Entry<'a> {
    Defaults,
    Task { index: usize, name: Option<&'a str> },
}

impl Entry<'_> {
    fn label(self) -> String {
        match self {
            Entry::Defaults => "defaults".to_string(),
            Entry::Task { index, name } => task_label(index, name),
        }
    }

    fn error(
        self,
        source: &Source,
        field: &str,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Error {
        Error::Tasks {
            file: source.name.to_string(),
            task: Some(self.label()),
            field: Some(field.to_string()),
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

pub fn parse(source: &Source, bytes: &[u8]) -> Result<TaskFile, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(source.error(
            "the tasks file is empty",
            "write {\"tasks\": [{\"name\": ..., \"prompt\": ...}]}; `porch init` writes a sample",
        ));
    }
    let document = strict_json::parse(bytes).map_err(|problem| match problem {
        Problem::Syntax(err) => source.error(
            format!("not valid JSON: {err}"),
            "fix the JSON at that line and column; `porch init` writes a valid sample",
        ),
        Problem::RepeatedKey {
            path,
            key,
            line,
            column,
        } => repeated_key_error(source, bytes, &path, &key, (line, column)),
    })?;
    let TopLevel {
        list,
        defaults,
        branch_template,
        hooks,
        merge_check,
    } = match document {
        Value::Object(object) => top_level(source, object)?,
        Value::Array(list) => TopLevel {
            list,
            defaults: Map::new(),
            branch_template: None,
            hooks: Hooks::default(),
            merge_check: None,
        },
        other => {
            return Err(source.error(
                format!(
                    "expected a JSON object with a `tasks` list, got {}",
                    describe(&other)
                ),
                "write {\"tasks\": [{\"name\": ..., \"prompt\": ...}]}",
            ));
        }
    };
    if list.is_empty() {
        return Err(source.error("the `tasks` list is empty", "add at least one task"));
    }
    check_defaults(source, &defaults)?;

    let mut tasks: Vec<Task> = Vec::with_capacity(list.len());
    for (index, value) in list.iter().enumerate() {
        let task = parse_task(source, index, &with_defaults(&defaults, value))?;
        if let Some(first) = tasks.iter().position(|t| t.name == task.name) {
            return Err(source.task_error(
                index,
                Some(&task.name),
                "name",
                format!(
                    "duplicate name {:?}, already used by {}",
                    task.name,
                    task_label(first, Some(&task.name))
                ),
                "every task needs its own name: it names the worktree and the branch",
            ));
        }
        tasks.push(task);
    }
    check_rival_names(source, &tasks)?;
    check_dependencies(source, &tasks)?;
    Ok(TaskFile {
        tasks,
        branch_template,
        hooks,
        merge_check,
    })
}

/// A key given twice in one object, named where it is: a task and its field, `defaults` and
/// its field, or the top level. JSON readers disagree on which value counts, so porch takes
/// neither.
fn repeated_key_error(
    source: &Source,
    bytes: &[u8],
    path: &[Step],
    key: &str,
    (line, column): (usize, usize),
) -> Error {
    let (task, rest) = match path {
        [Step::Key(tasks), Step::Index(index), rest @ ..] if tasks == "tasks" => {
            (Some(*index), rest)
        }
        [Step::Index(index), rest @ ..] => (Some(*index), rest),
        _ => (None, path),
    };
    let (entry, rest) = match (task, rest) {
        (Some(index), rest) => {
            // Not when the name itself is the key given twice.
            let name = (!(rest.is_empty() && key == "name"))
                .then(|| written_name(bytes, index))
                .flatten();
            (Some(task_label(index, name.as_deref())), rest)
        }
        (None, [Step::Key(defaults), rest @ ..]) if defaults == "defaults" => {
            (Some("defaults".to_string()), rest)
        }
        (None, rest) => (None, rest),
    };
    let (field, within) = match rest.first() {
        None => (key.to_string(), String::new()),
        Some(first) => (
            strict_json::path_text(std::slice::from_ref(first)),
            format!(" in {}", strict_json::path_text(rest)),
        ),
    };
    Error::Tasks {
        file: source.name.to_string(),
        task: entry,
        field: Some(field),
        message: format!(
            "the key {} is given twice{within} (line {line}, column {column}): JSON readers disagree on which value counts",
            quote_value(key)
        ),
        hint: Some("keep one of the two, and delete the other".to_string()),
    }
}

/// The name task `index` has in a lenient reading of the file (the last value of a key wins),
/// for an error found before the tasks are read.
fn written_name(bytes: &[u8], index: usize) -> Option<String> {
    let document: Value = serde_json::from_slice(bytes).ok()?;
    let tasks = document.get("tasks").unwrap_or(&document);
    let name = tasks.get(index)?.get("name")?.as_str()?.to_string();
    check_name(&name).is_ok().then_some(name)
}

/// The name of rival `k` (from 1) of a repeated task.
pub fn rival_name(name: &str, k: u32) -> String {
    format!("{name}-{k}")
}

/// The names a task runs under: its rivals' with `repeat` of 2 or more, else its own.
pub fn run_names(task: &Task) -> Vec<String> {
    match task.repeat {
        Some(n) if n >= 2 => (1..=n).map(|k| rival_name(&task.name, k)).collect(),
        _ => vec![task.name.clone()],
    }
}

/// Every rival of a repeated task is a task of its own (a branch, a worktree, a log): its
/// name must be a valid name, and no task's name as written, which `--only`, `--skip` and
/// `porch resume` would then mistake for it. (Two rivals of different tasks cannot share a
/// name: `NAME-k` ends in its number.)
fn check_rival_names(source: &Source, tasks: &[Task]) -> Result<(), Error> {
    let written: std::collections::HashMap<&str, usize> = (tasks.iter().enumerate())
        .map(|(index, task)| (task.name.as_str(), index))
        .collect();
    for (index, task) in tasks.iter().enumerate() {
        let Some(repeat) = task.repeat.filter(|&n| n >= 2) else {
            continue;
        };
        let error = |message: String, hint: &str| {
            source.task_error(index, Some(&task.name), "repeat", message, hint)
        };
        let names = run_names(task);
        // The last is the longest, and otherwise made of the same characters.
        if let Some(longest) = names.last()
            && let Err(reason) = check_name(longest)
        {
            return Err(error(
                format!("{repeat} makes the attempt name {longest:?}, which {reason}"),
                "shorten the task's name: its attempts are named NAME-1, NAME-2, …",
            ));
        }
        for name in names {
            if let Some(&other) = written.get(name.as_str()) {
                return Err(error(
                    format!(
                        "{repeat} runs the attempt {name:?}, which is also the name of {}",
                        task_label(other, Some(&name))
                    ),
                    "every task and attempt needs its own name: rename one of the two tasks",
                ));
            }
        }
    }
    Ok(())
}

/// Every `depends_on` names another task of the file, once, and no dependencies form a cycle.
/// A repeated task is named as written: its dependants wait for its winner.
fn check_dependencies(source: &Source, tasks: &[Task]) -> Result<(), Error> {
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let lists: Vec<Vec<String>> = tasks.iter().map(|t| t.depends_on.clone()).collect();
    if let Err(problem) = Dependencies::resolve(&names, &lists) {
        let index = problem.task();
        let (message, hint) = problem.explain(&names);
        return Err(source.task_error(index, Some(names[index]), "depends_on", message, hint));
    }
    Ok(())
}

/// What a tasks file's top level holds, before the tasks are read.
struct TopLevel {
    list: Vec<Value>,
    defaults: Map<String, Value>,
    branch_template: Option<Template>,
    hooks: Hooks,
    merge_check: Option<Vec<String>>,
}

/// The `tasks` list, the `defaults` and the `branch_template` of a tasks file's object.
fn top_level(source: &Source, object: Map<String, Value>) -> Result<TopLevel, Error> {
    if let Some(unknown) = object.keys().find(|k| !FILE_FIELDS.contains(&k.as_str())) {
        return Err(source.error(
            format!("unknown top-level field `{unknown}`"),
            format!("the top level holds only: {}", FILE_FIELDS.join(", ")),
        ));
    }
    let top_error = |field: &str, message: String, hint: &str| Error::Tasks {
        file: source.name.to_string(),
        task: None,
        field: Some(field.to_string()),
        message,
        hint: Some(hint.to_string()),
    };
    let list = match object.get("tasks") {
        Some(Value::Array(list)) => list.clone(),
        Some(other) => {
            return Err(source.error(
                format!("`tasks` must be a list, got {}", describe(other)),
                "write \"tasks\": [{\"name\": ..., \"prompt\": ...}, ...]",
            ));
        }
        None => {
            return Err(source.error(
                "no `tasks` field",
                "write {\"tasks\": [{\"name\": ..., \"prompt\": ...}]}",
            ));
        }
    };
    let defaults = match object.get("defaults") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(defaults)) => defaults.clone(),
        Some(other) => {
            return Err(top_error(
                "defaults",
                format!("must be an object, got {}", describe(other)),
                "write \"defaults\": {\"model\": \"sonnet\", \"timeout\": \"20m\"}: task fields every task gets unless it sets them",
            ));
        }
    };
    let template_hint = "write e.g. \"nightly/{date}/{name}\"; the placeholders are {name} (required), {run}, {date} and {time}";
    let branch_template = match object.get("branch_template") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(Template::parse(text).map_err(|reason| {
            top_error(
                "branch_template",
                format!("{} {reason}", quote_value(text)),
                template_hint,
            )
        })?),
        Some(other) => {
            return Err(top_error(
                "branch_template",
                format!("must be a string, got {}", describe(other)),
                template_hint,
            ));
        }
    };
    let hooks = Hooks {
        on_finish: hook(source, &object, "on_finish")?,
        on_task_finish: hook(source, &object, "on_task_finish")?,
    };
    Ok(TopLevel {
        list,
        defaults,
        branch_template,
        hooks,
        merge_check: hook(source, &object, "merge_check")?,
    })
}

/// A command at the top level (a hook, `merge_check`): a command as a list, the program then its arguments, or null.
fn hook(
    source: &Source,
    object: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, Error> {
    let hint = match field {
        "merge_check" => {
            "write the command as a list, e.g. [\"cargo\", \"test\"]; for a shell, [\"sh\", \"-c\", \"...\"]"
        }
        _ => {
            "write the command as a list, e.g. [\"notify-send\", \"porch is done\"]; for a shell, [\"sh\", \"-c\", \"...\"]"
        }
    };
    let refuse = |message: String| Error::Tasks {
        file: source.name.to_string(),
        task: None,
        field: Some(field.to_string()),
        message,
        hint: Some(hint.to_string()),
    };
    let list = match object.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(refuse(format!("must be a list, got {}", describe(other)))),
    };
    let mut argv = Vec::with_capacity(list.len());
    for item in list {
        match item {
            Value::String(arg) if !arg.contains('\0') => argv.push(arg.clone()),
            other => {
                return Err(refuse(format!(
                    "holds {}, not a string without NUL",
                    describe(other)
                )));
            }
        }
    }
    match argv.first() {
        None => Err(refuse("is an empty list".to_string())),
        Some(program) if program.is_empty() => Err(refuse(
            "names no program: its first entry is empty".to_string(),
        )),
        Some(_) => Ok(Some(argv)),
    }
}

/// `defaults` may hold any task field but `TASK_ONLY_FIELDS`, each as valid as in a task.
fn check_defaults(source: &Source, defaults: &Map<String, Value>) -> Result<(), Error> {
    let allowed = || {
        TASK_FIELDS
            .iter()
            .filter(|f| !TASK_ONLY_FIELDS.contains(f))
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    };
    for key in defaults.keys() {
        if TASK_ONLY_FIELDS.contains(&key.as_str()) {
            return Err(Entry::Defaults.error(
                source,
                key,
                "cannot be a default: it belongs to one task",
                format!("set it in each task; defaults may hold: {}", allowed()),
            ));
        }
        if !TASK_FIELDS.contains(&key.as_str()) {
            return Err(Entry::Defaults.error(
                source,
                key,
                "unknown field",
                format!("defaults may hold: {}", allowed()),
            ));
        }
    }
    read_fields(&Fields {
        source,
        entry: Entry::Defaults,
        map: defaults,
    })
    .map(|_| ())
}

/// A task's fields laid over the defaults. A task's `prompt` or `prompt_file` replaces both of
/// the defaults'. Anything but an object is left for `parse_task` to refuse.
fn with_defaults(defaults: &Map<String, Value>, task: &Value) -> Value {
    let Value::Object(own) = task else {
        return task.clone();
    };
    let mut merged = defaults.clone();
    // A task that depends on others starts from their branches: a default base is not its.
    if own.get("depends_on").is_some_and(|v| !v.is_null()) {
        merged.remove("base_branch");
    }
    if PROMPT_FIELDS.iter().any(|f| own.contains_key(*f)) {
        for field in PROMPT_FIELDS {
            merged.remove(field);
        }
    }
    merged.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    Value::Object(merged)
}

fn parse_task(source: &Source, index: usize, value: &Value) -> Result<Task, Error> {
    let Value::Object(fields) = value else {
        return Err(Error::Tasks {
            file: source.name.to_string(),
            task: Some(task_label(index, None)),
            field: None,
            message: format!("a task must be a JSON object, got {}", describe(value)),
            hint: Some("write {\"name\": ..., \"prompt\": ...}".to_string()),
        });
    };
    let raw_name = fields.get("name").and_then(Value::as_str);
    let label_name =
        raw_name.filter(|n| n.len() <= MAX_NAME_LEN && !n.chars().any(char::is_control));

    if let Some(unknown) = fields.keys().find(|k| !TASK_FIELDS.contains(&k.as_str())) {
        return Err(source.task_error(
            index,
            label_name,
            unknown,
            "unknown field",
            format!("a task's fields are: {}", TASK_FIELDS.join(", ")),
        ));
    }

    let name = match fields.get("name") {
        None | Some(Value::Null) => {
            return Err(source.task_error(index, None, "name", "missing", NAME_HINT));
        }
        Some(Value::String(name)) => name.clone(),
        Some(other) => {
            return Err(source.task_error(
                index,
                None,
                "name",
                format!("must be a string, got {}", describe(other)),
                NAME_HINT,
            ));
        }
    };
    if let Err(reason) = check_name(&name) {
        return Err(source.task_error(
            index,
            None,
            "name",
            format!("{} {reason}", quote_value(&name)),
            NAME_HINT,
        ));
    }
    let fields = Fields {
        source,
        entry: Entry::Task {
            index,
            name: Some(&name),
        },
        map: fields,
    };
    let task = read_fields(&fields)?;
    if task.prompt.is_empty() {
        return Err(fields.error(
            "prompt",
            "missing or empty".to_string(),
            "give the task a prompt (what the claude session should do), or a prompt_file",
        ));
    }
    Ok(Task { name, ..task })
}

/// Every field but `name`, as a task or the defaults give them. The flat list of the schema:
/// one line per field.
fn read_fields(f: &Fields) -> Result<Task, Error> {
    let prompt = f.prompt()?.unwrap_or_default();
    let description = f.string("description", "write a short text, or leave the field out")?;
    let allowed_tools = f.tools("allowed_tools")?;
    let base_branch = f.base_branch()?;
    let timeout = f.timeout()?;
    let model = f.model()?;
    let max_turns = f.max_turns()?;
    let max_budget_usd = f.max_budget()?;
    let append_system_prompt = f.non_empty_string(
        "append_system_prompt",
        "write the text to add to claude's system prompt",
    )?;
    let permission_mode = f.permission_mode()?;
    let disallowed_tools = f.tools("disallowed_tools")?;
    let args = f.args()?;
    let env = f.env()?;
    let copy = f.copy()?;
    let setup = f.command("setup")?;
    let check = f.command("check")?;
    let repeat = f.repeat()?;
    let depends_on = f.depends_on(base_branch.is_some())?;
    let review = f.review()?;
    Ok(Task {
        name: String::new(),
        prompt,
        description,
        allowed_tools,
        base_branch,
        timeout,
        model,
        max_turns,
        max_budget_usd,
        append_system_prompt,
        permission_mode,
        disallowed_tools,
        args,
        env,
        copy,
        setup,
        check,
        repeat,
        group: None,
        depends_on,
        review,
    })
}

/// The fields of a task or of the defaults, read one at a time with errors naming them.
struct Fields<'a> {
    source: &'a Source<'a>,
    entry: Entry<'a>,
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn error(&self, field: &str, message: String, hint: &str) -> Error {
        self.entry.error(self.source, field, message, hint)
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn string(&self, field: &str, hint: &str) -> Result<Option<String>, Error> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.error(
                field,
                format!("must be a string, got {}", describe(other)),
                hint,
            )),
        }
    }

    fn non_empty_string(&self, field: &str, hint: &str) -> Result<Option<String>, Error> {
        let text = self.string(field, hint)?;
        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(self.error(field, "is empty".to_string(), hint));
        }
        Ok(text)
    }

    /// A list of strings, each checked by `check`; absent is an empty list.
    fn strings(
        &self,
        field: &str,
        hint: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Vec<String>, Error> {
        let items = match self.get(field) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.error(
                    field,
                    format!("must be a list of strings, got {}", describe(other)),
                    hint,
                ));
            }
        };
        let mut list = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(text) = item else {
                return Err(self.error(
                    field,
                    format!("every entry must be a string, got {}", describe(item)),
                    hint,
                ));
            };
            if let Err(reason) = check(text) {
                return Err(self.error(
                    field,
                    format!("entry {} {reason}", quote_value(text)),
                    hint,
                ));
            }
            list.push(text.clone());
        }
        Ok(list)
    }

    /// `prompt`, or the text of `prompt_file`; never both.
    fn prompt(&self) -> Result<Option<String>, Error> {
        let prompt = self.string("prompt", "write the prompt as one JSON string")?;
        let file_hint =
            "name a text file holding the prompt, relative to the tasks file's directory";
        let Some(file) = self.non_empty_string("prompt_file", file_hint)? else {
            if prompt.as_deref().is_some_and(|p| p.trim().is_empty()) {
                return Err(self.error(
                    "prompt",
                    "missing or empty".to_string(),
                    "give the task a prompt: what the claude session should do",
                ));
            }
            return Ok(prompt);
        };
        if prompt.is_some() {
            return Err(self.error(
                "prompt_file",
                "is given as well as `prompt`".to_string(),
                "give either the prompt itself (`prompt`) or the file holding it (`prompt_file`), not both",
            ));
        }
        let path = self.source.dir.join(&file);
        let text = read_prompt_file(&path).map_err(|reason| {
            self.error(
                "prompt_file",
                format!("{} {reason}", quote_value(&file)),
                file_hint,
            )
        })?;
        Ok(Some(text))
    }

    fn tools(&self, field: &str) -> Result<Vec<String>, Error> {
        self.strings(field, TOOLS_HINT, check_tool)
    }

    fn base_branch(&self) -> Result<Option<String>, Error> {
        let hint = "name a branch of the repository (e.g. \"main\") or any revision git knows (a tag, a commit id, \"main~2\"), or leave the field out to use the branch checked out in REPO";
        let base = self.string("base_branch", hint)?;
        if let Some(base) = &base
            && let Err(reason) = check_revision(base)
        {
            return Err(self.error(
                "base_branch",
                format!("{} {reason}", quote_value(base)),
                hint,
            ));
        }
        Ok(base)
    }

    /// Names of tasks of the file; whether they name tasks is checked once every task is read.
    fn depends_on(&self, has_base_branch: bool) -> Result<Vec<String>, Error> {
        let hint = "name tasks of this file, e.g. [\"add-auth\"]";
        let names = self.strings("depends_on", hint, |_| Ok(()))?;
        if !names.is_empty() && has_base_branch {
            return Err(self.error(
                "depends_on",
                "cannot be given together with `base_branch`".to_string(),
                "a task that depends on others starts from their branches: remove base_branch, or depends_on",
            ));
        }
        Ok(names)
    }

    fn timeout(&self) -> Result<Option<Duration>, Error> {
        let hint = "write a duration like \"90s\", \"10m\" or \"1h30m\"";
        match self.get("timeout") {
            None => Ok(None),
            Some(Value::String(text)) => crate::util::duration::parse(text)
                .map(Some)
                .map_err(|reason| self.error("timeout", reason, hint)),
            Some(other) => Err(self.error(
                "timeout",
                format!("must be a duration string, got {}", describe(other)),
                hint,
            )),
        }
    }

    fn model(&self) -> Result<Option<String>, Error> {
        let hint = "name a model as claude's --model takes it, e.g. \"sonnet\" or \"opus\"";
        let model = self.non_empty_string("model", hint)?;
        if let Some(model) = &model
            && let Err(reason) = check_tool(model)
        {
            return Err(self.error("model", format!("{} {reason}", quote_value(model)), hint));
        }
        Ok(model)
    }

    fn max_turns(&self) -> Result<Option<u64>, Error> {
        let hint = "write a whole number of turns, e.g. 30";
        match self.get("max_turns") {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => Ok(n.as_u64()),
            Some(other) => Err(self.error(
                "max_turns",
                format!(
                    "must be a whole number of at least 1, got {}",
                    describe(other)
                ),
                hint,
            )),
        }
    }

    fn max_budget(&self) -> Result<Option<f64>, Error> {
        let hint = "write the most the session may spend, in US dollars, e.g. 2.5";
        match self.get("max_budget_usd") {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x > 0.0 && x.is_finite()) => {
                Ok(n.as_f64())
            }
            Some(other) => Err(self.error(
                "max_budget_usd",
                format!("must be a number above 0, got {}", describe(other)),
                hint,
            )),
        }
    }

    fn permission_mode(&self) -> Result<Option<String>, Error> {
        let modes = crate::agent::PERMISSION_MODES;
        let hint = format!("one of: {}", modes.join(", "));
        let mode = self.string("permission_mode", &hint)?;
        if let Some(mode) = &mode
            && !modes.contains(&mode.as_str())
        {
            return Err(self.error(
                "permission_mode",
                format!("{} is not a permission mode", quote_value(mode)),
                &hint,
            ));
        }
        Ok(mode)
    }

    fn args(&self) -> Result<Vec<String>, Error> {
        let hint = "write claude options as a list, e.g. [\"--add-dir\", \"../shared\"]";
        let args = self.strings("args", hint, |arg| {
            if arg.contains('\0') {
                return Err("contains a NUL character".to_string());
            }
            match crate::agent::owned_option(arg) {
                Some(instead) => Err(format!("is set by porch: {instead}")),
                None => Ok(()),
            }
        })?;
        if let Some(first) = args.first().filter(|a| !a.starts_with('-')) {
            return Err(self.error(
                "args",
                format!(
                    "starts with {}, which is not an option: claude would read it as the prompt",
                    quote_value(first)
                ),
                hint,
            ));
        }
        Ok(args)
    }

    /// Variable names are shown in messages, values never: they may be keys.
    fn env(&self) -> Result<Vec<(String, String)>, Error> {
        let hint = "write e.g. {\"NODE_ENV\": \"test\"}: names and string values";
        let vars = match self.get("env") {
            None => return Ok(Vec::new()),
            Some(Value::Object(vars)) => vars,
            Some(other) => {
                return Err(self.error(
                    "env",
                    format!("must be an object, got {}", describe_kind(other)),
                    hint,
                ));
            }
        };
        let mut env = Vec::with_capacity(vars.len());
        for (name, value) in vars {
            if let Err(reason) = crate::process::task_env::check_var_name(name) {
                return Err(self.error(
                    "env",
                    format!("the name {} {reason}", quote_value(name)),
                    hint,
                ));
            }
            match value {
                Value::String(text) if !text.contains('\0') => {
                    env.push((name.clone(), text.clone()))
                }
                Value::String(_) => {
                    return Err(self.error(
                        "env",
                        format!("the value of {name} contains a NUL character"),
                        hint,
                    ));
                }
                other => {
                    return Err(self.error(
                        "env",
                        format!(
                            "the value of {name} must be a string, got {}",
                            describe_kind(other)
                        ),
                        "write every value as a JSON string, e.g. \"8080\" rather than 8080",
                    ));
                }
            }
        }
        Ok(env)
    }

    fn copy(&self) -> Result<Vec<PathBuf>, Error> {
        let hint = "name files or directories relative to the repository's root, e.g. [\".env\", \"node_modules\"]";
        let entries = self.strings("copy", hint, |entry| {
            crate::task::copy::check_syntax(entry).map(|_| ())
        })?;
        Ok(entries.iter().map(PathBuf::from).collect())
    }

    fn repeat(&self) -> Result<Option<u32>, Error> {
        let hint = "write how many rival attempts to run, e.g. 3; 1 runs the task once";
        match self.get("repeat") {
            None => Ok(None),
            Some(Value::Number(n))
                if n.as_u64()
                    .is_some_and(|n| (1..=u64::from(MAX_REPEAT)).contains(&n)) =>
            {
                Ok(n.as_u64().and_then(|n| u32::try_from(n).ok()))
            }
            Some(other) => Err(self.error(
                "repeat",
                format!(
                    "must be a whole number from 1 to {MAX_REPEAT}, got {}",
                    describe(other)
                ),
                hint,
            )),
        }
    }

    /// `true`, `false` (no review), or an object of `REVIEW_FIELDS`; errors name the field
    /// inside it (`review.model`).
    fn review(&self) -> Result<Option<Review>, Error> {
        let fields = match self.get("review") {
            None | Some(Value::Bool(false)) => return Ok(None),
            Some(Value::Bool(true)) => Map::new(),
            Some(Value::Object(fields)) => fields.clone(),
            Some(other) => {
                return Err(self.error(
                    "review",
                    format!("must be true or an object, got {}", describe(other)),
                    REVIEW_HINT,
                ));
            }
        };
        if let Some(unknown) = fields.keys().find(|k| !REVIEW_FIELDS.contains(&k.as_str())) {
            return Err(self.error(
                &format!("review.{unknown}"),
                "unknown field".to_string(),
                &format!("a review's fields are: {}", REVIEW_FIELDS.join(", ")),
            ));
        }
        let text = |key: &str| match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if !text.trim().is_empty() => Ok(Some(text.clone())),
            Some(other) => Err(self.error(
                &format!("review.{key}"),
                format!("must be a non-empty string, got {}", describe(other)),
                REVIEW_HINT,
            )),
        };
        let (prompt, model) = (text("prompt")?, text("model")?);
        if let Some(model) = &model
            && let Err(reason) = check_tool(model)
        {
            let message = format!("{} {reason}", quote_value(model));
            return Err(self.error("review.model", message, REVIEW_HINT));
        }
        let required = match fields.get("required") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(required)) => *required,
            Some(other) => {
                return Err(self.error(
                    "review.required",
                    format!("must be true or false, got {}", describe(other)),
                    REVIEW_HINT,
                ));
            }
        };
        Ok(Some(Review {
            prompt,
            model,
            required,
        }))
    }

    /// A command as a list: the program, then its arguments. No shell unless the list names one.
    fn command(&self, field: &str) -> Result<Option<Vec<String>>, Error> {
        let hint = "write the command as a list, e.g. [\"npm\", \"ci\"]; for a shell, [\"sh\", \"-c\", \"npm ci && npm run build\"]";
        if self.get(field).is_none() {
            return Ok(None);
        }
        if let Some(Value::String(text)) = self.get(field) {
            return Err(self.error(
                field,
                format!(
                    "must be a list (the program, then its arguments), got the string {}",
                    quote_value(text)
                ),
                hint,
            ));
        }
        let argv = self.strings(field, hint, |arg| {
            if arg.contains('\0') {
                Err("contains a NUL character".to_string())
            } else {
                Ok(())
            }
        })?;
        match argv.first() {
            None => Err(self.error(field, "is an empty list".to_string(), hint)),
            Some(program) if program.is_empty() => Err(self.error(
                field,
                "names no program: its first entry is empty".to_string(),
                hint,
            )),
            Some(_) => Ok(Some(argv)),
        }
    }
}

/// The most a `prompt_file` may hold. A prompt is read into memory for every task that names
/// it, and a file larger than this is no prompt but a mistake (a log, a build output).
pub const PROMPT_FILE_LIMIT: u64 = 1024 * 1024;

/// A prompt file's text; the reason it cannot be used otherwise. Only a regular file: a FIFO
/// would keep porch waiting for a writer, without a word, and a device may never end.
fn read_prompt_file(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let bytes = match bounded_read::read_regular_file(path, PROMPT_FILE_LIMIT) {
        Ok(bytes) => bytes,
        Err(Refusal::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("does not exist ({shown})"));
        }
        Err(Refusal::Io(err)) => return Err(format!("cannot be read ({shown}): {err}")),
        Err(Refusal::NotRegular(kind)) => {
            return Err(format!("is {kind}, not a regular file ({shown})"));
        }
        Err(Refusal::TooLarge) => {
            return Err(format!(
                "holds more than {}, the most a prompt file may ({shown})",
                bounded_read::limit_text(PROMPT_FILE_LIMIT)
            ));
        }
    };
    let text = String::from_utf8(bytes).map_err(|_| format!("is not UTF-8 text ({shown})"))?;
    if text.trim().is_empty() {
        return Err(format!("is empty ({shown})"));
    }
    Ok(text)
}

/// A task name must be one path component and one git ref component, and safe to type in a
/// shell: so a deliberately small alphabet rather than all that git would accept.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_string());
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!(
            "is {} characters long; the limit is {MAX_NAME_LEN}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "contains {}, which a task name cannot hold",
            describe_char(bad)
        ));
    }
    if name.starts_with('-') || name.starts_with('.') {
        return Err("starts with '-' or '.'".to_string());
    }
    if name.contains("..") {
        return Err("contains \"..\"".to_string());
    }
    if name.ends_with('.') || name.ends_with(".lock") {
        return Err("ends with '.' or \".lock\", which git refuses in a branch name".to_string());
    }
    Ok(())
}

/// What git could misread as something else than a revision: whether it names a commit is
/// asked of git later (`rev-parse --verify REV^{commit}`, after `--end-of-options`), and a
/// branch of that name comes first. Anything else git makes a commit of is a base: `main~2`,
/// `v1.0^{commit}`, a commit id.
fn check_revision(revision: &str) -> Result<(), String> {
    if revision.trim().is_empty() {
        return Err("is empty".to_string());
    }
    if revision.starts_with('-') {
        return Err("starts with '-', so git would read it as an option".to_string());
    }
    if let Some(bad) = revision.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains {}, which no revision holds",
            describe_char(bad)
        ));
    }
    Ok(())
}

fn check_tool(tool: &str) -> Result<(), String> {
    if tool.trim().is_empty() {
        return Err("is empty".to_string());
    }
    if tool.starts_with('-') {
        return Err("starts with '-', so claude would read it as an option".to_string());
    }
    if let Some(bad) = tool.chars().find(|c| c.is_control()) {
        return Err(format!("contains {}", describe_char(bad)));
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '/' => "'/'".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c if !c.is_ascii() => format!("the non-ASCII character {c:?}"),
        c => format!("{c:?}"),
    }
}

/// A value as JSON, shortened so a 10 MB string does not fill the terminal.
pub fn quote_value(value: &str) -> String {
    let shown = crate::util::clip::shorten(value, 60);
    serde_json::to_string(&shown).unwrap_or(shown)
}

/// What kind of value this is, without the value: for what may be a secret.
fn describe_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", quote_value(s)),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in(dir: &Path, text: &str) -> Result<TaskFile, String> {
        let source = Source {
            name: "t.json",
            dir,
        };
        parse(&source, text.as_bytes()).map_err(|e| {
            let hint = e.hint().unwrap_or_default().to_string();
            format!("{e} | {hint}")
        })
    }

    fn parse_str(text: &str) -> Result<Vec<Task>, String> {
        parse_in(Path::new("/nonexistent"), text).map(|file| file.tasks)
    }

    /// The one task of `{"tasks": [TASK]}` with `defaults`.
    fn task_with(defaults: &str, task: &str) -> Result<Task, String> {
        let text = format!(r#"{{"defaults": {defaults}, "tasks": [{task}]}}"#);
        parse_str(&text).map(|mut tasks| tasks.remove(0))
    }

    #[test]
    fn a_review_is_true_an_object_or_a_default() {
        let review = |prompt: Option<&str>, model: Option<&str>, required| {
            Some(Review {
                prompt: prompt.map(String::from),
                model: model.map(String::from),
                required,
            })
        };
        // (the defaults, the task, its review)
        let cases = [
            (
                "{}",
                r#"{"name":"a","prompt":"p","review":true}"#,
                review(None, None, true),
            ),
            ("{}", r#"{"name":"a","prompt":"p","review":false}"#, None),
            ("{}", r#"{"name":"a","prompt":"p"}"#, None),
            (
                "{}",
                r#"{"name":"a","prompt":"p","review":{"prompt":"look","model":"opus","required":false}}"#,
                review(Some("look"), Some("opus"), false),
            ),
            (
                r#"{"review":true}"#,
                r#"{"name":"a","prompt":"p"}"#,
                review(None, None, true),
            ),
            (
                r#"{"review":true}"#,
                r#"{"name":"a","prompt":"p","review":null}"#,
                None,
            ),
        ];
        for (defaults, task, expected) in cases {
            assert_eq!(
                task_with(defaults, task).unwrap().review,
                expected,
                "{defaults} {task}"
            );
        }
        let err = task_with(
            r#"{"review":{"required":1}}"#,
            r#"{"name":"a","prompt":"p"}"#,
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "t.json: defaults: field `review.required`: must be true or false, got the number 1"
            ),
            "{err}"
        );
        let err = task_with(
            "{}",
            r#"{"name":"a","prompt":"p","review":{"model":"--opus"}}"#,
        )
        .unwrap_err();
        assert!(
            err.contains("field `review.model`: \"--opus\" starts with '-'"),
            "{err}"
        );
    }

    #[test]
    fn a_full_task() {
        let tasks = parse_str(
            r#"{"tasks":[{"name":"a-1","prompt":"do","description":"d","allowed_tools":["Read","Bash(git diff:*)"],"base_branch":"dev/x"}]}"#,
        )
        .unwrap();
        assert_eq!(
            tasks,
            vec![Task {
                name: "a-1".into(),
                prompt: "do".into(),
                description: Some("d".into()),
                allowed_tools: vec!["Read".into(), "Bash(git diff:*)".into()],
                base_branch: Some("dev/x".into()),
                ..Task::default()
            }]
        );
    }

    #[test]
    fn errors_name_file_task_field_and_value() {
        let err = parse_str(
            r#"{"tasks":[{"name":"ok","prompt":"p"},{"name":"b","prompt":"p","colour":1}]}"#,
        )
        .unwrap_err();
        assert!(
            err.starts_with("t.json: tasks[1] (\"b\"): field `colour`: unknown field"),
            "{err}"
        );
        assert!(
            err.contains("allowed_tools"),
            "lists the known fields: {err}"
        );

        let err = parse_str(r#"{"tasks":[{"name":"a/b","prompt":"p"}]}"#).unwrap_err();
        assert!(
            err.contains("tasks[0]: field `name`: \"a/b\" contains '/'"),
            "{err}"
        );

        let err = parse_str(r#"{"tasks":[{"name":"x","prompt":"p"},{"name":"x","prompt":"q"}]}"#)
            .unwrap_err();
        assert!(
            err.contains("duplicate name \"x\", already used by tasks[0]"),
            "{err}"
        );

        let err = parse_str(r#"{"tasks":[{"name":"x","prompt":"p","base_branch":"--orphan"}]}"#)
            .unwrap_err();
        assert!(
            err.contains("field `base_branch`: \"--orphan\" starts with '-'"),
            "{err}"
        );

        let err = parse_str(r#"{"tasks":[{"name":"x"}]}"#).unwrap_err();
        assert!(err.contains("field `prompt`: missing"), "{err}");
    }

    #[test]
    fn bad_names() {
        for name in [
            "",
            "-x",
            ".x",
            "a..b",
            "a b",
            "a/b",
            "x.lock",
            "x.",
            "é",
            "a\u{1}b",
            &"a".repeat(65),
        ] {
            assert!(check_name(name).is_err(), "{name:?} should be refused");
        }
        for name in ["a", "fix-login", "v1.2_x", &"a".repeat(64)] {
            assert!(check_name(name).is_ok(), "{name:?} should be accepted");
        }
    }

    #[test]
    fn file_level_errors() {
        assert!(parse_str("").unwrap_err().contains("empty"));
        assert!(parse_str("{").unwrap_err().contains("not valid JSON"));
        assert!(
            parse_str("{\"tasks\":[]}")
                .unwrap_err()
                .contains("list is empty")
        );
        assert!(
            parse_str("{\"task\":[]}")
                .unwrap_err()
                .contains("unknown top-level field `task`")
        );
        assert!(parse_str("3").unwrap_err().contains("the number 3"));
        assert!(parse_str("[{\"name\":\"a\",\"prompt\":\"p\"}]").is_ok());
    }

    #[test]
    fn claude_settings_are_read_as_given() {
        let task = task_with(
            "{}",
            r#"{"name":"a","prompt":"p","model":"opus","max_turns":30,"max_budget_usd":2.5,
                "append_system_prompt":"Be brief.","permission_mode":"plan",
                "disallowed_tools":["Bash(rm:*)"],"args":["--add-dir","../shared"]}"#,
        )
        .unwrap();
        assert_eq!(
            task,
            Task {
                name: "a".into(),
                prompt: "p".into(),
                model: Some("opus".into()),
                max_turns: Some(30),
                max_budget_usd: Some(2.5),
                append_system_prompt: Some("Be brief.".into()),
                permission_mode: Some("plan".into()),
                disallowed_tools: vec!["Bash(rm:*)".into()],
                args: vec!["--add-dir".into(), "../shared".into()],
                ..Task::default()
            }
        );
    }

    #[test]
    fn worktree_settings_are_read_as_given() {
        let task = task_with(
            "{}",
            r#"{"name":"a","prompt":"p","env":{"API_KEY":"k","MODE":"test"},
                "copy":[".env","./web/node_modules"],"setup":["npm","ci"]}"#,
        )
        .unwrap();
        assert_eq!(
            task.env,
            [
                ("API_KEY".into(), "k".into()),
                ("MODE".into(), "test".into())
            ]
        );
        assert_eq!(
            task.copy,
            [PathBuf::from(".env"), PathBuf::from("./web/node_modules")]
        );
        assert_eq!(task.setup, Some(vec!["npm".into(), "ci".into()]));
    }

    #[test]
    fn a_task_takes_what_it_does_not_set_from_the_defaults() {
        // (defaults, task, what the task ends up with: model, max_turns, prompt)
        let cases = [
            (
                r#"{"model":"sonnet","max_turns":5}"#,
                r#"{"name":"a","prompt":"p"}"#,
                (Some("sonnet"), Some(5), "p"),
            ),
            (
                r#"{"model":"sonnet","max_turns":5}"#,
                r#"{"name":"a","prompt":"p","model":"opus"}"#,
                (Some("opus"), Some(5), "p"),
            ),
            (
                r#"{"model":"sonnet"}"#,
                r#"{"name":"a","prompt":"p","model":null}"#,
                (None, None, "p"),
            ),
            (
                r#"{"prompt":"from the defaults"}"#,
                r#"{"name":"a"}"#,
                (None, None, "from the defaults"),
            ),
            (
                r#"{"prompt_file":"/nonexistent/never-read"}"#,
                r#"{"name":"a","prompt":"own"}"#,
                (None, None, "own"),
            ),
        ];
        // The defaults' prompt_file above does not exist: checking the defaults reads it.
        for (defaults, task, (model, turns, prompt)) in cases.into_iter().take(4) {
            let got = task_with(defaults, task).unwrap();
            assert_eq!(
                (got.model.as_deref(), got.max_turns, got.prompt.as_str()),
                (model, turns, prompt),
                "defaults {defaults}, task {task}"
            );
        }
        let (defaults, task, _) = cases[4];
        let err = task_with(defaults, task).unwrap_err();
        assert!(
            err.starts_with("t.json: defaults: field `prompt_file`"),
            "{err}"
        );
    }

    #[test]
    fn a_prompt_file_is_found_beside_the_tasks_file() {
        let dir = std::env::temp_dir().join(format!("porch-prompt-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("prompts")).unwrap();
        std::fs::write(dir.join("prompts/auth.md"), "Add login.\n").unwrap();
        std::fs::write(dir.join("blank.md"), " \n").unwrap();
        let task = |fields: &str| {
            parse_in(&dir, &format!(r#"{{"tasks":[{{"name":"a",{fields}}}]}}"#))
                .map(|mut file| file.tasks.remove(0))
        };

        assert_eq!(
            task(r#""prompt_file":"prompts/auth.md""#).unwrap().prompt,
            "Add login.\n"
        );
        // (fields, the start of the message after `field `...``)
        let cases = [
            (
                r#""prompt_file":"missing.md""#,
                "prompt_file`: \"missing.md\" does not exist",
            ),
            (
                r#""prompt_file":"prompts""#,
                "prompt_file`: \"prompts\" is a directory",
            ),
            (
                r#""prompt_file":"blank.md""#,
                "prompt_file`: \"blank.md\" is empty",
            ),
            (r#""prompt_file":"""#, "prompt_file`: is empty"),
            (
                r#""prompt":"p","prompt_file":"prompts/auth.md""#,
                "prompt_file`: is given as well as `prompt`",
            ),
        ];
        for (fields, message) in cases {
            let err = task(fields).unwrap_err();
            assert!(
                err.starts_with(&format!("t.json: tasks[0] (\"a\"): field `{message}")),
                "{fields}: {err}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_repeated_tasks_rivals_need_names_of_their_own() {
        let long = "a".repeat(63);
        // (the tasks, the error: None when the file is fine)
        let cases = [
            (
                r#"{"name":"fix","prompt":"p","repeat":3},{"name":"fix-3","prompt":"p"}"#
                    .to_string(),
                Some(
                    "t.json: tasks[0] (\"fix\"): field `repeat`: 3 runs the attempt \"fix-3\", which is also the name of tasks[1] (\"fix-3\")",
                ),
            ),
            (
                // The task as written counts, even when it runs only as its own rivals.
                r#"{"name":"fix-2","prompt":"p","repeat":2},{"name":"fix","prompt":"p","repeat":2}"#
                    .to_string(),
                Some(
                    "t.json: tasks[1] (\"fix\"): field `repeat`: 2 runs the attempt \"fix-2\", which is also the name of tasks[0] (\"fix-2\")",
                ),
            ),
            (
                format!(r#"{{"name":"{long}","prompt":"p","repeat":10}}"#),
                Some("which is 66 characters long; the limit is 64"),
            ),
            (
                r#"{"name":"fix","prompt":"p","repeat":1},{"name":"fix-1","prompt":"p"}"#
                    .to_string(),
                None,
            ),
            (
                r#"{"name":"a","prompt":"p","repeat":2},{"name":"b","prompt":"p","repeat":2},{"name":"a-3","prompt":"p"}"#
                    .to_string(),
                None,
            ),
        ];
        for (tasks, error) in cases {
            let parsed = parse_str(&format!(r#"{{"tasks":[{tasks}]}}"#));
            match error {
                None => assert!(parsed.is_ok(), "{tasks}: {parsed:?}"),
                Some(message) => {
                    let err = parsed.unwrap_err();
                    assert!(err.contains(message), "{tasks}: {err}");
                    assert!(!err.ends_with(" | "), "a hint: {err}");
                }
            }
        }
    }

    #[test]
    fn a_task_runs_as_its_rivals_when_repeated() {
        let task = |repeat| Task {
            name: "fix".to_string(),
            repeat,
            ..Task::default()
        };
        // (repeat, the names the task runs under)
        let cases: [(Option<u32>, &[&str]); 4] = [
            (None, &["fix"]),
            (Some(1), &["fix"]),
            (Some(2), &["fix-1", "fix-2"]),
            (Some(3), &["fix-1", "fix-2", "fix-3"]),
        ];
        for (repeat, names) in cases {
            assert_eq!(run_names(&task(repeat)), names, "repeat {repeat:?}");
        }
    }

    /// Each case's fields (after name and prompt) are refused, naming the field, with a hint.
    #[track_caller]
    fn refused_naming_the_field(cases: &[(&str, &str, &str)]) {
        for &(fields, field, message) in cases {
            let text = format!(r#"{{"tasks":[{{"name":"a","prompt":"p",{fields}}}]}}"#);
            let err = parse_str(&text).unwrap_err();
            let head = format!("t.json: tasks[0] (\"a\"): field `{field}`: ");
            assert!(err.starts_with(&head), "{fields}: {err}");
            assert!(err.contains(message), "{fields}: {err}");
            assert!(
                err.contains(" | ") && !err.ends_with(" | "),
                "a hint: {err}"
            );
        }
    }

    #[test]
    fn bad_numbers_and_words_name_the_field_and_what_is_wrong() {
        // (fields after name and prompt, the field named, a part of the message)
        refused_naming_the_field(&[
            (
                r#""max_turns":0"#,
                "max_turns",
                "at least 1, got the number 0",
            ),
            (r#""max_turns":2.5"#, "max_turns", "whole number"),
            (r#""max_turns":"5""#, "max_turns", "got the string \"5\""),
            (
                r#""max_budget_usd":0"#,
                "max_budget_usd",
                "above 0, got the number 0",
            ),
            (r#""max_budget_usd":-1.5"#, "max_budget_usd", "above 0"),
            (r#""model":"""#, "model", "is empty"),
            (r#""model":"--help""#, "model", "starts with '-'"),
            (
                r#""permission_mode":"yolo""#,
                "permission_mode",
                "\"yolo\" is not a permission mode",
            ),
            (
                r#""disallowed_tools":"Bash""#,
                "disallowed_tools",
                "must be a list of strings",
            ),
            (
                r#""args":"--verbose""#,
                "args",
                "must be a list of strings, got the string",
            ),
            (
                r#""args":[1]"#,
                "args",
                "every entry must be a string, got the number 1",
            ),
            (
                r#""args":["../x"]"#,
                "args",
                "not an option: claude would read it as the prompt",
            ),
            (
                r#""args":["--model","opus"]"#,
                "args",
                "is set by porch: use the field `model`",
            ),
            (
                r#""args":["--output-format=json"]"#,
                "args",
                "is set by porch: porch reads stream-json",
            ),
        ]);
    }

    #[test]
    fn bad_environments_paths_and_commands_name_the_field_and_what_is_wrong() {
        // (fields after name and prompt, the field named, a part of the message)
        refused_naming_the_field(&[
            (r#""env":["A=1"]"#, "env", "must be an object, got a list"),
            (
                r#""env":{"PORT":8080}"#,
                "env",
                "the value of PORT must be a string, got a number",
            ),
            (r#""env":{"PORCH_PORT":"1"}"#, "env", "starts with PORCH_"),
            (r#""env":{"A=B":"1"}"#, "env", "contains '='"),
            (
                r#""copy":"/etc/passwd""#,
                "copy",
                "must be a list of strings",
            ),
            (r#""copy":["/etc/passwd"]"#, "copy", "is an absolute path"),
            (r#""copy":["../outside"]"#, "copy", "holds \"..\""),
            (
                r#""setup":"npm ci""#,
                "setup",
                "must be a list (the program, then its arguments), got the string \"npm ci\"",
            ),
            (r#""setup":[]"#, "setup", "is an empty list"),
            (r#""setup":["", "x"]"#, "setup", "names no program"),
            (
                r#""setup":[["npm"]]"#,
                "setup",
                "every entry must be a string",
            ),
            (
                r#""check":"cargo test""#,
                "check",
                "must be a list (the program, then its arguments), got the string \"cargo test\"",
            ),
            (r#""check":[]"#, "check", "is an empty list"),
            (r#""repeat":0"#, "repeat", "from 1 to 20, got the number 0"),
            (
                r#""repeat":21"#,
                "repeat",
                "from 1 to 20, got the number 21",
            ),
            (r#""repeat":2.5"#, "repeat", "whole number"),
            (r#""repeat":"3""#, "repeat", "got the string \"3\""),
        ]);
    }

    #[test]
    fn env_values_never_appear_in_messages() {
        let err =
            parse_str(r#"{"tasks":[{"name":"a","prompt":"p","env":{"KEY":"sk-secret\u0000x"}}]}"#)
                .unwrap_err();
        assert!(err.contains("the value of KEY contains a NUL"), "{err}");
        let err =
            parse_str(r#"{"tasks":[{"name":"a","prompt":"p","env":{"PIN":12345}}]}"#).unwrap_err();
        assert!(
            !err.contains("sk-secret") && !err.contains("12345"),
            "{err}"
        );
    }

    #[test]
    fn defaults_hold_task_fields_but_name() {
        // (defaults, the start of the message)
        let cases = [
            (
                r#"{"colour":1}"#,
                "t.json: defaults: field `colour`: unknown field",
            ),
            (
                r#"{"name":"x"}"#,
                "t.json: defaults: field `name`: cannot be a default",
            ),
            (
                r#"{"depends_on":["a"]}"#,
                "t.json: defaults: field `depends_on`: cannot be a default",
            ),
            (
                r#"{"max_turns":0}"#,
                "t.json: defaults: field `max_turns`: must be a whole number",
            ),
            (
                r#"{"setup":"make"}"#,
                "t.json: defaults: field `setup`: must be a list",
            ),
            (
                r#"[]"#,
                "t.json: field `defaults`: must be an object, got a list",
            ),
        ];
        for (defaults, message) in cases {
            let err = task_with(defaults, r#"{"name":"a","prompt":"p"}"#).unwrap_err();
            assert!(err.starts_with(message), "{defaults}: {err}");
        }
        let err = task_with(r#"{"colour":1}"#, r#"{"name":"a","prompt":"p"}"#).unwrap_err();
        assert!(
            err.contains("defaults may hold: prompt, description,"),
            "{err}"
        );
    }

    /// Tasks a, b, c with these `depends_on` lists (JSON), and what the file gives.
    fn depending(lists: [&str; 3]) -> Result<Vec<Vec<String>>, String> {
        let tasks: Vec<String> = ["a", "b", "c"]
            .iter()
            .zip(lists)
            .map(|(name, list)| format!(r#"{{"name":"{name}","prompt":"p","depends_on":{list}}}"#))
            .collect();
        let tasks = parse_str(&format!(r#"{{"tasks":[{}]}}"#, tasks.join(",")))?;
        Ok(tasks.into_iter().map(|t| t.depends_on).collect())
    }

    #[test]
    fn depends_on_names_other_tasks_of_the_file_without_a_cycle() {
        let lists = depending(["null", r#"["a"]"#, r#"["b","a"]"#]).unwrap();
        assert_eq!(lists, [vec![], vec!["a"], vec!["b", "a"]]);
        // (the lists, the start of the message)
        let cases = [
            (
                ["[]", r#"["x"]"#, "[]"],
                "t.json: tasks[1] (\"b\"): field `depends_on`: \"x\" is not the name of a task in this file",
            ),
            (
                [r#"["a"]"#, "[]", "[]"],
                "t.json: tasks[0] (\"a\"): field `depends_on`: \"a\" depends on itself",
            ),
            (
                [r#"["c"]"#, r#"["a"]"#, r#"["b"]"#],
                "t.json: tasks[0] (\"a\"): field `depends_on`: a cycle: a → c → b → a",
            ),
            (
                ["[]", r#""a""#, "[]"],
                "t.json: tasks[1] (\"b\"): field `depends_on`: must be a list of strings",
            ),
            (
                ["[]", "[1]", "[]"],
                "t.json: tasks[1] (\"b\"): field `depends_on`: every entry must be a string",
            ),
        ];
        for (lists, message) in cases {
            let err = depending(lists).unwrap_err();
            assert!(err.starts_with(message), "{lists:?}: {err}");
            assert!(err.contains(" | "), "with a hint: {err}");
        }
    }

    #[test]
    fn depends_on_starts_from_the_dependencies_not_a_base_branch() {
        let err = parse_str(
            r#"{"tasks":[{"name":"a","prompt":"p"},{"name":"b","prompt":"p","depends_on":["a"],"base_branch":"main"}]}"#,
        )
        .unwrap_err();
        assert!(
            err.starts_with("t.json: tasks[1] (\"b\"): field `depends_on`: cannot be given together with `base_branch`"),
            "{err}"
        );
        // A default base is for the tasks that depend on none.
        let tasks = parse_str(
            r#"{"defaults":{"base_branch":"dev"},"tasks":[{"name":"a","prompt":"p"},{"name":"b","prompt":"p","depends_on":["a"]}]}"#,
        )
        .unwrap();
        let bases: Vec<Option<&str>> = tasks.iter().map(|t| t.base_branch.as_deref()).collect();
        assert_eq!(bases, [Some("dev"), None]);
    }

    #[test]
    fn a_repeated_task_is_a_dependency_by_its_name_as_written() {
        let repeated = r#"{"tasks":[{"name":"fix","prompt":"p","repeat":3},{"name":"b","prompt":"p","depends_on":["fix"]}]}"#;
        assert!(parse_str(repeated).is_ok());
        let rival = r#"{"tasks":[{"name":"fix","prompt":"p","repeat":3},{"name":"b","prompt":"p","depends_on":["fix-2"]}]}"#;
        let err = parse_str(rival).unwrap_err();
        assert!(
            err.starts_with("t.json: tasks[1] (\"b\"): field `depends_on`: \"fix-2\" is not the name of a task in this file"),
            "{err}"
        );
    }

    #[test]
    fn hooks_are_command_lists_at_the_top() {
        let dir = PathBuf::from(".");
        let source = Source {
            name: "t.json",
            dir: &dir,
        };
        let file = parse(
            &source,
            br#"{"on_finish":["notify-send","done"],"tasks":[{"name":"a","prompt":"p"}]}"#,
        )
        .unwrap();
        assert_eq!(
            file.hooks.on_finish,
            Some(vec!["notify-send".into(), "done".into()])
        );
        assert_eq!(file.hooks.on_task_finish, None);
        for (value, message) in [
            (r#""notify-send done""#, "must be a list, got"),
            ("[]", "is an empty list"),
            (r#"["", "x"]"#, "names no program"),
            ("[1]", "not a string"),
        ] {
            let text =
                format!(r#"{{"on_task_finish":{value},"tasks":[{{"name":"a","prompt":"p"}}]}}"#);
            let err = parse(&source, text.as_bytes()).unwrap_err().to_string();
            assert!(
                err.starts_with("t.json: field `on_task_finish`: ") && err.contains(message),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn the_branch_template_is_read_at_the_top() {
        let file = parse_in(
            Path::new("."),
            r#"{"branch_template":"nightly/{date}/{name}","tasks":[{"name":"a","prompt":"p"}]}"#,
        )
        .unwrap();
        assert_eq!(
            file.branch_template.map(|t| t.text().to_string()),
            Some("nightly/{date}/{name}".to_string())
        );
        // (template, a part of the message)
        let cases = [
            (r#""nightly/{date}""#, "does not contain {name}"),
            (r#""t/{nmae}""#, "unknown placeholder {nmae}"),
            ("3", "must be a string, got the number 3"),
        ];
        for (template, message) in cases {
            let text = format!(
                r#"{{"branch_template":{template},"tasks":[{{"name":"a","prompt":"p"}}]}}"#
            );
            let err = parse_str(&text).unwrap_err();
            assert!(
                err.starts_with("t.json: field `branch_template`: ") && err.contains(message),
                "{template}: {err}"
            );
        }
    }

    #[test]
    fn prompt_files_are_found_from_the_tasks_file_or_the_current_directory() {
        // (the tasks argument, where its prompt files are found)
        let cases = [
            ("tasks.json", "."),
            ("-", "."),
            ("jobs/nightly.json", "jobs"),
            ("/etc/porch/tasks.json", "/etc/porch"),
        ];
        for (arg, dir) in cases {
            assert_eq!(prompt_dir(arg), PathBuf::from(dir), "{arg}");
        }
    }
}
