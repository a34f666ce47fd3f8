//! `--shard K/N`: the K-th of N disjoint slices of a tasks file, the same on every machine.
//! Tasks joined by `depends_on` form one unit and go to one shard together; a unit's shard is a
//! stable hash (FNV-1a, 64 bits) of its first task's name, modulo N. Pure: no I/O.

use crate::results::Shard;

/// `K/N` with 1 ≤ K ≤ N; the error says what is wrong, for a message naming the flag.
pub fn parse(text: &str) -> Result<Shard, String> {
    let (index, count) = text
        .split_once('/')
        .ok_or_else(|| "is not of the form K/N".to_string())?;
    let number = |part: &str| {
        part.parse::<u32>()
            .ok()
            .filter(|n| *n >= 1 && part.bytes().all(|b| b.is_ascii_digit()))
    };
    let (Some(index), Some(count)) = (number(index), number(count)) else {
        return Err("needs two whole numbers from 1, K/N".to_string());
    };
    if index > count {
        return Err(format!("names shard {index} of only {count}"));
    }
    Ok(Shard { index, count })
}

/// FNV-1a, 64 bits: defined by its constants alone, so every build of porch on every machine
/// computes the same value (std's `DefaultHasher` promises no such thing).
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// For each task (in file order), whether it belongs to `shard`. `depends_on[i]` names the
/// tasks task `i` depends on; a name of no task is ignored here (the tasks file's checks
/// refuse it).
pub fn members(names: &[&str], depends_on: &[Vec<String>], shard: Shard) -> Vec<bool> {
    let firsts = unit_firsts(names, depends_on);
    let count = u64::from(shard.count);
    let wanted = u64::from(shard.index - 1);
    firsts
        .iter()
        .map(|&first| fnv1a_64(names[first].as_bytes()) % count == wanted)
        .collect()
}

/// For each task, the index of the first task (in file order) of its unit: the tasks it is
/// connected to by `depends_on` in either direction, found by union-find.
pub fn unit_firsts(names: &[&str], depends_on: &[Vec<String>]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..names.len()).collect();
    for (task, list) in depends_on.iter().enumerate().take(names.len()) {
        for name in list {
            if let Some(other) = names.iter().position(|n| n == name) {
                union(&mut parent, task, other);
            }
        }
    }
    (0..names.len()).map(|i| root(&mut parent, i)).collect()
}

/// The root is always the smallest index of the set: the unit's first task.
fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (root(parent, a), root(parent, b));
    let (low, high) = (ra.min(rb), ra.max(rb));
    parent[high] = low;
}

