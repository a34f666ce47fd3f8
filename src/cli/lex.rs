//! A command's arguments read against its row of the table: each flag it takes, at most once,
//! its positionals, and the environment variables standing in for flags not given. Then each
//! value checked by one small helper (`number`, `duration`, `path`, `choice`, …), whose errors
//! name the flag or the variable and the value.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use lexopt::prelude::*;

use crate::cli::flags::Completes;
use crate::cli::flags::Flag;
use crate::cli::flags::Opt;
use crate::cli::flags::flag;
use crate::cli::flags::variables;
use crate::cli::table::Spec;
use crate::cli::table::listed;
use crate::error::Error;

/// The environment variables the flags read, as data: the parser reads no process state. An
/// empty variable counts as unset.
#[derive(Debug, Default, Clone)]
pub struct Env {
    vars: Vec<(&'static str, OsString)>,
}

impl Env {
    /// Keeps, of the variables given (`std::env::vars_os()`), those a flag reads.
    pub fn from_vars(vars: impl IntoIterator<Item = (OsString, OsString)>) -> Env {
        let mut env = Env::default();
        for (name, value) in vars {
            if let Some(known) = variables().find(|v| OsStr::new(v) == name) {
                env.vars.push((known, value));
            }
        }
        env
    }

    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_os_str())
            .filter(|v| !v.is_empty())
    }
}

/// Where a value came from: the flag, or the variable standing in for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Origin {
    Flag(&'static Flag),
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{}", flag.long),
            Origin::Env(name) => f.write_str(name),
        }
    }
}

impl Origin {
    /// How a hint shows a value given this way: `-j 4`, or `PORCH_JOBS=4`.
    pub fn example(self, value: &str) -> String {
        match self {
            Origin::Flag(flag) => format!("{} {value}", flag.shortest()),
            Origin::Env(name) => format!("{name}={value}"),
        }
    }
}

#[derive(Debug)]
struct Entry {
    opt: Opt,
    /// None for a switch.
    value: Option<OsString>,
    origin: Origin,
}

/// What one command was given, before its values are checked.
#[derive(Debug)]
pub struct Given {
    pub spec: &'static Spec,
    entries: Vec<Entry>,
    pub positionals: Vec<OsString>,
}

/// What the arguments asked: the command's help, or the command.
#[derive(Debug)]
pub enum Lexed {
    Help,
    Given(Given),
}

/// Reads the rest of `parser` as `spec`'s arguments, then the variables of its flags not given.
pub fn lex(parser: &mut lexopt::Parser, spec: &'static Spec, env: &Env) -> Result<Lexed, Error> {
    let mut given = Given {
        spec,
        entries: Vec::new(),
        positionals: Vec::new(),
    };
    let lexopt_error = |err: lexopt::Error| Error::from(err).with_hint(spec.options_hint());
    while let Some(arg) = parser.next().map_err(lexopt_error)? {
        let flag = match arg {
            Value(value) => {
                given.positionals.push(value);
                continue;
            }
            Short(c) => find(spec, |f| f.short == Some(c)).ok_or_else(|| format!("-{c}")),
            Long(name) => find(spec, |f| f.long == name || f.aliases.contains(&name))
                .ok_or_else(|| format!("--{name}")),
        };
        let flag = flag.map_err(|typed| unknown(spec, &typed))?;
        if flag.opt == Opt::Help {
            return Ok(Lexed::Help);
        }
        let value = match flag.takes_value() {
            true => Some(parser.value().map_err(lexopt_error)?),
            false => None,
        };
        given.add(flag, value)?;
    }
    for flag in spec.takes().map(|t| flag(t.opt)) {
        if let Some(name) = flag.env
            && !given.has(flag.opt)
            && let Some(value) = env.get(name)
        {
            given.entries.push(Entry {
                opt: flag.opt,
                value: Some(value.to_os_string()),
                origin: Origin::Env(name),
            });
        }
    }
    Ok(Lexed::Given(given))
}

fn find(spec: &Spec, matches: impl Fn(&Flag) -> bool) -> Option<&'static Flag> {
    spec.takes().map(|t| flag(t.opt)).find(|f| matches(f))
}

/// A flag the command does not take: one it refuses by name, or one it does not know.
fn unknown(spec: &Spec, typed: &str) -> Error {
    if let Some(refused) = &spec.refused {
        let names: Vec<String> = refused.opts.iter().map(|&o| flag(o).name()).collect();
        let spelled = |o: &Opt| {
            let f = flag(*o);
            typed == f.name() || f.short.is_some_and(|c| typed == format!("-{c}"))
        };
        if refused.opts.iter().any(spelled) {
            let names = listed(&names, "or");
            return Error::usage(format!("porch {} takes no {names}", spec.word))
                .with_hint(refused.hint);
        }
    }
    Error::usage(format!("invalid option '{typed}'")).with_hint(spec.options_hint())
}

