//! The environment porch gives a task's setup, session and check: the `PORCH_*` variables that
//! say which task this is and where, a block of ports of its own, and the task's `env`.

use std::path::Path;

/// Each task gets this many ports, from `--port-base + PORTS_PER_TASK × its index`.
pub const PORTS_PER_TASK: u16 = 10;
pub const DEFAULT_PORT_BASE: u16 = 40_000;
/// Names porch sets itself: a task's `env` may not set them.
pub const RESERVED_PREFIX: &str = "PORCH_";

/// What the `PORCH_*` variables tell one task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskIdentity<'a> {
    pub name: &'a str,
    /// 0-based, in tasks-file order.
    pub index: usize,
    pub worktree: &'a Path,
    pub branch: &'a str,
    pub base_commit: &'a str,
    pub run_id: &'a str,
    pub port: u16,
    /// A repeated task's name as written, for each of its rivals.
    pub group: Option<&'a str>,
}

/// The first port of task `index`'s block, or `None` when the block would pass 65535.
pub fn first_port(base: u16, index: usize) -> Option<u16> {
    let first = u32::from(base) + u32::from(PORTS_PER_TASK) * u32::try_from(index).ok()?;
    let last = first + u32::from(PORTS_PER_TASK) - 1;
    u16::try_from(last).ok()?;
    u16::try_from(first).ok()
}

/// Whether `tasks` blocks of ports fit from `base`; the error says why not, for `--port-base`.
pub fn check_port_base(base: u16, tasks: usize) -> Result<(), String> {
    if base == 0 {
        return Err("0 is not a port".to_string());
    }
    if tasks > 0 && first_port(base, tasks - 1).is_none() {
        let highest = 65_536 - u32::from(PORTS_PER_TASK) * tasks as u32;
        return Err(format!(
            "{PORTS_PER_TASK} ports for each of {tasks} tasks from {base} go past port 65535; the highest base for them is {highest}"
        ));
    }
    Ok(())
}

/// The `PORCH_*` variables, in a fixed order.
pub fn porch_vars(task: &TaskIdentity) -> Vec<(&'static str, String)> {
    vec![
        ("PORCH_TASK", task.name.to_string()),
        ("PORCH_TASK_INDEX", task.index.to_string()),
        ("PORCH_WORKTREE", task.worktree.display().to_string()),
        ("PORCH_BRANCH", task.branch.to_string()),
        ("PORCH_BASE", task.base_commit.to_string()),
        ("PORCH_RUN_ID", task.run_id.to_string()),
        ("PORCH_PORT", task.port.to_string()),
        // Set, empty, for a task run once, so that a value porch inherited never reaches it.
        ("PORCH_GROUP", task.group.unwrap_or_default().to_string()),
    ]
}

/// Values shorter than this are not hidden in output: "1" or "test" would blank out ordinary
/// text, and no key is that short.
pub const MIN_SECRET_LEN: usize = 6;

/// Hides a task's `env` values in what its setup and session print, before porch shows, logs or
/// records it: the values may be keys, and a tool that echoes its environment must not leak
/// them into the terminal, the log or the results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Redactor {
    /// (name, value), longest value first, so a value inside another is not half-hidden.
    secrets: Vec<(String, String)>,
}

impl Redactor {
    pub fn new(env: &[(String, String)]) -> Redactor {
        // claude prints JSON, where a value with a quote, a backslash or a control character
        // appears escaped: hide that form too.
        let mut secrets: Vec<(String, String)> = env
            .iter()
            .filter(|(_, value)| value.len() >= MIN_SECRET_LEN)
            .flat_map(|(name, value)| {
                let quoted = serde_json::to_string(value).unwrap_or_default();
                let escaped = quoted
                    .get(1..quoted.len().saturating_sub(1))
                    .filter(|escaped| escaped != value)
                    .map(|escaped| (name.clone(), escaped.to_string()));
                std::iter::once((name.clone(), value.clone())).chain(escaped)
            })
            .collect();
        secrets.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        Redactor { secrets }
    }

    /// `text` with every value replaced by `[env NAME]`.
    pub fn redact<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let mut text = std::borrow::Cow::Borrowed(text);
        for (name, value) in &self.secrets {
            if text.contains(value.as_str()) {
                text =
                    std::borrow::Cow::Owned(text.replace(value.as_str(), &format!("[env {name}]")));
            }
        }
        text
    }
}

