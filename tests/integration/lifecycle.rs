//! Sessions that end cleanly: -j, timeouts, signals, leftovers, retries, concurrent git.
//!
//! Every wait here is on a file (a pid file, a marker, the results file) or on a process, with
//! a generous deadline (see `support::process`); nothing asserts how long something took.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn text_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// Every line porch printed, for checks that no git trouble leaked out.
#[track_caller]
fn assert_no_git_trouble(run: &Run) {
    for line in run.stdout().lines().chain(run.stderr().lines()) {
        let lower = line.to_lowercase();
        for word in ["lock", "commondir", "fatal"] {
            assert!(
                !lower.contains(word),
                "porch printed {word:?} in {line:?}\n{run}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// -j: concurrency and order
// ---------------------------------------------------------------------------------------------

/// Each task records how many agents are alive when it starts, then waits for the test to let
/// it finish: the test releases them one by one and sees which starts next.
#[test]
fn jobs_limit_concurrency_and_start_in_file_order() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let dir = sandbox.path().join("sync");
    let agents = dir.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    let log = dir.join("order.log");
    // An agent counts as alive while a process with its pid runs the fixture in one of this
    // sandbox's worktrees (so a reused pid is not mistaken for it).
    let worktrees = std::fs::canonicalize(sandbox.path()).unwrap().join("wt");
    let names = ["a", "b", "c", "d", "e"];
    let tasks: Vec<(String, String)> = names
        .iter()
        .map(|name| {
            let prompt = format!(
                "@pid {agents}/{name}.pid\n\
                 @bash n=0; for f in {agents}/*.pid; do p=$(cat $f); case $(readlink /proc/$p/cwd 2>/dev/null) in {wt}/*) grep -qa stream-json /proc/$p/cmdline 2>/dev/null && n=$((n+1));; esac; done; echo \"start {name} $n\" >> {log}\n\
                 @wait-for {dir}/go-{name}\n\
                 @bash echo \"end {name}\" >> {log}\n",
                agents = agents.display(),
                dir = dir.display(),
                log = log.display(),
                wt = worktrees.display(),
            );
            (name.to_string(), prompt)
        })
        .collect();
    let tasks_file = sandbox.tasks_in("tasks.json", &tasks);
    let mut porch = sandbox
        .porch_run_tasks(&tasks_file)
        .args(["-j", "2"])
        .spawn("run");

    let starts = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("start "))
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect()
    };
    let wait_for_starts = |n: usize| {
        wait_until(&format!("{n} tasks have started"), DEADLINE, || {
            starts().len() >= n
        })
    };

    wait_for_starts(2);
    let mut first_two = starts();
    first_two.sort();
    assert_eq!(first_two, ["a", "b"], "the first two tasks start first");
    // The results file shows the same while they run.
    wait_until(
        "the results file shows a and b running, c, d and e pending",
        DEADLINE,
        || {
            sandbox.results_now().is_some_and(|r| {
                statuses(&r) == ["running", "running", "pending", "pending", "pending"]
            })
        },
    );

    // One slot frees at a time, so each release starts exactly the next task in file order.
    for (release, expected_next, count) in [("a", "c", 3), ("b", "d", 4), ("c", "e", 5)] {
        std::fs::write(dir.join(format!("go-{release}")), "").unwrap();
        wait_for_starts(count);
        let seen = starts();
        assert_eq!(
            seen.len(),
            count,
            "releasing {release} started one task, not more: {seen:?}"
        );
        assert_eq!(
            seen[count - 1],
            expected_next,
            "after {release} ended, the next task in file order starts: {seen:?}"
        );
    }
    for name in ["d", "e"] {
        std::fs::write(dir.join(format!("go-{name}")), "").unwrap();
    }
    let run = porch.wait();
    run.expect_code(0);

    // Replay: never more than two sessions between their start and end lines, and never more
    // than two agent processes alive when one starts.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut open: Vec<&str> = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        match fields[0] {
            "start" => {
                open.push(fields[1]);
                assert!(
                    open.len() <= 2,
                    "more than 2 sessions at once: {open:?}\n{text}"
                );
                // Each counts itself; c, d and e also the one still waiting for its go file.
                let alive: usize = fields[2].parse().unwrap();
                let expected = if ["a", "b"].contains(&fields[1]) {
                    1..=2
                } else {
                    2..=2
                };
                assert!(
                    expected.contains(&alive),
                    "{} saw {alive} agent processes alive when it started\n{text}",
                    fields[1]
                );
            }
            "end" => open.retain(|n| *n != fields[1]),
            other => panic!("unexpected line {other:?} in the log"),
        }
    }
    assert!(open.is_empty(), "every task logged its end:\n{text}");
    for name in names {
        assert!(
            text.contains(&format!("end {name}")),
            "{name} ended\n{text}"
        );
    }

    let results = sandbox.results();
    assert_eq!(statuses(&results), ["succeeded"; 5], "{results:#}");
    assert_eq!(results["summary"]["succeeded"], 5);
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

#[test]
fn task_timeout_ends_only_that_session_and_keeps_its_work() {
    with_a_limit_the_fixture_beats(3, |limit| {
        let sandbox = Sandbox::new();
        let _reaper = Reaper::new(&sandbox);
        let agent_pid = sandbox.path().join("slow.pid");
        let tool_pid = sandbox.path().join("slow-tool.pid");
        let tasks = sandbox.tasks_json(&json!({"tasks": [
            {
                "name": "slow",
                // The Bash tool runs in its own session, out of reach of a signal to the agent's
                // group. Its pid file is the last thing the fixture writes.
                "prompt": format!(
                    "@write partial.txt half done\n@pid {}\n@bash {}; exec sleep 300",
                    agent_pid.display(),
                    own_pid_to(&tool_pid)
                ),
                "timeout": limit,
            },
            {"name": "quick", "prompt": "@write quick.txt done"},
        ]}));
        let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
        if !tool_pid.exists() {
            return false;
        }
        run.expect_code(1);
        let results = sandbox.results();
        let slow = task(&results, "slow");
        assert_eq!(slow["status"], "timed_out", "{results:#}");
        assert!(
            text_of(&slow["error"]).contains("timed out"),
            "the error says it timed out: {slow:#}"
        );
        assert_eq!(status(&results, "quick"), "succeeded", "{results:#}");
        assert_eq!(results["summary"]["timed_out"], 1);
        // What the session wrote before porch ended it is committed on its branch.
        assert_eq!(sandbox.git(&["show", "task/slow:partial.txt"]), "half done");
        assert_eq!(sandbox.git(&["show", "task/quick:quick.txt"]), "done");
        assert_gone(read_pid(&agent_pid), "the timed-out agent");
        assert_gone(read_pid(&tool_pid), "the timed-out agent's Bash tool");
        true
    });
}

#[test]
fn global_timeout_applies_unless_the_task_sets_its_own() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let tasks = sandbox.tasks_json(&json!({"tasks": [
        {"name": "slow", "prompt": "@say working\n@sleep 300"},
        // Its own timeout overrides --timeout: it outlives the global 1s and succeeds.
        {"name": "patient", "prompt": "@sleep 3\n@write p.txt done", "timeout": "10m"},
    ]}));
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--timeout", "1s"])
        .spawn("run")
        .wait();
    run.expect_code(1);
    let results = sandbox.results();
    assert_eq!(status(&results, "slow"), "timed_out", "{results:#}");
    assert!(
        text_of(&task(&results, "slow")["error"]).contains("timed out"),
        "{results:#}"
    );
    assert_eq!(status(&results, "patient"), "succeeded", "{results:#}");
}

