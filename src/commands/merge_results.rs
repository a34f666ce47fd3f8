//! `porch merge-results`: the results files of the shards of one tasks file (`porch run --shard
//! K/N` on many machines) joined into one results object, with one summary. Files of different
//! tasks files or schema versions, or holding the same task twice, are refused.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::preflight::options::MergeResultsArgs;
use crate::results;
use crate::results::Results;
use crate::results::SCHEMA_VERSION;
use crate::results::TaskResult;
use crate::results::summary;
use crate::sys::atomic_file::write_atomic;

pub fn merge_results(args: &MergeResultsArgs) -> Result<ExitCode, Error> {
    let inputs = args
        .files
        .iter()
        .map(|file| read_input(file))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = merge(&inputs)?;
    let results: Results = serde_json::from_value(merged.clone()).map_err(|err| {
        Error::usage(format!("the merged results do not read back: {err}"))
            .with_hint("check that every file is a results file porch run wrote")
    })?;
    let text = results::to_json(&merged);
    match &args.output {
        Some(path) => write_atomic(path, text.as_bytes())?,
        None => write_stdout(text.as_bytes())?,
    }
    let missing = missing_shards(&inputs);
    let mut stderr = std::io::stderr().lock();
    let mut notes = notes(&inputs, &results);
    if !missing.is_empty() && args.allow_missing {
        notes.insert(1, format!("warning: shard(s) {missing} missing"));
    }
    for note in notes {
        let _ = writeln!(stderr, "porch: {note}");
    }
    summary::print_merged(&mut stderr, &results);
    if !missing.is_empty() && !args.allow_missing {
        // A CI job that merges the shards must not pass when some never ran.
        let _ = writeln!(
            stderr,
            "porch: error: shard(s) {missing} missing: their tasks did not run here\n\
             hint: give their results files too, or --allow-missing to merge without them"
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::from(exit_code(&results.tasks)))
}

/// 0 when every task succeeded and every push reached its remote, else 1: as `porch run`.
fn exit_code(tasks: &[TaskResult]) -> u8 {
    let all_well = tasks
        .iter()
        .all(|t| t.status == results::Status::Succeeded && t.push.as_ref().is_none_or(|p| p.ok));
    if all_well { 0 } else { 1 }
}

fn write_stdout(text: &[u8]) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text)
        .and_then(|()| out.flush())
        .map_err(|err| {
            Error::usage(format!(
                "the merged results could not be written to standard output: {err}"
            ))
            .with_hint("give -o FILE to write them to a file")
        })
}

/// One results file as read: its path as given, and its top-level object.
struct Input {
    file: String,
    object: Map<String, Value>,
}

impl Input {
    fn tasks(&self) -> &[Value] {
        self.object["tasks"].as_array().map_or(&[], Vec::as_slice)
    }

    fn text(&self, field: &str) -> Option<&str> {
        self.object.get(field).and_then(Value::as_str)
    }
}

const RESULTS_HINT: &str =
    "give the results files porch run wrote: its -o FILE, or .porch/runs/RUN_ID.json";

fn read_input(path: &Path) -> Result<Input, Error> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|err| {
        Error::usage(format!("{file}: cannot be read: {err}")).with_hint(RESULTS_HINT)
    })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|err| {
        Error::usage(format!("{file}: is not JSON: {err}")).with_hint(RESULTS_HINT)
    })?;
    match value {
        Value::Object(object) if results::has_results_shape(&object) => Ok(Input { file, object }),
        _ => Err(Error::usage(format!(
            "{file}: is not a porch results file (no `version` and `tasks`)"
        ))
        .with_hint(RESULTS_HINT)),
    }
}