impl Given {
    /// Whether the flag, or its variable, was given.
    pub fn has(&self, opt: Opt) -> bool {
        self.entries.iter().any(|e| e.opt == opt)
    }

    fn add(&mut self, flag: &'static Flag, value: Option<OsString>) -> Result<(), Error> {
        // A switch given twice says the same thing twice; a value given twice says two.
        if value.is_some() && self.has(flag.opt) {
            let name = flag.name();
            return Err(Error::usage(format!("{name} was given more than once"))
                .with_hint(format!("give {name} once")));
        }
        self.entries.push(Entry {
            opt: flag.opt,
            value,
            origin: Origin::Flag(flag),
        });
        Ok(())
    }

    /// A positional the command has no place for.
    pub fn refuse_extra(&self, extra: Option<OsString>) -> Result<(), Error> {
        match extra {
            Some(extra) => Err(Error::usage(format!(
                "unexpected argument `{}`",
                extra.to_string_lossy()
            ))
            .with_hint(self.spec.usage_hint())),
            None => Ok(()),
        }
    }

    pub fn switch(&self, opt: Opt) -> bool {
        self.has(opt)
    }

    /// The value as given, and where from.
    pub fn raw(&self, opt: Opt) -> Option<(&OsString, Origin)> {
        self.entries
            .iter()
            .find(|e| e.opt == opt)
            .and_then(|e| Some((e.value.as_ref()?, e.origin)))
    }

    pub fn os(&self, opt: Opt) -> Option<OsString> {
        self.raw(opt).map(|(value, _)| value.clone())
    }

    /// The value as UTF-8 text.
    pub fn string(&self, opt: Opt) -> Result<Option<(String, Origin)>, Error> {
        let Some((value, origin)) = self.raw(opt) else {
            return Ok(None);
        };
        let text = value.to_str().ok_or_else(|| {
            Error::usage(format!("{origin}: argument is invalid unicode: {value:?}"))
                .with_hint(format!("give {origin} a value in UTF-8"))
        })?;
        Ok(Some((text.to_string(), origin)))
    }

    /// Text that must not be empty: `what` is what it names (`a branch name`).
    pub fn text(&self, opt: Opt, what: &str, hint: &str) -> Result<Option<String>, Error> {
        match self.string(opt)? {
            Some((text, origin)) if text.is_empty() => Err(Error::usage(format!(
                "{origin} needs {what}, got an empty string"
            ))
            .with_hint(hint)),
            other => Ok(other.map(|(text, _)| text)),
        }
    }

    /// A path that must not be empty.
    pub fn path(&self, opt: Opt) -> Result<Option<PathBuf>, Error> {
        match self.raw(opt) {
            Some((value, origin)) if value.is_empty() => Err(Error::usage(format!(
                "{origin} needs a path, got an empty string"
            ))
            .with_hint(format!(
                "give {origin} a path, or leave it out for the default"
            ))),
            other => Ok(other.map(|(value, _)| PathBuf::from(value))),
        }
    }

    /// A value `check` accepts, or the error `{origin} `{text}`{rest}` with the hint: `rest`
    /// is what `check` says after the value (` is not a port`, `: no unit`).
    pub fn checked<T>(
        &self,
        opt: Opt,
        check: impl FnOnce(&str) -> Result<T, String>,
        hint: &str,
    ) -> Result<Option<T>, Error> {
        let Some((text, origin)) = self.string(opt)? else {
            return Ok(None);
        };
        check(&text)
            .map(Some)
            .map_err(|rest| Error::usage(format!("{origin} `{text}`{rest}")).with_hint(hint))
    }

    /// A whole number in `range` (an end of `u64::MAX` is no end); `what` is what it counts.
    pub fn number<T: TryFrom<u64>>(
        &self,
        opt: Opt,
        range: RangeInclusive<u64>,
        what: &str,
        example: &str,
    ) -> Result<Option<T>, Error> {
        let Some((text, origin)) = self.string(opt)? else {
            return Ok(None);
        };
        let number = text
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .and_then(|n| T::try_from(n).ok());
        let upto = match *range.end() {
            u64::MAX => "up".to_string(),
            end => format!("to {end}"),
        };
        number.map(Some).ok_or_else(|| {
            Error::usage(format!("{origin} `{text}` is not {what}")).with_hint(format!(
                "give a whole number from {} {upto}, e.g. {}",
                range.start(),
                origin.example(example)
            ))
        })
    }

    pub fn duration(&self, opt: Opt) -> Result<Option<Duration>, Error> {
        self.checked(
            opt,
            |text| crate::util::duration::parse(text).map_err(|reason| format!(": {reason}")),
            "write durations like 90s, 10m or 1h30m",
        )
    }