#[test]
fn idle_timeout_ends_a_silent_session() {
    with_a_limit_the_fixture_beats(2, |limit| {
        let sandbox = Sandbox::new();
        let _reaper = Reaper::new(&sandbox);
        let agent_pid = sandbox.path().join("quiet.pid");
        let tasks = sandbox.tasks(&[(
            "quiet",
            &format!(
                "@say hello, then nothing\n@pid {}\n@sleep 300",
                agent_pid.display()
            ),
        )]);
        let run = sandbox
            .porch_run_tasks(&tasks)
            .args(["--idle-timeout", limit])
            .spawn("run")
            .wait();
        if !agent_pid.exists() {
            return false;
        }
        run.expect_code(1);
        run.expect_stdout("hello, then nothing");
        let results = sandbox.results();
        let quiet = task(&results, "quiet");
        assert_eq!(quiet["status"], "timed_out", "{results:#}");
        assert!(
            text_of(&quiet["error"]).contains("--idle-timeout"),
            "the error names the idle timeout: {quiet:#}"
        );
        assert_gone(read_pid(&agent_pid), "the idle agent");
        true
    });
}

// ---------------------------------------------------------------------------------------------
// Sessions that do not end by themselves, and what they leave behind
// ---------------------------------------------------------------------------------------------

#[test]
fn hang_after_result_is_a_success_with_a_warning_and_the_process_is_ended() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    // The fixture `exec`s sleep after its result event: the pid stays the same.
    let agent_pid = sandbox.path().join("hang.pid");
    let tasks = sandbox.tasks(&[(
        "hang",
        &format!("@write out.txt ok\n@pid {}\n@hang", agent_pid.display()),
    )]);
    let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
    run.expect_code(0);
    let results = sandbox.results();
    let hang = task(&results, "hang");
    assert_eq!(hang["status"], "succeeded", "{results:#}");
    let warnings = hang["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| text_of(w).contains("did not exit")),
        "a warning says it did not exit: {hang:#}"
    );
    assert_eq!(sandbox.git(&["show", "task/hang:out.txt"]), "ok");
    assert_gone(read_pid(&agent_pid), "the hung agent (exec'd sleep)");
}

/// A session that printed a successful result and then hung, ended by `flag` at `limit`: judged
/// by its result, whether the limit comes before the 5 s grace after the result or after it.
/// False (asserting nothing) when the fixture had not printed its result before the limit.
fn hung_after_result_is_judged_by_its_result(flag: &str, limit: &str) -> bool {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let agent_pid = sandbox.path().join("hang.pid");
    let tasks = sandbox.tasks(&[(
        "hang",
        &format!("@write out.txt ok\n@pid {}\n@hang", agent_pid.display()),
    )]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args([flag, limit])
        .spawn("run")
        .wait();
    let results = sandbox.results();
    let hang = task(&results, "hang");
    if hang["result"].is_null() {
        return false;
    }
    run.expect_code(0);
    assert_eq!(hang["status"], "succeeded", "{flag} {limit}: {results:#}");
    assert!(hang["error"].is_null(), "{results:#}");
    let warnings = hang["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| text_of(w).contains("did not exit")),
        "a warning says it did not exit: {hang:#}"
    );
    assert_eq!(sandbox.git(&["show", "task/hang:out.txt"]), "ok");
    assert_gone(read_pid(&agent_pid), "the hung agent (exec'd sleep)");
    true
}

#[test]
fn hang_after_result_with_a_timeout_shorter_than_the_grace_is_still_a_success() {
    with_a_limit_the_fixture_beats(1, |limit| {
        hung_after_result_is_judged_by_its_result("--timeout", limit)
    });
}

#[test]
fn hang_after_result_with_an_idle_timeout_shorter_than_the_grace_is_still_a_success() {
    with_a_limit_the_fixture_beats(1, |limit| {
        hung_after_result_is_judged_by_its_result("--idle-timeout", limit)
    });
}

#[test]
fn hang_after_result_with_limits_longer_than_the_grace_is_a_success() {
    for flag in ["--timeout", "--idle-timeout"] {
        assert!(
            hung_after_result_is_judged_by_its_result(flag, "10m"),
            "the fixture printed its result within 10 minutes"
        );
    }
}

/// A child the session left behind holds the agent's stdout open: porch must not wait for
/// end-of-file on the pipe, but for the agent, then end the child (it carries the marker).
#[test]
fn leftover_holding_stdout_is_ended_and_does_not_block_the_run() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let agent_pid = sandbox.path().join("agent.pid");
    let holder_pid = sandbox.path().join("holder.pid");
    let prompt = format!(
        "@pid {agent}\n\
         @holds-stdout {holder_cmd}; exec sleep 300\n\
         @wait-for {holder}\n\
         @say the agent is done\n",
        agent = agent_pid.display(),
        holder_cmd = own_pid_to(&holder_pid),
        holder = holder_pid.display(),
    );
    let tasks = sandbox.tasks(&[("holder", &prompt)]);
    let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
    run.expect_code(0);
    run.expect_stdout("the agent is done");
    run.expect_stdout("ended 1 process the session left running");
    let results = sandbox.results();
    assert_eq!(status(&results, "holder"), "succeeded", "{results:#}");
    assert_eq!(task(&results, "holder")["leftover_processes"], 1);
    assert_gone(read_pid(&holder_pid), "the child holding stdout");
    assert_gone(read_pid(&agent_pid), "the agent");
}

/// The same, but the child cleared its environment (no marker) and left the session, while
/// another session runs: porch cannot tell whose it is (see the subreaper in docs/design.md), so
/// it gives up on the pipe after its drain deadline and finishes the task; the holder is ended
/// when the run ends.
#[test]
fn escaped_process_holding_stdout_does_not_keep_porch_running() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let agent_pid = sandbox.path().join("agent.pid");
    let holder_pid = sandbox.path().join("holder.pid");
    let other_started = sandbox.path().join("other-started");
    let go = sandbox.path().join("go");
    // `env -i` drops porch's marker before the pid file is written (exec keeps the pid), so
    // once the file is there the holder is out of porch's sight.
    let prompt = format!(
        "@wait-for {other}\n\
         @pid {agent}\n\
         @holds-stdout exec env -i sh -c '{holder_cmd}; exec sleep 600'\n\
         @wait-for {holder}\n\
         @say the agent is done\n",
        other = other_started.display(),
        agent = agent_pid.display(),
        holder_cmd = own_pid_to(&holder_pid),
        holder = holder_pid.display(),
    );
    let other = format!(
        "@touch {}\n@wait-for {}",
        other_started.display(),
        go.display()
    );
    let tasks = sandbox.tasks(&[("escaped", &prompt), ("other", &other)]);
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("run");
    wait_until("the escaped task has finished", RUN_DEADLINE, || {
        sandbox
            .results_now()
            .is_some_and(|r| status(&r, "escaped") == "succeeded")
    });
    let holder = read_pid(&holder_pid);
    // Whether a poll saw the holder under the agent before the agent exited depends on when
    // the polls fell: seen, it is the session's leftover, ended with it; not seen, it runs on
    // until the run ends. Either way it is accounted for once, and porch does not wait for it.
    let results = sandbox.results();
    let charged = task(&results, "escaped")["leftover_processes"]
        .as_u64()
        .unwrap();
    if charged == 0 {
        assert!(
            !is_gone(holder),
            "the holder runs on while another session runs"
        );
    }
    std::fs::write(&go, "").unwrap();
    let run = porch.wait_within(Duration::from_secs(120));
    run.expect_code(0);
    assert_gone(holder, "the escaped holder, at the end of the run");
    match charged {
        0 => {
            run.expect_stdout("still holds the session's output open");
            run.expect_stderr("ended 1 process(es) that escaped their session");
        }
        1 => {
            run.expect_stdout(&format!("the session left running: sleep (pid {holder})"));
            assert!(!run.stderr().contains("escaped their session"), "{run}");
        }
        other => panic!("the holder is one process, charged {other} times:\n{run}"),
    }
}

