//! Tools and tool_choice (contract §4.3): function tools pass through, custom tools become a
//! function taking one string `input`, namespace tools are flattened, hosted tools are dropped
//! and reported.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::Value;

use super::fields::{as_objects, get, objects, req_str, type_of, Obj};
use super::messages::MESSAGE_JOIN;
use super::Degraded;
use crate::error::EngineError;
use crate::json::{write_escaped, write_joined, write_str, write_value};

const MAX_TOOL_NAME: usize = 64;
const CUSTOM_TOOL_HINT: &str =
    "Call this tool with a single argument `input` holding the raw text \
as a JSON string; the text itself is free-form, not JSON.";
const CUSTOM_INPUT_DESCRIPTION: &str = "Raw free-form input text.";

fn fnv1a32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ b as u32).wrapping_mul(0x0100_0193)
    })
}

/// The Chat name of a namespace tool: `ns__name`; past 64 characters its first 55 characters,
/// `_` and the FNV-1a hash of the whole name (the tool map turns it back into ns + name).
pub fn flat_tool_name(namespace: &str, name: &str) -> String {
    let flat = format!("{namespace}__{name}");
    match flat.char_indices().nth(MAX_TOOL_NAME) {
        None => flat,
        Some(_) => {
            let cut = flat.char_indices().nth(55).map_or(flat.len(), |(at, _)| at);
            format!("{}_{:08x}", &flat[..cut], fnv1a32(flat.as_bytes()))
        }
    }
}

enum ToolDef<'a> {
    Function {
        name: Cow<'a, str>,
        description: Option<&'a str>,
        parameters: Option<&'a Value>,
        strict: bool,
    },
    Custom {
        name: &'a str,
        description: Option<&'a str>,
        /// (syntax, definition) of a grammar format
        grammar: Option<(Option<&'a str>, &'a str)>,
    },
}

/// The converted tools and the map the stream translator needs to turn calls back.
#[derive(Default)]
pub struct Tools<'a> {
    defs: Vec<ToolDef<'a>>,
    custom: Vec<&'a str>,
    namespaces: Vec<(String, &'a str, &'a str)>,
}

fn plain_function<'a>(tool: &'a Obj, name: Cow<'a, str>) -> ToolDef<'a> {
    ToolDef::Function {
        name,
        description: tool.get("description").and_then(Value::as_str),
        parameters: get(tool, "parameters"),
        strict: tool.get("strict") == Some(&Value::Bool(true)),
    }
}

fn custom_tool<'a>(tool: &'a Obj, name: &'a str, degraded: &mut Degraded) -> ToolDef<'a> {
    let description = tool
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty());
    let mut grammar = None;
    if let Some(Value::Object(format)) = get(tool, "format") {
        let format_type = type_of(format);
        match format_type {
            Some("text") => {}
            Some(other) => degraded.report_prefixed("custom_tool:", other),
            None => degraded.report("custom_tool:unknown"),
        }
        if format_type == Some("grammar") {
            if let Some(definition) = format.get("definition").and_then(Value::as_str) {
                grammar = Some((format.get("syntax").and_then(Value::as_str), definition));
            }
        }
    }
    ToolDef::Custom {
        name,
        description,
        grammar,
    }
}

