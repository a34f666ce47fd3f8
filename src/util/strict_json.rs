//! JSON read strictly: a key given twice in one object is an error saying where, since JSON
//! readers disagree on which of the two values counts (serde_json keeps the last, others the
//! first or refuse).
//!
//! The document is read by serde_json's own deserializer with a visitor that builds the same
//! `Value` and stops at the first repeated key: a syntax error keeps serde_json's message and
//! position, and the repeated key's position is where serde_json stood when it read it.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One step into a document: a key of an object, or an index of a list.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Why a document was refused.
#[derive(Debug)]
pub enum Problem {
    /// Not JSON at all, as serde_json says it.
    Syntax(serde_json::Error),
    /// `key` appears twice in the object at `path` (empty: the top level).
    RepeatedKey {
        path: Vec<Step>,
        key: String,
        line: usize,
        column: usize,
    },
}

/// The document in `bytes`, or why it is not one porch can trust.
pub fn parse(bytes: &[u8]) -> Result<Value, Problem> {
    let state = RefCell::new(State::default());
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let read = Node { state: &state }
        .deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value));
    read.map_err(|err| match state.into_inner().repeated {
        Some((path, key)) => Problem::RepeatedKey {
            path,
            key,
            line: err.line(),
            column: err.column(),
        },
        None => Problem::Syntax(err),
    })
}

/// Where the reader is, and the repeated key once one is found.
#[derive(Default)]
struct State {
    path: Vec<Step>,
    repeated: Option<(Vec<Step>, String)>,
}

/// One value of the document, read at the state's path.
#[derive(Clone, Copy)]
struct Node<'a> {
    state: &'a RefCell<State>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        loop {
            self.state.borrow_mut().path.push(Step::Index(list.len()));
            let Some(item) = items.next_element_seed(self)? else {
                self.state.borrow_mut().path.pop();
                return Ok(Value::Array(list));
            };
            self.state.borrow_mut().path.pop();
            list.push(item);
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if map.contains_key(&key) {
                let mut state = self.state.borrow_mut();
                state.repeated = Some((state.path.clone(), key.clone()));
                return Err(de::Error::custom(format!("the key {key:?} appears twice")));
            }
            self.state.borrow_mut().path.push(Step::Key(key.clone()));
            let value = entries.next_value_seed(self)?;
            self.state.borrow_mut().path.pop();
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// `path` as a reader of the document would write it: `tasks[1].env`.
pub fn path_text(path: &[Step]) -> String {
    let mut text = String::new();
    for step in path {
        match step {
            Step::Key(key) if text.is_empty() => text.push_str(key),
            Step::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Step::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(text: &str) -> Option<(String, String, usize, usize)> {
        match parse(text.as_bytes()) {
            Err(Problem::RepeatedKey {
                path,
                key,
                line,
                column,
            }) => Some((path_text(&path), key, line, column)),
            _ => None,
        }
    }

    #[test]
    fn a_document_without_repeated_keys_reads_as_serde_json_reads_it() {
        let text = r#"{"tasks": [{"name": "a", "env": {"A": "1", "B": "2"}}], "n": [1, -2, 2.5, true, null]}"#;
        let strict = parse(text.as_bytes()).unwrap();
        let plain: Value = serde_json::from_str(text).unwrap();
        assert_eq!(strict, plain);
    }

    #[test]
    fn a_repeated_key_is_named_with_its_path_at_any_depth() {
        // (the document, the object's path, the key, the line, the rule)
        let cases = [
            (
                r#"{"tasks": [], "tasks": []}"#,
                "",
                "tasks",
                1,
                "at the top",
            ),
            (
                "{\"tasks\": [{\"name\": \"a\"},\n {\"env\": {\"K\": \"1\", \"K\": \"2\"}}]}",
                "tasks[1].env",
                "K",
                2,
                "in a task's env, on its line",
            ),
            (
                r#"[{"name": "a", "name": "b"}]"#,
                "[0]",
                "name",
                1,
                "in a bare list of tasks",
            ),
            (
                r#"{"a": [[{"b": {"c": 1, "c": 1}}]]}"#,
                "a[0][0].b",
                "c",
                1,
                "even with equal values",
            ),
        ];
        for (text, path, key, line, rule) in cases {
            let found = repeated(text).unwrap_or_else(|| panic!("{rule}: not refused"));
            assert_eq!((found.0.as_str(), found.1.as_str()), (path, key), "{rule}");
            assert_eq!(found.2, line, "{rule}");
            assert!(found.3 > 0, "{rule}: a column");
        }
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_repeated() {
        let text = r#"{"tasks": [{"name": "a"}, {"name": "b"}], "defaults": {"name": 1}}"#;
        assert!(parse(text.as_bytes()).is_ok());
    }

    #[test]
    fn a_syntax_error_is_serde_jsons_own() {
        for text in ["{", "[1,]", "{} x", r#"{"a": 1 "b": 2}"#] {
            let Err(Problem::Syntax(err)) = parse(text.as_bytes()) else {
                panic!("{text}: not a syntax error");
            };
            let plain = serde_json::from_str::<Value>(text).unwrap_err();
            assert_eq!(err.to_string(), plain.to_string(), "{text}");
        }
    }
}