fn background_task_prompt(bg_pid: &Path) -> String {
    // The fixture waits for the pid file, so the process is there before the agent exits.
    format!(
        "@background {}; exec sleep 300\n@wait-for {}\n@say started a server",
        own_pid_to(bg_pid),
        bg_pid.display()
    )
}

#[test]
fn leftovers_are_ended_by_default() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let bg_pid = sandbox.path().join("bg.pid");
    let tasks = sandbox.tasks(&[("server", &background_task_prompt(&bg_pid))]);
    let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
    run.expect_code(0);
    run.expect_stdout("ended 1 process the session left running");
    let pid = read_pid(&bg_pid);
    assert!(
        is_gone(pid),
        "porch exited before the background process {pid} was gone\n{run}"
    );
    let results = sandbox.results();
    let server = task(&results, "server");
    assert_eq!(server["status"], "succeeded", "{results:#}");
    assert_eq!(server["leftover_processes"], 1, "{results:#}");
}

#[test]
fn keep_leftovers_leaves_the_background_process_running() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let bg_pid = sandbox.path().join("bg.pid");
    let tasks = sandbox.tasks(&[("server", &background_task_prompt(&bg_pid))]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--keep-leftovers"])
        .spawn("run")
        .wait();
    run.expect_code(0);
    run.expect_stdout("left 1 process the session started running (--keep-leftovers)");
    let results = sandbox.results();
    let server = task(&results, "server");
    assert_eq!(server["status"], "succeeded", "{results:#}");
    assert_eq!(server["leftover_processes"], 1, "{results:#}");
    let pid = read_pid(&bg_pid);
    assert!(
        !is_gone(pid),
        "with --keep-leftovers the background process outlives porch"
    );
    sigkill_quietly(pid);
    assert_gone(pid, "the background process, killed by the test");
}

/// --keep-leftovers keeps what a session that ended by itself left; a session porch had to end
/// (here on a timeout) is ended whole.
#[test]
fn keep_leftovers_does_not_keep_the_processes_of_a_timed_out_session() {
    with_a_limit_the_fixture_beats(3, |limit| {
        let sandbox = Sandbox::new();
        let _reaper = Reaper::new(&sandbox);
        let bg_pid = sandbox.path().join("bg.pid");
        let prompt = format!(
            "@background {}; exec sleep 300\n@wait-for {}\n@sleep 300",
            own_pid_to(&bg_pid),
            bg_pid.display()
        );
        let tasks = sandbox.tasks(&[("stuck", &prompt)]);
        let run = sandbox
            .porch_run_tasks(&tasks)
            .args(["--keep-leftovers", "--timeout", limit])
            .spawn("run")
            .wait();
        if !bg_pid.exists() {
            return false;
        }
        run.expect_code(1);
        assert_eq!(status(&sandbox.results(), "stuck"), "timed_out", "{run}");
        assert_gone(
            read_pid(&bg_pid),
            "the timed-out session's background process",
        );
        true
    });
}

// ---------------------------------------------------------------------------------------------
// Signals to porch
// ---------------------------------------------------------------------------------------------

struct SignalCase {
    name: &'static str,
    code: i32,
}

/// Three sessions run (two with a background process and a Bash tool in their own sessions, one
/// waiting for a file that never comes), a fourth waits for a slot (-j 3); then porch gets
/// `signal`.
fn interrupt_run(case: SignalCase) {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let dir = sandbox.path().join("pids");
    std::fs::create_dir_all(&dir).unwrap();
    let mut pid_files = Vec::new();
    let mut tasks = Vec::new();
    for name in ["a", "b"] {
        let agent = dir.join(format!("{name}.pid"));
        let bg = dir.join(format!("{name}-bg.pid"));
        let tool = dir.join(format!("{name}-tool.pid"));
        let prompt = format!(
            "@write x.txt work of {name}\n\
             @pid {agent}\n\
             @background {bg_cmd}; exec sleep 300\n\
             @bash {tool_cmd}; exec sleep 300\n",
            agent = agent.display(),
            bg_cmd = own_pid_to(&bg),
            tool_cmd = own_pid_to(&tool),
        );
        pid_files.extend([
            (agent, format!("{name}'s agent")),
            (bg, format!("{name}'s background process")),
            (tool, format!("{name}'s Bash tool")),
        ]);
        tasks.push((name.to_string(), prompt));
    }
    let waiter = dir.join("c.pid");
    tasks.push((
        "c".to_string(),
        format!(
            "@write x.txt work of c\n@pid {}\n@wait-for {}/never",
            waiter.display(),
            dir.display()
        ),
    ));
    pid_files.push((waiter, "c's agent".to_string()));
    tasks.push(("d".to_string(), "@write x.txt never written".to_string()));
    let tasks_file = sandbox.tasks_in("tasks.json", &tasks);

    let mut porch = sandbox
        .porch_run_tasks(&tasks_file)
        .args(["-j", "3"])
        .spawn("run");
    let pids: Vec<(u32, String)> = pid_files
        .iter()
        .map(|(path, what)| (read_pid(path), what.clone()))
        .collect();
    porch.signal(case.name.trim_start_matches("SIG"));
    let run = porch.wait();
    run.expect_code(case.code);
    run.expect_stderr(case.name);

    let results = sandbox.results();
    assert!(
        results["finished_at"].is_string(),
        "the final results are written: {results:#}"
    );
    for name in ["a", "b", "c"] {
        let t = task(&results, name);
        assert_eq!(t["status"], "interrupted", "{name}: {results:#}");
        assert!(
            text_of(&t["error"]).contains(case.name),
            "{name}'s error names the signal: {t:#}"
        );
        // The work of an interrupted session is committed on its branch.
        assert_eq!(
            sandbox.git(&["show", &format!("task/{name}:x.txt")]),
            format!("work of {name}")
        );
    }
    let d = task(&results, "d");
    assert_eq!(d["status"], "skipped", "{results:#}");
    assert!(text_of(&d["error"]).contains("not started"), "{d:#}");
    assert!(
        !sandbox.branches().contains(&"task/d".to_string()),
        "a skipped task creates no branch"
    );
    assert_eq!(results["summary"]["interrupted"], 3);
    assert_eq!(results["summary"]["skipped"], 1);

    for (pid, what) in pids {
        assert_gone(pid, &what);
    }
}

#[test]
fn sigint_ends_sessions_keeps_work_and_exits_130() {
    interrupt_run(SignalCase {
        name: "SIGINT",
        code: 130,
    });
}

#[test]
fn sigterm_ends_sessions_keeps_work_and_exits_143() {
    interrupt_run(SignalCase {
        name: "SIGTERM",
        code: 143,
    });
}