impl<'a> Tools<'a> {
    pub fn convert(tools: &'a [Value], degraded: &mut Degraded) -> Result<Self, EngineError> {
        let mut out = Tools::default();
        let mut flat_seen: HashSet<String> = HashSet::new();
        for (i, tool) in as_objects(tools).enumerate() {
            let path = || format!("tools[{i}].");
            match type_of(tool) {
                Some("function") => {
                    let name = req_str(tool, "name", path)?;
                    out.defs.push(plain_function(tool, Cow::Borrowed(name)));
                }
                Some("custom") => {
                    let name = req_str(tool, "name", path)?;
                    out.defs.push(custom_tool(tool, name, degraded));
                    out.custom.push(name);
                }
                Some("namespace") => {
                    let namespace = req_str(tool, "name", path)?;
                    let Some(Value::Array(inner)) = get(tool, "tools") else {
                        return Err(EngineError::new(format!(
                            "tools[{i}].tools must be an array"
                        )));
                    };
                    objects(inner, format_args!("tools[{i}].tools"))?;
                    for (j, sub) in as_objects(inner).enumerate() {
                        match type_of(sub) {
                            Some("function") => {}
                            Some(other) => {
                                degraded.report_prefixed("tool:namespace.", other);
                                continue;
                            }
                            None => {
                                degraded.report("tool:namespace.unknown");
                                continue;
                            }
                        }
                        let name = req_str(sub, "name", || format!("tools[{i}].tools[{j}]."))?;
                        let flat = flat_tool_name(namespace, name);
                        if flat_seen.insert(flat.clone()) {
                            out.namespaces.push((flat.clone(), namespace, name));
                        }
                        out.defs.push(plain_function(sub, Cow::Owned(flat)));
                    }
                }
                Some(other) => degraded.report_prefixed("tool:", other),
                None => degraded.report("tool:unknown"),
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    /// The Chat `tools` array.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (n, def) in self.defs.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"type\":\"function\",\"function\":{\"name\":");
            match def {
                ToolDef::Function {
                    name,
                    description,
                    parameters,
                    strict,
                } => {
                    write_str(out, name);
                    if let Some(description) = description {
                        out.extend_from_slice(b",\"description\":");
                        write_str(out, description);
                    }
                    if let Some(parameters) = parameters {
                        out.extend_from_slice(b",\"parameters\":");
                        write_value(out, parameters);
                    }
                    if *strict {
                        out.extend_from_slice(b",\"strict\":true");
                    }
                }
                ToolDef::Custom {
                    name,
                    description,
                    grammar,
                } => {
                    write_str(out, name);
                    out.extend_from_slice(b",\"description\":");
                    match description {
                        Some(d) => write_joined(out, [*d, CUSTOM_TOOL_HINT], MESSAGE_JOIN),
                        None => write_str(out, CUSTOM_TOOL_HINT),
                    }
                    out.extend_from_slice(
                        b",\"parameters\":{\"type\":\"object\",\"properties\":{\"input\":{\"type\":\"string\",\"description\":\"",
                    );
                    write_escaped(out, CUSTOM_INPUT_DESCRIPTION);
                    if let Some((syntax, definition)) = grammar {
                        write_escaped(out, " It must follow this ");
                        if let Some(syntax) = syntax {
                            write_escaped(out, syntax);
                            out.push(b' ');
                        }
                        write_escaped(out, "grammar:\n");
                        write_escaped(out, definition);
                    }
                    out.extend_from_slice(
                        b"\"}},\"required\":[\"input\"],\"additionalProperties\":false}",
                    );
                }
            }
            out.extend_from_slice(b"}}");
        }
        out.push(b']');
    }

    /// `{"custom":[names],"namespaces":{flat:[ns,name]}}`
    pub fn write_map(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"custom\":[");
        for (n, name) in self.custom.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_str(out, name);
        }
        out.extend_from_slice(b"],\"namespaces\":{");
        for (n, (flat, namespace, name)) in self.namespaces.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            write_str(out, flat);
            out.push(b':');
            out.push(b'[');
            write_str(out, namespace);
            out.push(b',');
            write_str(out, name);
            out.push(b']');
        }
        out.extend_from_slice(b"}}");
    }
}

/// The Chat `tool_choice`.
pub enum Choice<'a> {
    Mode(&'a str),
    Function(Cow<'a, str>),
}

impl Choice<'_> {
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            Choice::Mode(mode) => write_str(out, mode),
            Choice::Function(name) => {
                out.extend_from_slice(b"{\"type\":\"function\",\"function\":{\"name\":");
                write_str(out, name);
                out.extend_from_slice(b"}}");
            }
        }
    }
}

/// Maps a Responses `tool_choice` (already checked to be a string or an object).
pub fn tool_choice<'a>(
    choice: &'a Value,
    degraded: &mut Degraded,
) -> Result<Choice<'a>, EngineError> {
    let choice = match choice {
        Value::String(mode) => {
            return Ok(match mode.as_str() {
                "auto" | "none" | "required" => Choice::Mode(mode),
                other => {
                    degraded.report_prefixed("tool_choice:", other);
                    Choice::Mode("auto")
                }
            })
        }
        Value::Object(choice) => choice,
        _ => return Ok(Choice::Mode("auto")),
    };
    match type_of(choice) {
        Some("function" | "custom") => {
            let name = req_str(choice, "name", || "tool_choice.")?;
            Ok(match choice.get("namespace").and_then(Value::as_str) {
                Some(namespace) => Choice::Function(Cow::Owned(flat_tool_name(namespace, name))),
                None => Choice::Function(Cow::Borrowed(name)),
            })
        }
        Some("allowed_tools") => {
            degraded.report("tool_choice:allowed_tools");
            Ok(match choice.get("mode").and_then(Value::as_str) {
                Some(mode @ ("auto" | "required")) => Choice::Mode(mode),
                _ => Choice::Mode("auto"),
            })
        }
        Some(other) => {
            degraded.report_prefixed("tool_choice:", other);
            Ok(Choice::Mode("auto"))
        }
        None => {
            degraded.report("tool_choice:unknown");
            Ok(Choice::Mode("auto"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_names() {
        assert_eq!(
            flat_tool_name("multi_agent_v1", "close_agent"),
            "multi_agent_v1__close_agent"
        );
        let long = flat_tool_name(&"n".repeat(40), &"t".repeat(30));
        assert_eq!(long.chars().count(), 64);
        assert!(long.starts_with(&format!("{}__{}_", "n".repeat(40), "t".repeat(13))));
        let exactly_64 = flat_tool_name(&"a".repeat(31), &"b".repeat(31));
        assert_eq!(exactly_64.len(), 64);
        assert!(!exactly_64.contains("__b_") && exactly_64.ends_with('b'));
    }
}
