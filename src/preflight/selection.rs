//! `--only`, `--skip` and `--shard`: which of the tasks file's tasks a run runs. Names are the
//! file's own (a repeated task's name means all of its rivals); one that names no task is
//! refused, and so is leaving out a task that a kept one depends on. A shard is decided on the
//! whole file, so `--only` never moves a task to another. Then `repeat`: a repeated task runs
//! as its rivals, each a task of its own.

use crate::error::Error;
use crate::preflight::shard;
use crate::preflight::taskfile;
use crate::results::Shard;
use crate::task::plan::Task;

/// The tasks as the run runs them, in file order: a task with `repeat` N of 2 or more becomes
/// its N rivals `NAME-1` … `NAME-N`, each with `group` NAME and the task's settings.
pub fn expand_repeats(tasks: Vec<Task>) -> Vec<Task> {
    let mut expanded = Vec::with_capacity(tasks.len());
    for task in tasks {
        let names = taskfile::run_names(&task);
        if names.len() == 1 {
            expanded.push(task);
            continue;
        }
        for name in names {
            expanded.push(Task {
                name,
                group: Some(task.name.clone()),
                ..task.clone()
            });
        }
    }
    expanded
}

/// The tasks `--only` keeps, or those `--skip` leaves, that are in `slice` (`--shard K/N`), in
/// file order. An empty shard is no error: N shards over fewer units leave some with nothing.
pub fn select_shard(
    file: &str,
    tasks: Vec<Task>,
    only: &[String],
    skip: &[String],
    slice: Option<Shard>,
) -> Result<Vec<Task>, Error> {
    let Some(slice) = slice else {
        return select(file, tasks, only, skip);
    };
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    let depends_on: Vec<Vec<String>> = tasks.iter().map(dependencies).collect();
    let members = shard::members(&names, &depends_on, slice);
    let in_shard: Vec<String> = tasks
        .iter()
        .zip(members)
        .filter(|(_, member)| *member)
        .map(|(task, _)| task.name.clone())
        .collect();
    let chosen = pick(file, tasks, only, skip)?;
    Ok(chosen
        .into_iter()
        .filter(|task| in_shard.contains(&task.name))
        .collect())
}

/// The names a task's `depends_on` lists.
fn dependencies(task: &Task) -> Vec<String> {
    task.depends_on.clone()
}

/// The tasks `--only` keeps, or those `--skip` leaves, in file order. Both empty: all of them.
pub fn select(
    file: &str,
    tasks: Vec<Task>,
    only: &[String],
    skip: &[String],
) -> Result<Vec<Task>, Error> {
    let selected = pick(file, tasks, only, skip)?;
    if selected.is_empty() {
        return Err(
            Error::usage(format!("--skip leaves no task of {file} to run"))
                .with_hint("skip fewer tasks, or use --only to name the ones to run"),
        );
    }
    Ok(selected)
}

/// `--only` or `--skip` applied; a name of no task is refused.
fn pick(
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
        let error = Error::usage(format!(
            "{flag} names `{unknown}`, which is no task of {file}"
        ));
        return Err(match rival_of(&tasks, unknown) {
            Some(group) => error.with_hint(format!(
                "`{unknown}` is an attempt of the repeated task `{group}`: {flag} names the task \
                 as written, for all its attempts ({flag} {group})"
            )),
            None => error.with_hint(format!("the tasks are: {}", all.join(", "))),
        });
    }
    let keep = |task: &Task| names.contains(&task.name) == (flag == "--only");
    let chosen: Vec<Task> = tasks.into_iter().filter(keep).collect();
    check_dependencies_kept(flag, &chosen)?;
    Ok(chosen)
}

/// The repeated task whose rival `name` would be (`NAME-k`, k from 1 to its `repeat`).
fn rival_of<'t>(tasks: &'t [Task], name: &str) -> Option<&'t str> {
    let (group, number) = name.rsplit_once('-')?;
    let number: u32 = number.parse().ok()?;
    tasks
        .iter()
        .find(|t| t.name == group && t.repeat.is_some_and(|n| n > 1 && (1..=n).contains(&number)))
        .map(|t| t.name.as_str())
}