#[test]
fn sighup_ends_sessions_keeps_work_and_exits_129() {
    interrupt_run(SignalCase {
        name: "SIGHUP",
        code: 129,
    });
}

/// An agent that ignores SIGTERM, like claude while a Bash tool runs: a wrapper ignores the
/// signal and execs the fixture (an ignored signal stays ignored across exec, and bash cannot
/// trap a signal ignored on entry). Its Bash tool inherits that too.
fn stubborn_agent(sandbox: &Sandbox) -> PathBuf {
    write_script(
        &sandbox.path().join("bin").join("stubborn-claude"),
        &format!(
            "#!/bin/sh\ntrap '' TERM\nexec '{}' \"$@\"\n",
            fixture_agent().display()
        ),
    )
}

fn stubborn_run(second_sigint: bool) {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let agent_pid = sandbox.path().join("agent.pid");
    let tool_pid = sandbox.path().join("tool.pid");
    let prompt = format!(
        "@write x.txt stubborn\n@pid {}\n@bash {}; exec sleep 300\n",
        agent_pid.display(),
        own_pid_to(&tool_pid)
    );
    let tasks = sandbox.tasks(&[("stubborn", &prompt)]);
    let mut porch = sandbox
        .porch_run_tasks(&tasks)
        .agent(stubborn_agent(&sandbox))
        .spawn("run");
    let agent = read_pid(&agent_pid);
    let tool = read_pid(&tool_pid);
    porch.signal("INT");
    if second_sigint {
        wait_until("porch announces the first SIGINT", DEADLINE, || {
            porch.stderr_text().contains("received signal 2 (SIGINT)")
        });
        porch.signal("INT");
    }
    let run = porch.wait();
    run.expect_code(130);
    run.expect_stderr("SIGINT");
    let results = sandbox.results();
    let t = task(&results, "stubborn");
    assert_eq!(t["status"], "interrupted", "{results:#}");
    assert_eq!(t["signal"], 9, "only SIGKILL ends it: {t:#}");
    assert_eq!(
        sandbox.git(&["show", "task/stubborn:x.txt"]),
        "stubborn",
        "the work is committed"
    );
    assert_gone(agent, "the agent that ignores SIGTERM");
    assert_gone(tool, "its Bash tool that ignores SIGTERM");
}

#[test]
fn sigint_escalates_to_sigkill_for_an_agent_that_ignores_sigterm() {
    stubborn_run(false);
}

#[test]
fn second_sigint_ends_sessions_at_once() {
    stubborn_run(true);
}

/// SIGKILL cannot be caught: what porch wrote before it died must still make sense, and `porch
/// list` must show what the run left.
#[test]
fn sigkill_leaves_a_valid_results_file_and_porch_list_shows_the_leftovers() {
    let sandbox = Sandbox::new();
    let reaper = Reaper::new(&sandbox);
    let dir = sandbox.path().join("pids");
    std::fs::create_dir_all(&dir).unwrap();
    let mut tasks = Vec::new();
    for name in ["a", "b", "c"] {
        let pid = dir.join(format!("{name}.pid"));
        tasks.push((
            name.to_string(),
            format!(
                "@write x.txt {name}\n@pid {}\n@wait-for {}/never",
                pid.display(),
                dir.display()
            ),
        ));
    }
    let tasks_file = sandbox.tasks_in("tasks.json", &tasks);
    let mut porch = sandbox
        .porch_run_tasks(&tasks_file)
        .args(["-j", "2"])
        .spawn("run");
    let agents = [read_pid(&dir.join("a.pid")), read_pid(&dir.join("b.pid"))];
    wait_until("the results file shows a and b running", DEADLINE, || {
        sandbox
            .results_now()
            .is_some_and(|r| statuses(&r) == ["running", "running", "pending"])
    });
    porch.signal("KILL");
    let killed = porch.wait();
    assert_eq!(killed.code(), None, "porch died of SIGKILL\n{killed}");

    // The orphaned sessions go on without porch; end them (and what they started) first.
    reaper.kill_all();
    for pid in agents {
        assert_gone(pid, "an orphaned agent, killed by the test");
    }

    let results = sandbox.results();
    assert_eq!(
        statuses(&results),
        ["running", "running", "pending"],
        "{results:#}"
    );
    assert!(results["finished_at"].is_null(), "{results:#}");
    for name in ["a", "b", "c"] {
        let t = task(&results, name);
        assert_eq!(t["branch"], format!("task/{name}"));
        assert!(t["worktree"].as_str().unwrap().ends_with(name));
    }

    let branches = sandbox.branches();
    let worktrees = sandbox.worktrees();
    for name in ["a", "b"] {
        assert!(branches.contains(&format!("task/{name}")), "{branches:?}");
        let path = sandbox.worktree(name).display().to_string();
        assert!(worktrees.contains(&path), "{worktrees:?}");
    }
    assert!(!branches.contains(&"task/c".to_string()), "{branches:?}");

    let list = sandbox.porch(&["list"]).arg(sandbox.repo()).run();
    list.expect_code(0);
    for name in ["a", "b"] {
        list.expect_stdout(&sandbox.worktree(name).display().to_string());
        list.expect_stdout(&format!("task/{name}"));
    }
    assert!(!list.stdout().contains("task/c"), "{list}");
}

/// Whether any live process is in process group `pgid` (field 5 of `/proc/PID/stat`).
fn group_has_members(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        let Some((_, after_name)) = stat.rsplit_once(')') else {
            return false;
        };
        after_name.split_whitespace().nth(2) == Some(pgid.to_string().as_str()) && !is_gone(pid)
    })
}

/// The OOM killer's SIGKILL: porch cannot act, but its agents must not run on without it. Each
/// agent dies with porch (a parent-death signal), and with it its process group.
#[test]
fn sigkill_to_porch_ends_its_agents_and_their_groups() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let dir = sandbox.path().join("pids");
    std::fs::create_dir_all(&dir).unwrap();
    let tasks: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            (
                name.to_string(),
                format!(
                    "@write x.txt {name}\n@pid {}/{name}.pid\n@wait-for {}/never",
                    dir.display(),
                    dir.display()
                ),
            )
        })
        .collect();
    let tasks_file = sandbox.tasks_in("tasks.json", &tasks);
    let mut porch = sandbox.porch_run_tasks(&tasks_file).spawn("run");
    // Each agent leads its own process group: its pid is the group's id.
    let agents = [read_pid(&dir.join("a.pid")), read_pid(&dir.join("b.pid"))];
    for pid in agents {
        assert!(group_has_members(pid), "agent {pid} runs in its group");
    }
    porch.signal("KILL");
    let killed = porch.wait();
    assert_eq!(killed.code(), None, "porch died of SIGKILL\n{killed}");
    for pid in agents {
        assert_gone(pid, "an agent whose porch was killed");
        wait_until(
            &format!("process group {pid} is empty"),
            GONE_DEADLINE,
            || !group_has_members(pid),
        );
    }
}

