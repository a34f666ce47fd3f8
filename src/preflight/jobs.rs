//! How many sessions run at once: what `-j` asks, else every task, as far as memory allows.

/// A claude session holds about 300 MB resident: more sessions than memory allows would swap or
/// meet the OOM killer, so without `-j` porch caps itself and says so.
const SESSION_MEMORY: u64 = 300 * 1024 * 1024;

/// The number of sessions to run at once for `tasks` tasks, and a note for the user when porch
/// chose fewer than the tasks because of the `available` memory (bytes; `None`: unknown).
pub fn choose_jobs(
    asked: Option<usize>,
    tasks: usize,
    available: Option<u64>,
) -> (usize, Option<String>) {
    if let Some(jobs) = asked {
        return (jobs.min(tasks).max(1), None);
    }
    let Some(available) = available else {
        return (tasks, None);
    };
    let fits = usize::try_from(available / SESSION_MEMORY)
        .unwrap_or(usize::MAX)
        .max(1);
    if fits >= tasks {
        return (tasks, None);
    }
    let note = format!(
        "running at most {fits} sessions at once: {} MiB of memory is available and a claude session takes about 300 MB (-j N overrides this)",
        available / (1024 * 1024)
    );
    (fits, Some(note))
}

/// `MemAvailable` from /proc/meminfo, in bytes; `None` where there is no such file.
pub fn available_memory() -> Option<u64> {
    mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

/// The `MemAvailable:` line of a /proc/meminfo text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// `-j`, the number of tasks and the memory available: the sessions run at once.
    struct Rule {
        asked: Option<usize>,
        tasks: usize,
        available: Option<u64>,
        jobs: usize,
        says: &'static str,
    }

    #[test]
    fn the_jobs_rules() {
        let rule = |asked, tasks, available, jobs, says| Rule {
            asked,
            tasks,
            available,
            jobs,
            says,
        };
        let rules = [
            rule(Some(3), 10, None, 3, "-j is obeyed"),
            rule(Some(8), 2, None, 2, "but never more sessions than tasks"),
            rule(Some(4), 0, None, 1, "and never fewer than one"),
            rule(
                Some(10),
                10,
                Some(600 * MIB),
                10,
                "-j overrides the memory cap",
            ),
            rule(
                None,
                10,
                None,
                10,
                "without -j, every task at once where memory is unknown",
            ),
            rule(
                None,
                3,
                Some(900 * MIB),
                3,
                "or where memory holds every session",
            ),
            rule(
                None,
                10,
                Some(900 * MIB),
                3,
                "else as many as fit in 300 MB each",
            ),
            rule(None, 10, Some(899 * MIB), 2, "counting only whole sessions"),
            rule(
                None,
                10,
                Some(100 * MIB),
                1,
                "and at least one, however little is free",
            ),
        ];
        for r in rules {
            assert_eq!(
                choose_jobs(r.asked, r.tasks, r.available).0,
                r.jobs,
                "{}",
                r.says
            );
        }
    }

    #[test]
    fn porch_says_so_only_when_memory_capped_the_sessions() {
        let cases: &[(Option<usize>, usize, Option<u64>, bool)] = &[
            (None, 10, Some(900 * MIB), true),
            (None, 3, Some(900 * MIB), false),
            (None, 10, None, false),
            (Some(2), 10, Some(300 * MIB), false),
        ];
        for &(asked, tasks, available, noted) in cases {
            let (_, note) = choose_jobs(asked, tasks, available);
            assert_eq!(
                note.is_some(),
                noted,
                "-j {asked:?}, {tasks} tasks, {available:?} bytes"
            );
        }
        assert_eq!(
            choose_jobs(None, 10, Some(900 * MIB)).1.unwrap(),
            "running at most 3 sessions at once: 900 MiB of memory is available and a claude \
             session takes about 300 MB (-j N overrides this)"
        );
    }

    #[test]
    fn available_memory_is_read_from_meminfo_in_kib() {
        let meminfo =
            "MemTotal:       16303360 kB\nMemFree:         1024 kB\nMemAvailable:    8151680 kB\n";
        let cases: &[(&str, Option<u64>)] = &[
            (meminfo, Some(8_151_680 * 1024)),
            ("MemTotal: 16303360 kB\nMemFree: 1024 kB\n", None),
            ("MemAvailable: lots kB\n", None),
            ("", None),
        ];
        for &(text, bytes) in cases {
            assert_eq!(mem_available(text), bytes, "{text:?}");
        }
    }
}