/// A kept task starts from the branches of the tasks it depends on: they must run too.
fn check_dependencies_kept(flag: &str, selected: &[Task]) -> Result<(), Error> {
    for task in selected {
        let kept = |name: &&String| selected.iter().any(|t| &t.name == *name);
        let Some(missing) = task.depends_on.iter().find(|name| !kept(name)) else {
            continue;
        };
        let hint = if flag == "--only" {
            format!(
                "add `{missing}` to --only, or leave `{}` out too",
                task.name
            )
        } else {
            format!("drop `{missing}` from --skip, or skip `{}` too", task.name)
        };
        return Err(Error::usage(format!(
            "{flag} leaves out `{missing}`, which task `{}` depends on",
            task.name
        ))
        .with_hint(hint));
    }
    Ok(())
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
    fn a_shard_is_taken_from_the_whole_file_then_only_and_skip_apply() {
        let file = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let count = 3;
        let in_shard = |index: u32| -> Vec<String> {
            let slice = Some(Shard { index, count });
            select_shard("t.json", tasks(&file), &[], &[], slice)
                .unwrap()
                .into_iter()
                .map(|t| t.name)
                .collect()
        };
        let shards: Vec<Vec<String>> = (1..=count).map(in_shard).collect();
        let mut all: Vec<String> = shards.concat();
        all.sort();
        assert_eq!(
            all,
            list(&file),
            "the shards hold every task once: {shards:?}"
        );
        for (k, names) in shards.iter().enumerate() {
            let slice = Some(Shard {
                index: k as u32 + 1,
                count,
            });
            // --only a, b, c: the tasks of those three in this shard, no others.
            let only =
                select_shard("t.json", tasks(&file), &list(&["a", "b", "c"]), &[], slice).unwrap();
            let expected: Vec<&String> = names.iter().filter(|n| *n <= &"c".to_string()).collect();
            let got: Vec<&String> = only.iter().map(|t| &t.name).collect();
            assert_eq!(got, expected, "shard {}/{count} with --only", k + 1);
            // Skipping everything leaves an empty shard, which is no error.
            let none = select_shard("t.json", tasks(&file), &[], &list(&file), slice).unwrap();
            assert!(none.is_empty());
        }
        let unknown = select_shard(
            "t.json",
            tasks(&file),
            &list(&["z"]),
            &[],
            Some(Shard { index: 1, count }),
        );
        assert!(
            unknown.is_err(),
            "a name of no task is refused in a shard too"
        );
    }

    #[test]
    fn repeated_tasks_run_as_their_rivals_in_file_order() {
        let mut listed = tasks(&["a", "fix", "b"]);
        listed[1].repeat = Some(3);
        listed[2].repeat = Some(1);
        let expanded = expand_repeats(listed);
        let runs: Vec<(&str, Option<&str>)> = expanded
            .iter()
            .map(|t| (t.name.as_str(), t.group.as_deref()))
            .collect();
        assert_eq!(
            runs,
            [
                ("a", None),
                ("fix-1", Some("fix")),
                ("fix-2", Some("fix")),
                ("fix-3", Some("fix")),
                ("b", None),
            ]
        );
    }

    #[test]
    fn a_dependency_of_a_kept_task_must_be_kept_too() {
        // c depends on b; (--only, --skip, the message and hint, or None when it runs)
        type Refusal = Option<(&'static str, &'static str)>;
        let cases: [(&[&str], &[&str], Refusal); 5] = [
            (&["b", "c"], &[], None),
            (&[], &["a"], None),
            (&["a", "b"], &[], None),
            (
                &["c"],
                &[],
                Some((
                    "--only leaves out `b`, which task `c` depends on",
                    "add `b` to --only, or leave `c` out too",
                )),
            ),
            (
                &[],
                &["b"],
                Some((
                    "--skip leaves out `b`, which task `c` depends on",
                    "drop `b` from --skip, or skip `c` too",
                )),
            ),
        ];
        for (only, skip, refusal) in cases {
            let mut all = tasks(&["a", "b", "c"]);
            all[2].depends_on = list(&["b"]);
            let selected = select("t.json", all, &list(only), &list(skip));
            let got = selected
                .as_ref()
                .err()
                .map(|err| (err.to_string(), err.hint().unwrap_or_default().to_string()));
            let want = refusal.map(|(m, h)| (m.to_string(), h.to_string()));
            assert_eq!(got, want, "--only {only:?} --skip {skip:?}");
        }
    }

    #[test]
    fn a_shard_reads_depends_on_and_keeps_each_unit_whole() {
        // a ← b ← c, d ← e, f alone, in every number of shards up to 6.
        let with_dependencies = || {
            let mut all = tasks(&["a", "b", "c", "d", "e", "f"]);
            all[1].depends_on = list(&["a"]);
            all[2].depends_on = list(&["b"]);
            all[4].depends_on = list(&["d"]);
            all
        };
        for count in 1..=6 {
            let shard_of = |name: &str| {
                (1..=count)
                    .find(|&index| {
                        let slice = Some(Shard { index, count });
                        select_shard("t.json", with_dependencies(), &[], &[], slice)
                            .unwrap()
                            .iter()
                            .any(|t| t.name == name)
                    })
                    .expect("in some shard")
            };
            assert_eq!(shard_of("b"), shard_of("a"), "{count} shards");
            assert_eq!(shard_of("c"), shard_of("a"), "{count} shards");
            assert_eq!(shard_of("e"), shard_of("d"), "{count} shards");
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

    #[test]
    fn a_rivals_name_is_refused_with_the_repeated_tasks_name() {
        let mut all = tasks(&["a", "b"]);
        all[1].repeat = Some(3);
        // (--only, what the hint says)
        let cases = [
            (
                "b-2",
                "`b-2` is an attempt of the repeated task `b`: --only names the task as written",
            ),
            // Not a rival: past the repeat count, or of a task run once.
            ("b-4", "the tasks are: a, b"),
            ("a-1", "the tasks are: a, b"),
        ];
        for (only, hint) in cases {
            let err = select("t.json", all.clone(), &list(&[only]), &[]).unwrap_err();
            let shown = format!("{:?}", err.hint());
            assert!(shown.contains(hint), "--only {only}: {shown}");
        }
    }
}