/// The state letter of `/proc/PID/stat` (`T` for stopped), or `None` for a process gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Ctrl-Z: the sessions run in groups of their own, out of the terminal's reach, so porch stops
/// them (the agent's group and its Bash tool's own session alike) before stopping itself, and
/// continues them when it is continued.
#[test]
fn sigtstp_stops_the_sessions_with_porch_and_sigcont_continues_them() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let agent_pid = sandbox.path().join("agent.pid");
    let tool_pid = sandbox.path().join("tool.pid");
    let go = sandbox.path().join("go");
    let tasks = sandbox.tasks(&[(
        "work",
        &format!(
            "@pid {}\n@bash {} && while [ ! -e {} ]; do sleep 0.05; done\n@write x.txt done",
            agent_pid.display(),
            own_pid_to(&tool_pid),
            go.display()
        ),
    )]);
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("run");
    let agent = read_pid(&agent_pid);
    let tool = read_pid(&tool_pid);
    porch.signal("TSTP");
    for (pid, what) in [
        (porch.pid(), "porch"),
        (agent, "the agent"),
        (tool, "its Bash tool, in a session of its own"),
    ] {
        wait_until(&format!("{what} is stopped"), DEADLINE, || {
            process_state(pid) == Some('T')
        });
    }
    std::fs::write(&go, "").unwrap();
    porch.signal("CONT");
    let run = porch.wait();
    run.expect_code(0);
    assert_eq!(status(&sandbox.results(), "work"), "succeeded");
    assert_eq!(sandbox.git(&["show", "task/work:x.txt"]), "done");
}

/// A process that wiped its environment (`env -i`, so no `PORCH_SESSION`) in a session of its
/// own (so out of the agent's group), started by a process of the session that still runs when
/// the agent exits: porch records each session's process tree, so the escapee is that
/// session's leftover, ended with it, counted in its `leftover_processes` and named in its
/// `[porch]` line, not left for the run's end.
#[test]
fn an_escapee_without_the_marker_is_charged_to_its_session() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let escapee_pid = sandbox.path().join("escapee.pid");
    let parent_pid = sandbox.path().join("parent.pid");
    let script = write_script(
        &sandbox.path().join("bin/escape.sh"),
        &format!(
            "#!/bin/sh\n{}\nsetsid env -i PATH=/usr/bin:/bin sh -c '{}; exec sleep 1000' >/dev/null 2>&1 &\nexec sleep 1000\n",
            own_pid_to(&parent_pid),
            own_pid_to(&escapee_pid)
        ),
    );
    let tasks = sandbox.tasks(&[(
        "escape",
        &format!(
            "@bash setsid {} >/dev/null 2>&1 &\n@wait-for {}\n@write x.txt done",
            script.display(),
            escapee_pid.display()
        ),
    )]);
    let run = sandbox.porch_run_tasks(&tasks).spawn("run").wait();
    run.expect_code(0);
    let escapee = read_pid(&escapee_pid);
    let parent = read_pid(&parent_pid);
    assert_gone(escapee, "the process that wiped its environment");
    assert_gone(parent, "its parent, marked");
    assert_eq!(task(&sandbox.results(), "escape")["leftover_processes"], 2);
    run.expect_stdout("ended 2 processes the session left running: ");
    run.expect_stdout(&format!("(pid {escapee})"));
    assert!(
        !run.stderr().contains("escaped their session"),
        "nothing is left for the run's end:\n{run}"
    );
    assert_eq!(sandbox.git(&["show", "task/escape:x.txt"]), "done");
}

/// An escapee porch never saw under a session (a setup command started it: no agent's tree
/// holds it): no task is charged with it; it is ended when the run ends, said on stderr, and
/// runs on until then, while another session runs.
#[test]
fn an_escapee_that_no_session_can_claim_is_ended_when_the_run_ends() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let escapee_pid = sandbox.path().join("escapee.pid");
    let other_started = sandbox.path().join("other-started");
    let go = sandbox.path().join("go");
    let escape = format!(
        "setsid env -i PATH=/usr/bin:/bin sh -c '{}; exec sleep 1000' >/dev/null 2>&1 &",
        own_pid_to(&escapee_pid)
    );
    let tasks = sandbox.tasks_json(&serde_json::json!({ "tasks": [
        {
            "name": "escape",
            "setup": ["sh", "-c", escape],
            "prompt": format!("@wait-for {}\n@wait-for {}", other_started.display(), escapee_pid.display()),
        },
        {
            "name": "other",
            "prompt": format!("@touch {}\n@wait-for {}", other_started.display(), go.display()),
        },
    ]}));
    let mut porch = sandbox.porch_run_tasks(&tasks).spawn("run");
    let escapee = read_pid(&escapee_pid);
    wait_until("the task that made the escapee has ended", DEADLINE, || {
        sandbox
            .results_now()
            .is_some_and(|r| status(&r, "escape") == "succeeded")
    });
    assert!(
        !is_gone(escapee),
        "the escapee runs on while the other session runs"
    );
    std::fs::write(&go, "").unwrap();
    let run = porch.wait();
    run.expect_code(0);
    assert_gone(escapee, "the escapee, at the end of the run");
    run.expect_stderr("ended 1 process(es) that escaped their session");
    let results = sandbox.results();
    for name in ["escape", "other"] {
        assert_eq!(task(&results, name)["leftover_processes"], 0, "{results:#}");
    }
}

/// A signal while a task waits to retry: porch does not sit out the backoff; the task, started
/// and stopped by the signal, is `interrupted` with the signal named; and what the failed attempt
/// wrote is committed on the task's branch, as for any interrupted task.
#[test]
fn sigint_during_retry_backoff_interrupts_promptly_and_keeps_the_attempt() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let counter = sandbox.path().join("counter");
    let prompt = format!(
        "@write partial.txt p\n@fail-times 5 {} 529 Overloaded\n",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("flaky", &prompt)]);
    let mut porch = // A backoff longer than RUN_DEADLINE: porch only finishes in time if the signal cuts it.
sandbox.porch_run_tasks(&tasks).args(["--retries", "2", "--retry-backoff", "1h"]).spawn("run");
    wait_until("porch announces the retry", DEADLINE, || {
        porch.stdout_text().contains("attempt 2 of 3")
    });
    porch.signal("INT");
    porch.wait().expect_code(130);
    let results = sandbox.results();
    let t = task(&results, "flaky");
    assert_eq!(t["status"], "interrupted", "{t:#}");
    assert!(text_of(&t["error"]).contains("SIGINT"), "{t:#}");
    assert_eq!(t["attempts"].as_array().unwrap().len(), 1, "{t:#}");
    assert_eq!(sandbox.git(&["show", "task/flaky:partial.txt"]), "p");
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