/// Why `name` cannot be a variable of a task's `env`.
pub fn check_var_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_string());
    }
    if name.contains(['=', '\0']) {
        return Err("contains '=' or a NUL character".to_string());
    }
    if name.starts_with(RESERVED_PREFIX) {
        return Err(format!(
            "starts with {RESERVED_PREFIX}, which porch sets itself"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_gets_a_block_of_ten_ports() {
        // (base, task index, first port of its block)
        let cases = [
            (40_000, 0, Some(40_000)),
            (40_000, 1, Some(40_010)),
            (40_000, 7, Some(40_070)),
            (1024, 3, Some(1054)),
            (65_526, 0, Some(65_526)),
            (65_527, 0, None),
            (65_000, 52, Some(65_520)),
            (65_000, 53, None),
            (40_000, usize::MAX, None),
        ];
        for (base, index, first) in cases {
            assert_eq!(first_port(base, index), first, "base {base}, task {index}");
        }
    }

    #[test]
    fn a_port_base_must_leave_room_for_every_task() {
        assert_eq!(check_port_base(40_000, 16), Ok(()));
        assert_eq!(check_port_base(65_526, 1), Ok(()));
        assert_eq!(check_port_base(1, 0), Ok(()));
        let err = check_port_base(65_000, 60).unwrap_err();
        assert!(
            err.contains("from 65000 go past port 65535; the highest base for them is 64936"),
            "{err}"
        );
        assert_eq!(first_port(64_936, 59), Some(65_526));
        assert!(check_port_base(0, 1).unwrap_err().contains("not a port"));
    }

    #[test]
    fn porch_variables_name_the_task_and_its_place() {
        let task = TaskIdentity {
            name: "fix-login",
            index: 2,
            worktree: Path::new("/w/shop/fix-login"),
            branch: "task/fix-login",
            base_commit: "abc123",
            run_id: "20261201T201500Z-4242",
            port: 40_020,
            group: Some("fix"),
        };
        let once = TaskIdentity {
            group: None,
            ..task.clone()
        };
        assert_eq!(porch_vars(&once)[7], ("PORCH_GROUP", String::new()));
        assert_eq!(
            porch_vars(&task),
            [
                ("PORCH_TASK", "fix-login"),
                ("PORCH_TASK_INDEX", "2"),
                ("PORCH_WORKTREE", "/w/shop/fix-login"),
                ("PORCH_BRANCH", "task/fix-login"),
                ("PORCH_BASE", "abc123"),
                ("PORCH_RUN_ID", "20261201T201500Z-4242"),
                ("PORCH_PORT", "40020"),
                ("PORCH_GROUP", "fix"),
            ]
            .map(|(k, v)| (k, v.to_string()))
        );
    }

    #[test]
    fn env_names_porch_does_not_own() {
        // (name, accepted)
        let cases = [
            ("API_KEY", true),
            ("node_env", true),
            ("X1", true),
            ("", false),
            ("A=B", false),
            ("A\0", false),
            ("PORCH_PORT", false),
            ("PORCH_ANYTHING", false),
        ];
        for (name, ok) in cases {
            assert_eq!(check_var_name(name).is_ok(), ok, "{name:?}");
        }
    }

    #[test]
    fn env_values_are_hidden_in_output() {
        let env = [
            ("API_KEY", "sk-live-123456"),
            ("KEY_PREFIX", "sk-live"),
            ("DEBUG", "1"),
            ("MODE", "test"),
            ("QUOTED", "say\"hi\\x"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let redactor = Redactor::new(&env);
        // (printed, shown)
        let cases = [
            ("nothing secret", "nothing secret"),
            ("key=sk-live-123456.", "key=[env API_KEY]."),
            (
                "sk-live-123456 sk-live-123456",
                "[env API_KEY] [env API_KEY]",
            ),
            ("prefix sk-live only", "prefix [env KEY_PREFIX] only"),
            ("DEBUG=1 MODE=test", "DEBUG=1 MODE=test"),
            (
                r#"{"text":"pw is say\"hi\\x"}"#,
                r#"{"text":"pw is [env QUOTED]"}"#,
            ),
            ("pw is say\"hi\\x", "pw is [env QUOTED]"),
        ];
        for (printed, shown) in cases {
            assert_eq!(redactor.redact(printed), shown, "{printed}");
        }
        assert!(matches!(
            redactor.redact("untouched"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