    /// One of the words the flag's value completes to; `what` is what they are.
    pub fn choice(&self, opt: Opt, what: &str, hint: &str) -> Result<Option<&'static str>, Error> {
        let Some(Completes::Words(words)) = flag(opt).value.map(|v| v.completes) else {
            unreachable!("{opt:?} is not a flag with a choice of words");
        };
        self.checked(
            opt,
            |text| {
                words
                    .iter()
                    .find(|w| **w == text)
                    .copied()
                    .ok_or_else(|| format!(" is not {what}"))
            },
            hint,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::table::Name;
    use crate::cli::table::spec;

    fn lexed(name: Name, args: &[&str], env: &Env) -> Result<Lexed, Error> {
        let mut parser =
            lexopt::Parser::from_iter(std::iter::once("porch").chain(args.iter().copied()));
        lex(&mut parser, spec(name), env)
    }

    fn given(name: Name, args: &[&str], env: &Env) -> Given {
        match lexed(name, args, env) {
            Ok(Lexed::Given(given)) => given,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_vars(pairs.iter().map(|(k, v)| (k.into(), v.into())))
    }

    #[test]
    fn a_flag_wins_over_its_variable_and_an_empty_variable_is_unset() {
        let vars = env(&[
            ("PORCH_JOBS", "3"),
            ("PORCH_WORKTREE_DIR", ""),
            ("HOME", "/h"),
        ]);
        let from_env = given(Name::Run, &["t"], &vars);
        assert_eq!(
            from_env
                .number::<usize>(Opt::Jobs, 1..=9, "n", "4")
                .unwrap(),
            Some(3)
        );
        assert_eq!(from_env.path(Opt::WorktreeDir).unwrap(), None);
        let from_flag = given(Name::Run, &["t", "-j", "5"], &vars);
        assert_eq!(
            from_flag
                .number::<usize>(Opt::Jobs, 1..=9, "n", "4")
                .unwrap(),
            Some(5)
        );
        // A variable no flag of the command reads is not looked at.
        let list = given(Name::List, &[], &vars);
        assert_eq!(list.raw(Opt::Jobs), None);
        assert_eq!(vars.get("HOME"), None, "only the flags' variables are kept");
    }

    #[test]
    fn errors_name_the_flag_or_the_variable_and_the_value() {
        let vars = env(&[("PORCH_JOBS", "lots")]);
        let err = given(Name::Run, &["t"], &vars)
            .number::<usize>(Opt::Jobs, 1..=4096, "a number of sessions", "4")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "PORCH_JOBS `lots` is not a number of sessions"
        );
        assert_eq!(
            err.hint().as_deref(),
            Some("give a whole number from 1 to 4096, e.g. PORCH_JOBS=4")
        );
        let err = given(Name::Clean, &["--keep-runs", "0"], &Env::default())
            .number::<usize>(Opt::KeepRuns, 1..=u64::MAX, "a number of runs", "20")
            .unwrap_err();
        assert_eq!(err.to_string(), "--keep-runs `0` is not a number of runs");
        assert_eq!(
            err.hint().as_deref(),
            Some("give a whole number from 1 up, e.g. --keep-runs 20")
        );
        let err = given(Name::Run, &["t", "--timeout", "10"], &Env::default())
            .duration(Opt::Timeout)
            .unwrap_err();
        assert!(err.to_string().starts_with("--timeout `10`: "), "{err}");
        assert!(err.to_string().contains("no unit"), "{err}");
    }

    #[test]
    fn unknown_refused_and_repeated_flags() {
        let message = |name, args: &[&str]| lexed(name, args, &Env::default()).unwrap_err();
        let err = message(Name::Status, &["--cleanup"]);
        assert_eq!(err.to_string(), "invalid option '--cleanup'");
        assert_eq!(err.hint().as_deref(), Some("see `porch status --help`"));
        let err = message(Name::Resume, &["--shard", "1/2"]);
        assert_eq!(
            err.to_string(),
            "porch resume takes no --only, --skip or --shard"
        );
        let err = message(Name::Run, &["t", "-o", "a", "--output", "b"]);
        assert_eq!(err.to_string(), "--output was given more than once");
        // The same switch twice is the switch.
        assert!(given(Name::Run, &["t", "-q", "--quiet"], &Env::default()).switch(Opt::Quiet));
        assert!(matches!(
            lexed(Name::Run, &["t", "-j", "0", "-h"], &Env::default()),
            Ok(Lexed::Help)
        ));
        assert!(given(Name::Run, &["t", "--colour", "never"], &Env::default()).has(Opt::Color));
    }
}