#[test]
fn transient_error_is_retried_from_a_clean_worktree() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    // Outside the worktree: porch resets and cleans the worktree between attempts.
    let counter = sandbox.path().join("counter");
    let c = counter.display();
    // Only the first attempt (no counter yet) writes partial.txt; every attempt writes final.txt
    // after the transient failure point.
    let prompt = format!(
        "@bash [ -e {c} ] || echo partial > partial.txt\n\
         @fail-times 1 {c} 529 Overloaded\n\
         @write final.txt final\n"
    );
    let tasks = sandbox.tasks(&[("flaky", &prompt)]);
    let args_dir = sandbox.path().join("args");
    std::fs::create_dir(&args_dir).unwrap();
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--retries", "2", "--retry-backoff", "100ms"])
        .record_agent_runs(&args_dir)
        .spawn("run")
        .wait();
    run.expect_code(0);
    // The retry starts claude exactly as the first attempt did.
    for attempt in [1, 2] {
        assert_eq!(
            recorded_argv(&args_dir, "flaky", attempt),
            expected_claude_argv("acceptEdits", &[]),
            "attempt {attempt}\n{run}"
        );
    }
    assert!(!args_dir.join("flaky.3.argv").exists(), "{run}");
    let results = sandbox.results();
    let t = task(&results, "flaky");
    assert_eq!(t["status"], "succeeded", "{results:#}");
    let attempts = t["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{t:#}");
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[0]["status"], "failed", "{t:#}");
    assert!(
        text_of(&attempts[0]["error"]).contains("529"),
        "{attempts:#?}"
    );
    assert_eq!(
        attempts[0]["saved_work"], "refs/porch/attempts/flaky/1",
        "{t:#}"
    );
    assert_eq!(attempts[1]["attempt"], 2);
    assert_eq!(attempts[1]["status"], "succeeded", "{t:#}");
    assert!(attempts[1]["saved_work"].is_null(), "{t:#}");
    let first = attempts[0]["cost_usd"]
        .as_f64()
        .expect("attempt 1 has a cost");
    let second = attempts[1]["cost_usd"]
        .as_f64()
        .expect("attempt 2 has a cost");
    let total = t["cost_usd"].as_f64().unwrap();
    assert!(
        (total - (first + second)).abs() < 1e-9,
        "the task's cost is both attempts' together: {t:#}"
    );
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "2");

    // Attempt 1's work is kept aside; the branch holds only attempt 2's.
    assert_eq!(
        sandbox.git(&["show", "refs/porch/attempts/flaky/1:partial.txt"]),
        "partial\n"
    );
    assert_eq!(sandbox.git(&["show", "task/flaky:final.txt"]), "final");
    let files = sandbox.git(&["ls-tree", "-r", "--name-only", "task/flaky"]);
    assert!(
        !files.lines().any(|f| f == "partial.txt"),
        "the retry started from a clean worktree, so partial.txt is not on the branch: {files}"
    );
    assert!(!sandbox.worktree("flaky").join("partial.txt").exists());
}

#[test]
fn non_transient_error_is_not_retried() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let tasks = sandbox.tasks(&[("bad", "@write w.txt w\n@api-error 400 bad request")]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--retries", "2", "--retry-backoff", "100ms"])
        .spawn("run")
        .wait();
    run.expect_code(1);
    let results = sandbox.results();
    let t = task(&results, "bad");
    assert_eq!(t["status"], "failed", "{results:#}");
    assert_eq!(t["attempts"].as_array().unwrap().len(), 1, "{t:#}");
    assert!(text_of(&t["error"]).contains("400"), "{t:#}");
    let refs = sandbox.git(&["for-each-ref", "refs/porch/"]);
    assert!(refs.is_empty(), "nothing was set aside: {refs}");
    // The failed session's work is still committed on its branch.
    assert_eq!(sandbox.git(&["show", "task/bad:w.txt"]), "w");
}

#[test]
fn retries_run_out() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let counter = sandbox.path().join("counter");
    let prompt = format!(
        "@write w.txt w\n@fail-times 10 {} 529 Overloaded\n",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("doomed", &prompt)]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--retries", "2", "--retry-backoff", "100ms"])
        .spawn("run")
        .wait();
    run.expect_code(1);
    let results = sandbox.results();
    let t = task(&results, "doomed");
    assert_eq!(t["status"], "failed", "{results:#}");
    let attempts = t["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "1 + 2 retries: {t:#}");
    assert!(attempts.iter().all(|a| a["status"] == "failed"), "{t:#}");
    assert_eq!(attempts[0]["saved_work"], "refs/porch/attempts/doomed/1");
    assert_eq!(attempts[1]["saved_work"], "refs/porch/attempts/doomed/2");
    assert!(attempts[2]["saved_work"].is_null(), "{t:#}");
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "3");
}

// ---------------------------------------------------------------------------------------------
// git under pressure
// ---------------------------------------------------------------------------------------------

#[test]
fn sixty_four_tasks_at_once_repeatedly() {
    for repeat in 0..5 {
        let sandbox = Sandbox::new();
        let _reaper = Reaper::new(&sandbox);
        let tasks: Vec<(String, String)> = (0..64)
            .map(|i| {
                let name = format!("t{i:02}");
                let prompt = format!("@write f.txt {name}");
                (name, prompt)
            })
            .collect();
        let tasks_file = sandbox.tasks_in("tasks.json", &tasks);
        // Odd repeats also remove the 64 worktrees at once (--cleanup).
        let cleanup = repeat % 2 == 1;
        let flags: &[&str] = if cleanup {
            &["-j", "64", "--cleanup"]
        } else {
            &["-j", "64"]
        };
        // 64 sessions, then 2016 pairs of branches that share f.txt, each merged in memory: on
        // a loaded 2-core machine that is minutes, past the deadline of an ordinary run.
        let run = sandbox
            .porch_run_tasks(&tasks_file)
            .args(flags)
            .spawn("run")
            .wait_within(RUN_DEADLINE * 4);
        run.expect_code(0);
        assert_no_git_trouble(&run);
        let results = sandbox.results();
        assert_eq!(
            results["summary"]["succeeded"], 64,
            "repeat {repeat}: {results:#}"
        );
        let branches = sandbox.branches();
        for (name, _) in &tasks {
            let branch = format!("task/{name}");
            assert!(
                branches.contains(&branch),
                "repeat {repeat}: {branch} missing"
            );
            assert_eq!(
                sandbox.git(&["show", &format!("{branch}:f.txt")]),
                *name,
                "repeat {repeat}"
            );
        }
        let expected = if cleanup { 1 } else { 65 };
        assert_eq!(
            sandbox.worktrees().len(),
            expected,
            "repeat {repeat}: {:?}",
            sandbox.worktrees()
        );
    }
}

#[test]
fn two_porch_processes_on_one_repository() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let mut porches = Vec::new();
    for group in ["x", "y"] {
        let tasks: Vec<(String, String)> = (0..16)
            .map(|i| {
                let name = format!("{group}{i:02}");
                let prompt = format!("@write f.txt {name}");
                (name, prompt)
            })
            .collect();
        let tasks_file = sandbox.tasks_in(&format!("tasks-{group}.json"), &tasks);
        let output = sandbox.path().join(format!("results-{group}.json"));
        let porch = sandbox
            .porch_run_tasks(&tasks_file)
            .output(&output)
            .spawn(group);
        porches.push((porch, output, tasks));
    }
    for (porch, output, tasks) in &mut porches {
        let run = porch.wait();
        run.expect_code(0);
        assert_no_git_trouble(&run);
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(&*output).unwrap()).unwrap();
        assert_eq!(results["summary"]["succeeded"], 16, "{results:#}");
        for (name, _) in tasks.iter() {
            assert_eq!(sandbox.git(&["show", &format!("task/{name}:f.txt")]), *name);
        }
    }
    let task_branches = sandbox
        .branches()
        .into_iter()
        .filter(|b| b.starts_with("task/"))
        .count();
    assert_eq!(task_branches, 32);
    assert_eq!(sandbox.worktrees().len(), 33);
}