fn root(parent: &mut [usize], mut node: usize) -> usize {
    while parent[node] != node {
        parent[node] = parent[parent[node]];
        node = parent[node];
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (K, N) parsed, or why not.
    type Parsed = Result<(u32, u32), &'static str>;

    #[test]
    fn k_of_n_is_parsed_and_nonsense_refused() {
        let cases: [(&str, Parsed); 10] = [
            ("1/1", Ok((1, 1))),
            ("3/8", Ok((3, 8))),
            ("8/8", Ok((8, 8))),
            ("0/4", Err("needs two whole numbers from 1, K/N")),
            ("5/4", Err("names shard 5 of only 4")),
            ("1/0", Err("needs two whole numbers from 1, K/N")),
            ("2", Err("is not of the form K/N")),
            ("+1/2", Err("needs two whole numbers from 1, K/N")),
            ("1/2/3", Err("needs two whole numbers from 1, K/N")),
            ("", Err("is not of the form K/N")),
        ];
        for (text, expected) in cases {
            let parsed = parse(text).map(|s| (s.index, s.count));
            assert_eq!(parsed, expected.map_err(String::from), "{text:?}");
        }
    }

    #[test]
    fn fnv1a_64_gives_the_published_values() {
        // From the FNV reference test suite (Fowler, Noll, Vo).
        let cases: [(&str, u64); 4] = [
            ("", 0xcbf29ce484222325),
            ("a", 0xaf63dc4c8601ec8c),
            ("foobar", 0x85944171f73967e8),
            ("chongo was here!\n", 0x46810940eff5f915),
        ];
        for (text, hash) in cases {
            assert_eq!(fnv1a_64(text.as_bytes()), hash, "{text:?}");
        }
    }

    fn deps(lists: &[&[&str]]) -> Vec<Vec<String>> {
        lists
            .iter()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn a_unit_is_everything_depends_on_connects_led_by_its_first_task() {
        // (depends_on of tasks a, b, c, d, e; each task's unit's first task)
        let cases: [(&[&[&str]], [usize; 5]); 5] = [
            (&[&[], &[], &[], &[], &[]], [0, 1, 2, 3, 4]),
            (&[&[], &["a"], &[], &[], &[]], [0, 0, 2, 3, 4]),
            (&[&["e"], &[], &[], &[], &[]], [0, 1, 2, 3, 0]),
            (&[&[], &["d"], &[], &[], &["b"]], [0, 1, 2, 1, 1]),
            (&[&[], &["a"], &["d"], &["b"], &["nobody"]], [0, 0, 0, 0, 4]),
        ];
        let names = ["a", "b", "c", "d", "e"];
        for (lists, expected) in cases {
            assert_eq!(
                unit_firsts(&names, &deps(lists)),
                expected,
                "depends_on {lists:?}"
            );
        }
    }

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|i| format!("task-{i}")).collect()
    }

    /// Every task lands in exactly one of the N shards, whatever the number of tasks and N.
    #[test]
    fn the_shards_are_disjoint_and_together_hold_every_task() {
        for task_count in [0, 1, 2, 3, 7, 50, 333] {
            let owned = names(task_count);
            let names: Vec<&str> = owned.iter().map(String::as_str).collect();
            // Every third task depends on the one before it.
            let depends_on: Vec<Vec<String>> = (0..task_count)
                .map(|i| match i % 3 {
                    2 => vec![owned[i - 1].clone()],
                    _ => Vec::new(),
                })
                .collect();
            for count in [1, 2, 3, 5, 16, 400] {
                let mut holders = vec![0; task_count];
                for index in 1..=count {
                    let shard = Shard { index, count };
                    for (i, member) in members(&names, &depends_on, shard).iter().enumerate() {
                        holders[i] += usize::from(*member);
                    }
                }
                assert!(
                    holders.iter().all(|&h| h == 1),
                    "{task_count} tasks in {count} shards: each in exactly one, got {holders:?}"
                );
            }
        }
    }

    #[test]
    fn a_task_and_its_dependencies_share_a_shard() {
        let owned = names(60);
        let names: Vec<&str> = owned.iter().map(String::as_str).collect();
        let depends_on: Vec<Vec<String>> = (0..60)
            .map(|i| match i % 4 {
                0 => Vec::new(),
                _ => vec![owned[i - 1].clone()],
            })
            .collect();
        for count in [2, 3, 7] {
            let shard_of: Vec<u32> = (0..60)
                .map(|i| {
                    (1..=count)
                        .find(|&index| members(&names, &depends_on, Shard { index, count })[i])
                        .expect("every task is in a shard")
                })
                .collect();
            for i in 0..60 {
                if i % 4 != 0 {
                    assert_eq!(shard_of[i], shard_of[i - 1], "task {i} and its dependency");
                }
            }
        }
    }

    #[test]
    fn a_task_keeps_its_shard_whatever_else_the_file_holds() {
        // A task on its own lands by its name alone: adding or reordering others moves it not.
        let count = 5;
        let shard_of = |names: &[&str], name: &str| {
            let position = names.iter().position(|n| *n == name).unwrap();
            (1..=count)
                .find(|&index| members(names, &[], Shard { index, count })[position])
                .unwrap()
        };
        let alone = shard_of(&["add-auth"], "add-auth");
        assert_eq!(shard_of(&["docs", "add-auth", "fix"], "add-auth"), alone);
        assert_eq!(shard_of(&["fix", "x", "y", "add-auth"], "add-auth"), alone);
        assert_eq!(
            u64::from(alone - 1),
            fnv1a_64(b"add-auth") % u64::from(count),
            "the shard is the name's hash modulo N"
        );
    }
}
