//! The tasks file: its schema, and every check that can be made without looking at the
//! repository. Checks that need git (does the base branch exist?) live in `preflight`.

use serde_json::{Map, Value};

use crate::error::Error;

/// Fields a task may have. Add a field here and in `parse_task`.
pub const TASK_FIELDS: [&str; 6] = [
    "name",
    "prompt",
    "description",
    "allowed_tools",
    "base_branch",
    "timeout",
];
const FILE_FIELDS: [&str; 1] = ["tasks"];
pub const MAX_NAME_LEN: usize = 64;
const NAME_HINT: &str = "a task name becomes a directory and the branch task/NAME: use letters, digits, '-', '_' and '.', e.g. \"fix-login\"";

#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub name: String,
    pub prompt: String,
    pub description: Option<String>,
    pub allowed_tools: Vec<String>,
    pub base_branch: Option<String>,
    pub timeout: Option<std::time::Duration>,
}

/// Where a tasks file came from, for messages: its path, or "<stdin>".
pub struct Source<'a> {
    pub name: &'a str,
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
        Error::Tasks {
            file: self.name.to_string(),
            task: Some(task_label(index, name)),
            field: Some(field.to_string()),
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

pub fn task_label(index: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("tasks[{index}] ({name:?})"),
        None => format!("tasks[{index}]"),
    }
}

pub fn parse(source: &Source, bytes: &[u8]) -> Result<Vec<Task>, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(source.error(
            "the tasks file is empty",
            "write {\"tasks\": [{\"name\": ..., \"prompt\": ...}]}; `porch init` writes a sample",
        ));
    }
    let document: Value = serde_json::from_slice(bytes).map_err(|err| {
        source.error(
            format!("not valid JSON: {err}"),
            "fix the JSON at that line and column; `porch init` writes a valid sample",
        )
    })?;
    let list = task_list(source, document)?;
    if list.is_empty() {
        return Err(source.error("the `tasks` list is empty", "add at least one task"));
    }

    let mut tasks: Vec<Task> = Vec::with_capacity(list.len());
    for (index, value) in list.iter().enumerate() {
        let task = parse_task(source, index, value)?;
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
    Ok(tasks)
}