/// A user's `git worktree add` running beside porch writes its entry's `gitdir`, then creates
/// `commondir` empty and writes it, and a `git worktree list` that reads it then dies ("failed to read
/// .git/worktrees/<id>/commondir"): seen with a loop of adds beside a 40-task run, whose
/// preflight failed. The fake git makes that moment happen at porch's first list.
/// `--cleanup`'s `git worktree remove` met it likewise, and kept the worktree; and so did
/// `git worktree add` where git registers (here: per-worktree config), and the task failed.
#[test]
fn a_worktree_list_that_meets_a_users_add_half_written_is_read_again() {
    let calls = [
        ("worktree list", &[][..]),
        ("worktree remove", &["--cleanup"]),
        ("worktree add", &[]),
    ];
    for (git_call, flags) in calls {
        let sandbox = Sandbox::new();
        let _reaper = Reaper::new(&sandbox);
        if git_call == "worktree add" {
            sandbox.git(&["config", "extensions.worktreeConfig", "true"]);
        }
        let run = meet_a_users_add_half_written(&sandbox, git_call, flags);
        run.expect_code(0);
        assert_eq!(sandbox.git(&["show", "task/fine:f.txt"]), "fine");
        let cleaned = flags.is_empty() || !sandbox.worktree("fine").exists();
        assert!(cleaned, "{git_call}: the worktree is kept\n{run}");
    }
}

/// A run of one task during which the first `git_call` (`worktree list`, …) meets the entry
/// of a user's `git worktree add` half-written.
fn meet_a_users_add_half_written(sandbox: &Sandbox, git_call: &str, flags: &[&str]) -> Run {
    let marker = sandbox.path().join("met-once");
    let entry = sandbox.repo().join(".git/worktrees/users");
    let path = fake_git(
        sandbox,
        &format!(
            r#"case " $* " in
  *" {git_call} "*)
    if [ ! -e '{marker}' ]; then
      touch '{marker}'
      mkdir -p '{entry}' && echo /elsewhere/users/.git > '{entry}/gitdir'
      : > '{entry}/commondir'
      "$real" "$@"; code=$?
      rm -rf '{entry}'
      exit $code
    fi ;;
esac"#,
            marker = marker.display(),
            entry = entry.display()
        ),
    );
    let tasks = sandbox.tasks(&[("fine", "@write f.txt fine")]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(flags)
        .env("PATH", path)
        .spawn("run")
        .wait();
    assert!(marker.exists(), "porch ran no {git_call}\n{run}");
    run
}

/// A `git` first on PATH that fails for two tasks only: for `doomed-add`, `git worktree add`
/// does its work and then reports failure (porch must undo what it did); for `doomed-reset`,
/// the checkout after it fails. The repository has per-worktree config, so git, not porch,
/// registers the worktrees.
#[test]
fn failed_worktree_creation_leaves_nothing_and_other_tasks_carry_on() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.git(&["config", "extensions.worktreeConfig", "true"]);
    let path = fake_git(
        &sandbox,
        r#"case "$dir" in
  */doomed-reset)
    for a in "$@"; do
      [ "$a" = reset ] && { echo "fake git: no checkout for doomed-reset" >&2; exit 1; }
    done ;;
esac
case " $* " in
  *" worktree add "*"/doomed-add "*)
    "$real" "$@" || exit
    echo "fake git: worktree add for doomed-add failed after all" >&2
    exit 1 ;;
esac"#,
    );
    let tasks = sandbox.tasks(&[
        ("doomed-add", "@write a.txt a"),
        ("fine", "@write f.txt fine"),
        ("doomed-reset", "@write r.txt r"),
    ]);
    let mut porch = sandbox
        .porch_run_tasks(&tasks)
        .env("PATH", path)
        .spawn("run");
    let run = porch.wait();
    run.expect_code(1);
    let results = sandbox.results();
    for (name, message) in [
        ("doomed-add", "worktree add for doomed-add failed after all"),
        ("doomed-reset", "no checkout for doomed-reset"),
    ] {
        let t = task(&results, name);
        assert_eq!(t["status"], "failed", "{results:#}");
        let error = text_of(&t["error"]);
        assert!(error.contains("could not create the worktree"), "{t:#}");
        assert!(error.contains(message), "{t:#}");
        assert!(
            !sandbox.branches().contains(&format!("task/{name}")),
            "{name}: no branch left: {:?}",
            sandbox.branches()
        );
        let worktree = sandbox.worktree(name);
        assert!(
            !sandbox
                .worktrees()
                .contains(&worktree.display().to_string()),
            "{name}: no worktree registered: {:?}",
            sandbox.worktrees()
        );
        assert!(!worktree.exists(), "{name}: no worktree directory left");
    }
    assert_eq!(status(&results, "fine"), "succeeded", "{results:#}");
    assert_eq!(sandbox.git(&["show", "task/fine:f.txt"]), "fine");
}

/// Another run (here simulated by the fake git, deterministically; for real, two runs of one
/// tasks file started at once both pass the preflight check) creates branch task/contested and
/// its worktree between porch's preflight and its claim of the branch, which then fails. porch
/// must not remove what it did not create.
#[test]
fn failed_worktree_add_does_not_destroy_another_runs_worktree() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let theirs = sandbox.worktree("contested");
    // The other run registers its worktree under the repository lock (flock on the git
    // directory), as porch does: outside it, task `fine`'s `worktree add` could read the half-made
    // `.git/worktrees/contested` and fail ("failed to read …/commondir").
    let path = fake_git(
        &sandbox,
        &format!(
            r#"case " $* " in
  *" update-ref refs/heads/task/contested "*)
    exec 9<'{common_dir}' && flock 9 &&
    "$real" -C '{repo}' worktree add -q -b task/contested '{theirs}' HEAD 2>/dev/null &&
    echo precious > '{theirs}/precious.txt' &&
    "$real" -C '{theirs}' add precious.txt &&
    "$real" -C '{theirs}' -c user.name=other -c user.email=other@example.com commit -qm theirs
    exec 9<&- ;;
esac"#,
            common_dir = sandbox.repo().join(".git").display(),
            repo = sandbox.repo().display(),
            theirs = theirs.display()
        ),
    );
    let tasks = sandbox.tasks(&[
        ("contested", "@write mine.txt mine"),
        ("fine", "@write f.txt fine"),
    ]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .env("PATH", path)
        .spawn("run")
        .wait();
    run.expect_code(1);
    let results = sandbox.results();
    let t = task(&results, "contested");
    assert_eq!(t["status"], "failed", "{results:#}");
    assert!(text_of(&t["error"]).contains("already exists"), "{t:#}");
    assert_eq!(status(&results, "fine"), "succeeded", "{results:#}");
    // The other run's branch, worktree and work are untouched.
    assert!(
        sandbox.branches().contains(&"task/contested".to_string()),
        "{:?}",
        sandbox.branches()
    );
    assert_eq!(
        sandbox.git(&["show", "task/contested:precious.txt"]),
        "precious\n"
    );
    assert!(
        sandbox.worktrees().contains(&theirs.display().to_string()),
        "{:?}",
        sandbox.worktrees()
    );
    assert!(theirs.join("precious.txt").exists());
}