/// The one results object the inputs make together, or why they do not belong together.
fn merge(inputs: &[Input]) -> Result<Value, Error> {
    check_version(inputs)?;
    let hash = check_tasks_file(inputs)?;
    let tasks = ordered_tasks(inputs)?;
    let typed: Vec<TaskResult> = tasks
        .iter()
        .map(|(file, task)| {
            serde_json::from_value(task.clone()).map_err(|err| {
                Error::usage(format!("{file}: task {}: {err}", task["name"]))
                    .with_hint(RESULTS_HINT)
            })
        })
        .collect::<Result<_, _>>()?;
    let first = &inputs[0];
    let mut merged = first.object.clone();
    let mut set = |field: &str, value: Value| {
        merged.insert(field.to_string(), value);
    };
    set("run_id", json!(joined(inputs, "run_id")));
    set("resumed_from", Value::Null);
    set("tasks_file_hash", json!(hash));
    set("shard", Value::Null);
    set("merged_from", merged_from(inputs));
    set("started_at", json!(earliest(inputs, "started_at")));
    set("finished_at", json!(latest_finish(inputs)));
    set(
        "duration_ms",
        json!(sum_or_max(inputs, "duration_ms", u64::max)),
    );
    set("summary", json!(results::count(&typed)));
    set(
        "rate_limit_events",
        json!(sum_or_max(inputs, "rate_limit_events", u64::saturating_add)),
    );
    set(
        "lowest_concurrency",
        json!(sum_or_max(
            inputs,
            "lowest_concurrency",
            u64::saturating_add
        )),
    );
    set(
        "final_concurrency",
        json!(sum_or_max(inputs, "final_concurrency", u64::saturating_add)),
    );
    set("conflicts", every_entry(inputs, "conflicts"));
    set(
        "usage_limit_waits",
        every_entry(inputs, "usage_limit_waits"),
    );
    if inputs.len() > 1 {
        set("conflicts_note", json!(SHARD_CONFLICTS_NOTE));
    }
    set(
        "tasks",
        Value::Array(tasks.into_iter().map(|(_, t)| t).collect()),
    );
    Ok(Value::Object(merged))
}

/// Each shard compared only its own branches: the others were on other machines.
const SHARD_CONFLICTS_NOTE: &str =
    "only branches of one shard were compared: the shards' branches are on different machines";