/// The list of tasks: the document's `tasks` field, or the document itself when it is a list.
fn task_list(source: &Source, document: Value) -> Result<Vec<Value>, Error> {
    let mut object = match document {
        Value::Object(object) => object,
        Value::Array(list) => return Ok(list),
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
    if let Some(unknown) = object.keys().find(|k| !FILE_FIELDS.contains(&k.as_str())) {
        return Err(source.error(
            format!("unknown top-level field `{unknown}`"),
            format!("the top level holds only: {}", FILE_FIELDS.join(", ")),
        ));
    }
    match object.remove("tasks") {
        Some(Value::Array(list)) => Ok(list),
        Some(other) => Err(source.error(
            format!("`tasks` must be a list, got {}", describe(&other)),
            "write \"tasks\": [{\"name\": ..., \"prompt\": ...}, ...]",
        )),
        None => Err(source.error(
            "no `tasks` field",
            "write {\"tasks\": [{\"name\": ..., \"prompt\": ...}]}",
        )),
    }
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
    let name_ref = Some(name.as_str());
    let field_error = |field: &str, message: String, hint: &str| {
        source.task_error(index, name_ref, field, message, hint)
    };

    let prompt = match optional_string(fields, "prompt") {
        Ok(Some(prompt)) if !prompt.trim().is_empty() => prompt,
        Ok(_) => {
            return Err(field_error(
                "prompt",
                "missing or empty".to_string(),
                "give the task a prompt: what the claude session should do",
            ));
        }
        Err(got) => {
            return Err(field_error(
                "prompt",
                format!("must be a string, got {got}"),
                "write the prompt as one JSON string",
            ));
        }
    };
    let description = optional_string(fields, "description").map_err(|got| {
        field_error(
            "description",
            format!("must be a string, got {got}"),
            "write a short text, or leave the field out",
        )
    })?;

    let allowed_tools = allowed_tools(fields.get("allowed_tools"), &field_error)?;

    let base_branch = optional_string(fields, "base_branch").map_err(|got| {
        field_error(
            "base_branch",
            format!("must be a string, got {got}"),
            "name a branch of the repository, e.g. \"main\"",
        )
    })?;
    if let Some(branch) = &base_branch
        && let Err(reason) = check_branch(branch)
    {
        return Err(field_error(
            "base_branch",
            format!("{} {reason}", quote_value(branch)),
            "name a branch of the repository, e.g. \"main\", or leave the field out to use the branch checked out in REPO",
        ));
    }

    let timeout = match optional_string(fields, "timeout") {
        Ok(None) => None,
        Ok(Some(text)) => Some(crate::duration::parse(&text).map_err(|reason| {
            field_error(
                "timeout",
                reason,
                "write a duration like \"90s\", \"10m\" or \"1h30m\"",
            )
        })?),
        Err(got) => {
            return Err(field_error(
                "timeout",
                format!("must be a duration string, got {got}"),
                "write a duration like \"90s\", \"10m\" or \"1h30m\"",
            ));
        }
    };

    Ok(Task {
        name,
        prompt,
        description,
        allowed_tools,
        base_branch,
        timeout,
    })
}

/// `allowed_tools`: absent, null or a list of tool names claude's `--allowedTools` takes.
fn allowed_tools(
    value: Option<&Value>,
    field_error: &impl Fn(&str, String, &str) -> Error,
) -> Result<Vec<String>, Error> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(field_error(
                "allowed_tools",
                format!("must be a list of strings, got {}", describe(other)),
                "write e.g. [\"Read\", \"Edit\", \"Bash(cargo test:*)\"]",
            ));
        }
    };
    let mut tools = Vec::with_capacity(items.len());
    for item in items {
        let tool = item.as_str().ok_or_else(|| {
            field_error(
                "allowed_tools",
                format!("every entry must be a string, got {}", describe(item)),
                "write e.g. [\"Read\", \"Edit\", \"Bash(cargo test:*)\"]",
            )
        })?;
        if let Err(reason) = check_tool(tool) {
            return Err(field_error(
                "allowed_tools",
                format!("entry {} {reason}", quote_value(tool)),
                "write tool names as claude's --allowedTools takes them, e.g. \"Read\" or \"Bash(git diff:*)\"",
            ));
        }
        tools.push(tool.to_string());
    }
    Ok(tools)
}

/// `Ok(None)` when absent or null; `Err(description of what was there)` for a non-string.
fn optional_string(fields: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match fields.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(describe(other)),
    }
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

/// Enough of `git check-ref-format` to refuse anything git or a shell could misread; whether the
/// branch exists is asked of git later.
fn check_branch(branch: &str) -> Result<(), String> {
    if branch.is_empty() {
        return Err("is empty".to_string());
    }
    if branch.starts_with('-') {
        return Err("starts with '-', so git would read it as an option".to_string());
    }
    if let Some(bad) = branch.chars().find(|c| {
        c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return Err(format!(
            "contains {}, which git refuses in a branch name",
            describe_char(bad)
        ));
    }
    if branch.contains("..") || branch.contains("@{") || branch.contains("//") {
        return Err("is not a valid branch name (it holds \"..\", \"@{\" or \"//\")".to_string());
    }
    if branch.starts_with('/')
        || branch.ends_with('/')
        || branch.ends_with('.')
        || branch.ends_with(".lock")
    {
        return Err("is not a valid branch name".to_string());
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
    let shown = crate::clip::shorten(value, 60);
    serde_json::to_string(&shown).unwrap_or(shown)
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

    fn parse_str(text: &str) -> Result<Vec<Task>, String> {
        parse(&Source { name: "t.json" }, text.as_bytes()).map_err(|e| {
            let hint = e.hint().unwrap_or_default().to_string();
            format!("{e} | {hint}")
        })
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
                timeout: None,
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
}