/// What a porch SIGKILLed while 64 tasks registered leaves (seen by looping it): `a`'s worktree
/// registered but never checked out (nothing but `.git`, no index), `b`'s directory holding only
/// the `.git` of an entry that never appeared, `c`'s naming a taken id (`a`'s) it was about to
/// number past, and an entry half-built under a dead pid. Made here from a run killed in its
/// sessions. `porch resume` checks `a` out before its session (or its commit deletes every
/// file) and gives `b` and `c` their worktrees, `a`'s entry intact; `porch clean` and the next
/// run remove the entry of the dead pid and keep one of a live porch.
#[test]
fn what_a_porch_killed_while_registering_leaves_is_resumed_and_cleaned() {
    let sandbox = Sandbox::new();
    let reaper = Reaper::new(&sandbox);
    let dir = sandbox.path().join("sync");
    std::fs::create_dir_all(&dir).unwrap();
    let tasks: Vec<(String, String)> = ["a", "b", "c"]
        .iter()
        .map(|name| {
            let prompt = format!(
                "@write {name}.txt {name}\n@touch {dir}/{name}.started\n@wait-for {dir}/go",
                dir = dir.display()
            );
            (name.to_string(), prompt)
        })
        .collect();
    let tasks_file = sandbox.tasks_in("tasks.json", &tasks);
    let mut porch = sandbox
        .porch_run_tasks(&tasks_file)
        .args(["-j", "3"])
        .spawn("run");
    for name in ["a", "b", "c"] {
        let started = dir.join(format!("{name}.started"));
        wait_until("every session started", DEADLINE, || started.exists());
    }
    porch.signal("KILL");
    porch.wait();
    reaper.kill_all();
    std::fs::write(dir.join("go"), "").unwrap();

    let (dead, live) = leave_what_a_killed_registration_leaves(&sandbox);

    let resumed = sandbox
        .porch(&["resume"])
        .worktree_dir(sandbox.worktree_dir())
        .arg(sandbox.repo())
        .run();
    resumed.expect_code(0);
    for name in ["a", "b", "c"] {
        let branch = format!("task/{name}");
        let files = sandbox.git(&["ls-tree", "--name-only", &branch]);
        let mut files: Vec<&str> = files.lines().collect();
        files.sort();
        let own = format!("{name}.txt");
        assert_eq!(
            files,
            [".gitignore", "README.md", &own],
            "{branch}\n{resumed}"
        );
    }

    let a_entry = std::fs::read_to_string(sandbox.repo().join(".git/worktrees/a/gitdir"));
    let a_real = std::fs::canonicalize(sandbox.worktree("a"))
        .unwrap()
        .join(".git");
    assert_eq!(a_entry.unwrap().trim_end(), a_real.to_str().unwrap());

    let clean = sandbox
        .porch(&["clean"])
        .worktree_dir(sandbox.worktree_dir())
        .arg(sandbox.repo())
        .run();
    clean.expect_code(0);
    assert!(!dead.exists(), "{clean}");
    assert!(live.join("commondir").exists(), "{clean}");

    // The next run's first registration removes one too.
    std::fs::create_dir(&dead).unwrap();
    let next = sandbox.tasks_in(
        "next.json",
        &[("e".to_string(), "@write e.txt e".to_string())],
    );
    sandbox.porch_run_tasks(&next).run().expect_code(0);
    assert!(!dead.exists());
    assert!(live.join("commondir").exists());
}

/// Turns the worktrees of a, b and c (sessions killed with porch) into what a porch killed while
/// it registered them leaves (see the test above), and adds a half-built entry of a dead porch
/// and one of a live porch (this test's), returned in that order.
fn leave_what_a_killed_registration_leaves(sandbox: &Sandbox) -> (PathBuf, PathBuf) {
    let common = sandbox.repo().join(".git");
    let a = sandbox.worktree("a");
    for name in ["README.md", ".gitignore", "a.txt"] {
        let _ = std::fs::remove_file(a.join(name));
    }
    std::fs::remove_file(common.join("worktrees/a/index")).unwrap();
    let b = sandbox.worktree("b");
    sandbox.git(&["worktree", "remove", "--force", b.to_str().unwrap()]);
    std::fs::create_dir(&b).unwrap();
    let never = common.join("worktrees/b");
    std::fs::write(b.join(".git"), format!("gitdir: {}\n", never.display())).unwrap();
    let c = sandbox.worktree("c");
    sandbox.git(&["worktree", "remove", "--force", c.to_str().unwrap()]);
    std::fs::create_dir(&c).unwrap();
    let taken = common.join("worktrees/a");
    std::fs::write(c.join(".git"), format!("gitdir: {}\n", taken.display())).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let dead = common.join(format!("porch-new-worktree.c.{dead_pid}"));
    let live = common.join(format!("porch-new-worktree.d.{}", std::process::id()));
    for staging in [&dead, &live] {
        std::fs::create_dir(staging).unwrap();
        std::fs::write(staging.join("commondir"), "../..\n").unwrap();
    }
    (dead, live)
}
/// `--stagger` holds back the next start: with an hour's stagger the second task is still
/// pending after the first has finished, and a signal then leaves it skipped. No clock is read.
#[test]
fn stagger_holds_back_the_next_session() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let tasks = sandbox.tasks(&[("first", "@write f.txt 1"), ("second", "@write s.txt 2")]);
    let mut porch = sandbox
        .porch_run_tasks(&tasks)
        .args(["--stagger", "1h"])
        .spawn("run");
    wait_until("the first task to finish", DEADLINE, || {
        sandbox
            .results_now()
            .is_some_and(|r| status(&r, "first") == "succeeded")
    });
    let results = sandbox.results_now().unwrap();
    assert_eq!(status(&results, "second"), "pending", "{results:#}");
    porch.signal("INT");
    porch.wait().expect_code(130);
    let results = sandbox.results();
    assert_eq!(status(&results, "first"), "succeeded", "{results:#}");
    assert_eq!(status(&results, "second"), "skipped", "{results:#}");
    assert!(!sandbox.branches().contains(&"task/second".to_string()));
}

/// What `--retries` set aside is on no branch: `porch list` shows it, so it is not forgotten.
#[test]
fn list_shows_saved_attempts() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    let counter = sandbox.path().join("counter");
    let prompt = format!(
        "@write partial.txt p\n@fail-times 1 {} 529 Overloaded\n",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("flaky", &prompt)]);
    sandbox
        .porch_run_tasks(&tasks)
        .args(["--retries", "1", "--retry-backoff", "10ms"])
        .spawn("run")
        .wait()
        .expect_code(0);
    let list = sandbox.porch(&["list"]).arg(sandbox.repo()).run();
    list.expect_code(0);
    list.expect_stdout("refs/porch/attempts/flaky/1");
    list.expect_stdout("saved attempt 1");
}

/// A retry puts the worktree back on the task branch; it never rewinds a branch the session
/// switched to.
#[test]
fn a_retry_after_a_branch_switch_leaves_that_branch_alone() {
    let sandbox = Sandbox::new();
    let _reaper = Reaper::new(&sandbox);
    sandbox.git(&["checkout", "-q", "-b", "dev"]);
    std::fs::write(sandbox.repo().join("dev.txt"), "dev work\n").unwrap();
    sandbox.git(&["add", "dev.txt"]);
    sandbox.commit("dev");
    sandbox.git(&["checkout", "-q", "main"]);
    let dev = sandbox.git(&["rev-parse", "dev"]);
    let counter = sandbox.path().join("counter");
    let prompt = format!(
        "@bash git checkout -q dev\n@write new.txt hi\n@fail-times 1 {} 529 Overloaded\n",
        counter.display()
    );
    let tasks = sandbox.tasks(&[("x", &prompt)]);
    let run = sandbox
        .porch_run_tasks(&tasks)
        .args(["--retries", "1", "--retry-backoff", "10ms"])
        .spawn("run")
        .wait();
    run.expect_code(0);
    assert_eq!(
        sandbox.git(&["rev-parse", "dev"]),
        dev,
        "dev was not rewound\n{run}"
    );
    assert_eq!(
        sandbox.git(&["show", "refs/porch/attempts/x/1:new.txt"]),
        "hi"
    );
    let results = sandbox.results();
    assert!(
        task(&results, "x")["warnings"]
            .to_string()
            .contains("branch dev"),
        "{results:#}"
    );
}
