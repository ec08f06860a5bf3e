//! Field access with the contract's rules (§4.1): null is absent, a present value of the wrong
//! type is an error naming the field.

use std::fmt::Display;

use serde_json::{Map, Value};

use crate::error::EngineError;

pub type Obj = Map<String, Value>;

/// The value of `key`, with null treated as absent.
#[inline]
pub fn get<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
    }
}

/// The `type` field when it is a string.
#[inline]
pub fn type_of(obj: &Obj) -> Option<&str> {
    obj.get("type").and_then(Value::as_str)
}

fn wrong(path: impl Display, key: &str, what: &str) -> EngineError {
    EngineError::new(format!("{path}{key} must be {what}"))
}

/// A required string; `path` (e.g. `input[3].`) is only formatted on error.
pub fn req_str<'a, P: Display>(
    obj: &'a Obj,
    key: &str,
    path: impl FnOnce() -> P,
) -> Result<&'a str, EngineError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(wrong(path(), key, "a string")),
    }
}

/// An optional string at the top level of the request (or under `path`).
pub fn opt_str<'a>(obj: &'a Obj, key: &str, path: &str) -> Result<Option<&'a str>, EngineError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(path, key, "a string")),
    }
}

pub fn opt_bool(obj: &Obj, key: &str) -> Result<Option<bool>, EngineError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong("", key, "a boolean")),
    }
}

pub fn opt_number<'a>(obj: &'a Obj, key: &str) -> Result<Option<&'a Value>, EngineError> {
    match get(obj, key) {
        None => Ok(None),
        Some(v @ Value::Number(_)) => Ok(Some(v)),
        Some(_) => Err(wrong("", key, "a number")),
    }
}

pub fn opt_object<'a>(obj: &'a Obj, key: &str, path: &str) -> Result<Option<&'a Obj>, EngineError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(wrong(path, key, "an object")),
    }
}

/// Checks that every element of an array is an object (`<at>[i] must be an object`).
pub fn objects(items: &[Value], at: impl Display) -> Result<(), EngineError> {
    match items.iter().position(|v| !v.is_object()) {
        None => Ok(()),
        Some(i) => Err(EngineError::new(format!("{at}[{i}] must be an object"))),
    }
}

/// The elements of an array already checked by [`objects`].
pub fn as_objects(items: &[Value]) -> impl Iterator<Item = &Obj> {
    items.iter().filter_map(Value::as_object)
}
