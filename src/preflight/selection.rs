//! `--only` and `--skip`: which of the tasks file's tasks a run runs. Names are the file's own
//! (a repeated task's name means all of its attempts); one that names no task is refused.

use crate::error::Error;
use crate::plan::Task;

/// The tasks `--only` keeps, or those `--skip` leaves, in file order. Both empty: all of them.
pub fn select(
    file: &str,
    tasks: Vec<Task>,
    only: &[String],
    skip: &[String],
) -> Result<Vec<Task>, Error> {
    let (flag, names) = match (only.is_empty(), skip.is_empty()) {
        (true, true) => return Ok(tasks),
        (false, _) => ("--only", only),
        (true, false) => ("--skip", skip),
    };
    if let Some(unknown) = names.iter().find(|n| !tasks.iter().any(|t| &t.name == *n)) {
        let all: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
        return Err(Error::usage(format!(
            "{flag} names `{unknown}`, which is no task of {file}"
        ))
        .with_hint(format!("the tasks are: {}", all.join(", "))));
    }
    let keep = |task: &Task| names.contains(&task.name) == (flag == "--only");
    let selected: Vec<Task> = tasks.into_iter().filter(keep).collect();
    if selected.is_empty() {
        return Err(
            Error::usage(format!("--skip leaves no task of {file} to run"))
                .with_hint("skip fewer tasks, or use --only to name the ones to run"),
        );
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(names: &[&str]) -> Vec<Task> {
        names
            .iter()
            .map(|name| Task {
                name: name.to_string(),
                ..Task::default()
            })
            .collect()
    }

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn only_keeps_and_skip_leaves_the_named_tasks_in_file_order() {
        // (--only, --skip, the tasks that run)
        let cases: [(&[&str], &[&str], &[&str]); 5] = [
            (&[], &[], &["a", "b", "c"]),
            (&["c", "a"], &[], &["a", "c"]),
            (&["b"], &[], &["b"]),
            (&[], &["b"], &["a", "c"]),
            (&[], &["a", "c", "a"], &["b"]),
        ];
        for (only, skip, expected) in cases {
            let selected = select("t.json", tasks(&["a", "b", "c"]), &list(only), &list(skip))
                .unwrap_or_else(|err| panic!("{only:?} {skip:?}: {err}"));
            let names: Vec<&str> = selected.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, expected, "--only {only:?} --skip {skip:?}");
        }
    }

    #[test]
    fn a_name_of_no_task_or_nothing_left_is_refused() {
        // (--only, --skip, the message)
        let cases: [(&[&str], &[&str], &str); 3] = [
            (
                &["a", "d"],
                &[],
                "--only names `d`, which is no task of t.json",
            ),
            (&[], &["A"], "--skip names `A`, which is no task of t.json"),
            (
                &[],
                &["c", "b", "a"],
                "--skip leaves no task of t.json to run",
            ),
        ];
        for (only, skip, message) in cases {
            let err =
                select("t.json", tasks(&["a", "b", "c"]), &list(only), &list(skip)).unwrap_err();
            assert_eq!(err.to_string(), message, "--only {only:?} --skip {skip:?}");
            assert!(matches!(err, Error::Usage { .. }), "a usage error: exit 2");
        }
    }
}