/// Every shard's entries of the list `field` (`conflicts`, `usage_limit_waits`), in the
/// inputs' order: each machine found its own conflicts and waited for its own usage windows.
fn every_entry(inputs: &[Input], field: &str) -> Value {
    let all = (inputs.iter())
        .filter_map(|i| i.object.get(field).and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect();
    Value::Array(all)
}

fn check_version(inputs: &[Input]) -> Result<(), Error> {
    let version = |input: &Input| input.object.get("version").and_then(Value::as_u64);
    for input in inputs {
        if version(input) != Some(u64::from(SCHEMA_VERSION)) {
            let found = input.object.get("version").cloned().unwrap_or(Value::Null);
            let differs = inputs
                .iter()
                .find(|other| version(other) != version(input))
                .map_or(String::new(), |other| {
                    format!(" ({} has version {})", other.file, other.object["version"])
                });
            return Err(Error::usage(format!(
                "{}: results schema version {found}, not {SCHEMA_VERSION}{differs}: results of different schema versions are not merged",
                input.file
            ))
            .with_hint("merge results written by porch versions of one schema: run the shards with the same porch"));
        }
    }
    Ok(())
}

/// The tasks file's hash every input must share.
fn check_tasks_file(inputs: &[Input]) -> Result<String, Error> {
    let first = &inputs[0];
    let hash_of = |input: &Input| -> Result<String, Error> {
        input
            .text("tasks_file_hash")
            .map(String::from)
            .ok_or_else(|| {
                Error::usage(format!("{}: has no tasks_file_hash", input.file)).with_hint(
                    "it was written by a porch older than merge-results: run its shard again",
                )
            })
    };
    let hash = hash_of(first)?;
    for input in &inputs[1..] {
        let other = hash_of(input)?;
        if other != hash {
            return Err(Error::usage(format!(
                "{} and {} are results of different tasks files (tasks_file_hash {} and {})",
                first.file,
                input.file,
                &hash[..hash.len().min(12)],
                &other[..other.len().min(12)]
            ))
            .with_hint("merge the shards of one tasks file: every machine must run the same file, byte for byte"));
        }
    }
    Ok(hash)
}

/// Every input's tasks, each with its file, in tasks-file order where the inputs say it
/// (`tasks_file_order`; a repeated task's rivals by their `group`), else in input order. A
/// task in two files is refused.
fn ordered_tasks(inputs: &[Input]) -> Result<Vec<(String, Value)>, Error> {
    let mut seen: HashMap<String, &str> = HashMap::new();
    let mut tasks = Vec::new();
    for input in inputs {
        for task in input.tasks() {
            let name = task["name"].as_str().unwrap_or_default().to_string();
            if let Some(earlier) = seen.insert(name.clone(), &input.file) {
                if earlier == input.file {
                    return Err(Error::usage(format!("{earlier} is given twice"))
                        .with_hint("give each shard's results file once"));
                }
                return Err(Error::usage(format!(
                    "task `{name}` is in both {earlier} and {}",
                    input.file
                ))
                .with_hint("each shard runs its own tasks: give each machine its own --shard K/N, and each results file once"));
            }
            tasks.push((input.file.clone(), task.clone()));
        }
    }
    let order: Vec<&str> = inputs
        .iter()
        .filter_map(|i| i.object.get("tasks_file_order").and_then(Value::as_array))
        .find(|list| !list.is_empty())
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let position = |task: &Value| {
        let named = |field: &str| {
            let name = task[field].as_str()?;
            order.iter().position(|n| *n == name)
        };
        named("name")
            .or_else(|| named("group"))
            .unwrap_or(usize::MAX)
    };
    tasks.sort_by_key(|(_, task)| position(task));
    Ok(tasks)
}

/// Each input's run id, shard and file: where the merged tasks came from.
fn merged_from(inputs: &[Input]) -> Value {
    inputs
        .iter()
        .map(|input| {
            json!({
                "file": input.file,
                "run_id": input.object.get("run_id").cloned().unwrap_or(Value::Null),
                "shard": input.object.get("shard").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// The inputs' values of a text field, joined by `+`.
fn joined(inputs: &[Input], field: &str) -> String {
    let texts: Vec<&str> = inputs.iter().filter_map(|i| i.text(field)).collect();
    texts.join("+")
}

/// RFC 3339 UTC times as porch writes them compare as text.
fn earliest(inputs: &[Input], field: &str) -> Option<String> {
    inputs
        .iter()
        .filter_map(|i| i.text(field))
        .min()
        .map(String::from)
}

/// The last run's end; none while any run has not ended.
fn latest_finish(inputs: &[Input]) -> Option<String> {
    let ends: Option<Vec<&str>> = inputs.iter().map(|i| i.text("finished_at")).collect();
    ends?.into_iter().max().map(String::from)
}

fn sum_or_max(inputs: &[Input], field: &str, combine: fn(u64, u64) -> u64) -> u64 {
    inputs
        .iter()
        .filter_map(|i| i.object.get(field).and_then(Value::as_u64))
        .fold(0, combine)
}

/// The shards of K/N no input holds (`3/3, 4/4`), as the first sharded input counts them;
/// empty when none is missing or nothing was sharded.
fn missing_shards(inputs: &[Input]) -> String {
    let shards: Vec<results::Shard> = inputs
        .iter()
        .filter_map(|i| serde_json::from_value(i.object.get("shard")?.clone()).ok())
        .collect();
    let Some(first) = shards.first() else {
        return String::new();
    };
    let missing: Vec<String> = (1..=first.count)
        .filter(|k| {
            !shards
                .iter()
                .any(|s| s.index == *k && s.count == first.count)
        })
        .map(|k| format!("{k}/{}", first.count))
        .collect();
    missing.join(", ")
}

/// What the user should know beyond the summary: which files were merged, and the tasks of
/// the file no input holds.
fn notes(inputs: &[Input], results: &Results) -> Vec<String> {
    let mut notes = vec![format!(
        "merged {} results file(s): {} task(s)",
        inputs.len(),
        results.tasks.len()
    )];
    let unrun: Vec<&str> = results
        .tasks_file_order
        .iter()
        .filter(|name| !results.tasks.iter().any(|t| is_run_of(&t.name, name)))
        .map(String::as_str)
        .collect();
    if !unrun.is_empty() {
        notes.push(format!(
            "{} task(s) of the tasks file are in no results file (--only, --skip, or a shard not merged): {}",
            unrun.len(),
            unrun.join(", ")
        ));
    }
    notes
}

/// Whether a result named `result` ran the task `task` of the file: itself, or a rival
/// `task-3` of it repeated.
fn is_run_of(result: &str, task: &str) -> bool {
    match result.strip_prefix(task) {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('-')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(file: &str, value: Value) -> Input {
        let Value::Object(object) = value else {
            panic!("an object")
        };
        Input {
            file: file.to_string(),
            object,
        }
    }

    /// A shard's results: version 1, tasks file hash `h`, the tasks with a status and cost.
    fn shard(file: &str, index: u32, tasks: &[(&str, &str, f64)]) -> Input {
        let tasks: Vec<Value> = tasks
            .iter()
            .map(|(name, status, cost)| json!({"name": name, "status": status, "cost_usd": cost, "extra": file}))
            .collect();
        input(
            file,
            json!({
                "version": 1, "run_id": format!("run{index}"), "tasks_file": "tasks.json",
                "tasks_file_hash": "h", "tasks_file_order": ["a", "b", "c", "d"],
                "shard": {"index": index, "count": 2}, "repo": "/src/shop",
                "started_at": format!("2026-12-01T20:0{index}:00.000Z"),
                "finished_at": format!("2026-12-01T20:1{index}:00.000Z"),
                "duration_ms": 1000 * u64::from(index), "rate_limit_events": 1,
                "lowest_concurrency": 2, "final_concurrency": 3, "tasks": tasks
            }),
        )
    }

    #[test]
    fn shards_join_in_tasks_file_order_with_counts_recomputed() {
        let merged = merge(&[
            shard(
                "2.json",
                2,
                &[("b", "failed", 0.5), ("d", "succeeded", 0.25)],
            ),
            shard(
                "1.json",
                1,
                &[("a", "succeeded", 1.0), ("c", "succeeded", 0.0)],
            ),
        ])
        .unwrap();
        let names: Vec<&str> = merged["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert_eq!(
            merged["tasks"][1]["extra"], "2.json",
            "every task field is kept"
        );
        assert_eq!(
            merged["summary"],
            json!({"total": 4, "succeeded": 3, "failed": 1, "timed_out": 0,
                   "interrupted": 0, "skipped": 0, "cost_usd": 1.75, "dropped_lines": 0})
        );
        assert_eq!(merged["run_id"], "run2+run1");
        assert_eq!(merged["shard"], Value::Null);
        assert_eq!(
            merged["merged_from"][0]["shard"],
            json!({"index": 2, "count": 2})
        );
        assert_eq!(merged["started_at"], "2026-12-01T20:01:00.000Z");
        assert_eq!(merged["finished_at"], "2026-12-01T20:12:00.000Z");
        assert_eq!(merged["duration_ms"], 2000, "the longest shard");
        assert_eq!(merged["rate_limit_events"], 2);
        assert_eq!(
            merged["final_concurrency"], 6,
            "sessions at once over all machines"
        );
        assert_eq!(merged["tasks_file_hash"], "h");
    }

    #[test]
    fn each_shards_usage_waits_are_kept_in_the_inputs_order() {
        let wait = |kind: &str| json!({"type": kind, "resets_at": null, "waited_ms": 5});
        let with_waits = |file: &str, index: u32, waits: Vec<Value>| {
            let mut shard = shard(file, index, &[("a", "succeeded", 0.0)]);
            shard
                .object
                .insert("usage_limit_waits".into(), Value::Array(waits));
            shard
        };
        let older = shard("3.json", 3, &[("c", "succeeded", 0.0)]);
        let mut second = with_waits("2.json", 2, vec![wait("seven_day")]);
        second.object.insert(
            "tasks".into(),
            json!([{"name": "b", "status": "succeeded"}]),
        );
        let merged = merge(&[
            with_waits("1.json", 1, vec![wait("five_hour")]),
            second,
            older,
        ])
        .unwrap();
        assert_eq!(
            merged["usage_limit_waits"],
            json!([wait("five_hour"), wait("seven_day")]),
            "a shard written before the field adds none"
        );
    }

    #[test]
    fn each_shards_conflicts_are_kept_and_the_note_says_shards_were_not_compared() {
        let conflict = |a: &str, b: &str| json!({"tasks": [a, b], "files": ["x"], "clean": false});
        let mut one = shard(
            "1.json",
            1,
            &[("a", "succeeded", 0.0), ("c", "succeeded", 0.0)],
        );
        let mut two = shard(
            "2.json",
            2,
            &[("b", "succeeded", 0.0), ("d", "succeeded", 0.0)],
        );
        one.object
            .insert("conflicts".into(), json!([conflict("a", "c")]));
        two.object
            .insert("conflicts".into(), json!([conflict("b", "d")]));
        let merged = merge(&[one, two]).unwrap();
        assert_eq!(
            merged["conflicts"],
            json!([conflict("a", "c"), conflict("b", "d")])
        );
        assert_eq!(merged["conflicts_note"], SHARD_CONFLICTS_NOTE);
    }

    #[test]
    fn an_unknown_order_keeps_the_input_order() {
        let mut one = shard("1.json", 1, &[("z", "succeeded", 0.0)]);
        let mut two = shard("2.json", 2, &[("y", "succeeded", 0.0)]);
        one.object.remove("tasks_file_order");
        two.object.remove("tasks_file_order");
        let merged = merge(&[one, two]).unwrap();
        assert_eq!(merged["tasks"][0]["name"], "z");
        assert_eq!(merged["tasks"][1]["name"], "y");
    }

    #[test]
    fn results_that_do_not_belong_together_are_refused_naming_the_files() {
        let with = |field: &str, value: Value| {
            let mut other = shard("2.json", 2, &[("b", "succeeded", 0.0)]);
            other.object.insert(field.to_string(), value);
            other
        };
        let without = |field: &str| {
            let mut other = shard("2.json", 2, &[("b", "succeeded", 0.0)]);
            other.object.remove(field);
            other
        };
        // (the second file, the message)
        let cases = [
            (
                with("tasks_file_hash", json!("other")),
                "1.json and 2.json are results of different tasks files (tasks_file_hash h and other)",
            ),
            (
                with("version", json!(2)),
                "2.json: results schema version 2, not 1 (1.json has version 1): results of different schema versions are not merged",
            ),
            (without("tasks_file_hash"), "2.json: has no tasks_file_hash"),
            (
                shard("2.json", 2, &[("a", "failed", 0.0)]),
                "task `a` is in both 1.json and 2.json",
            ),
        ];
        for (second, message) in cases {
            let first = shard("1.json", 1, &[("a", "succeeded", 0.0)]);
            let err = merge(&[first, second]).unwrap_err();
            assert_eq!(err.to_string(), message);
            assert!(err.hint().is_some(), "{message}: a hint");
        }
    }
}
