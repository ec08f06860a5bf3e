//! Request conversion: a Responses API request body → a Chat Completions request body
//! (engine contract §4). The Python twin is python/codex_convert_proxy/engine/request.py; both
//! write the same bytes.
//!
//! The body is parsed once into a serde_json value; everything written borrows from it.

mod fields;
mod messages;
mod tools;

use serde_json::Value;

pub use tools::flat_tool_name;

use crate::error::EngineError;
use crate::json::{parse_named, write_str, write_value};
use crate::profiles::{Profile, ReasoningParam};
use fields::{get, objects, opt_bool, opt_number, opt_object, opt_str, type_of, Obj};
use messages::Messages;
use tools::{tool_choice, Tools};

pub struct ConvertedRequest {
    pub body: Vec<u8>,
    pub degraded: Vec<String>,
    pub tool_map: Vec<u8>,
    pub echo: Vec<u8>,
    pub stream: bool,
    pub model: String,
}

/// Names of dropped or degraded features: unique, in first-seen order (contract §6).
#[derive(Default)]
pub struct Degraded(Vec<String>);

impl Degraded {
    pub fn report(&mut self, name: &str) {
        if !self.0.iter().any(|n| n == name) {
            self.0.push(name.to_owned());
        }
    }

    pub fn report_prefixed(&mut self, area: &str, what: &str) {
        if !self
            .0
            .iter()
            .any(|n| n.len() == area.len() + what.len() && n.starts_with(area) && n.ends_with(what))
        {
            self.0.push(format!("{area}{what}"));
        }
    }
}

/// (key, JSON text) of the profile's reasoning parameter.
fn reasoning_param(
    profile: &Profile,
    reasoning: Option<&Obj>,
    degraded: &mut Degraded,
) -> Option<(&'static str, &'static str)> {
    let reasoning = reasoning?;
    let effort = get(reasoning, "effort").and_then(Value::as_str);
    let no_thinking = matches!(effort, Some("none" | "minimal"));
    match profile.reasoning_param {
        ReasoningParam::ReasoningEffort => {
            let mapped = match effort? {
                "low" | "minimal" => "\"low\"",
                "medium" => "\"medium\"",
                "high" | "xhigh" => "\"high\"",
                "none" => return None,
                _ => {
                    degraded.report("param:reasoning.effort");
                    return None;
                }
            };
            Some(("reasoning_effort", mapped))
        }
        ReasoningParam::Thinking => Some((
            "thinking",
            if no_thinking {
                "{\"type\":\"disabled\"}"
            } else {
                "{\"type\":\"enabled\"}"
            },
        )),
        ReasoningParam::EnableThinking => Some((
            "enable_thinking",
            if no_thinking { "false" } else { "true" },
        )),
        ReasoningParam::None => None,
    }
}

/// `response_format` from `text.format`, written into `out` after `,"response_format":`.
fn write_response_format(out: &mut Vec<u8>, format: &Obj, degraded: &mut Degraded) {
    match type_of(format) {
        Some("text") => {}
        Some("json_object") => {
            out.extend_from_slice(b",\"response_format\":{\"type\":\"json_object\"}")
        }
        Some("json_schema") => {
            out.extend_from_slice(
                b",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":",
            );
            write_str(
                out,
                format
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("response"),
            );
            if let Some(description) = get(format, "description") {
                out.extend_from_slice(b",\"description\":");
                write_value(out, description);
            }
            if let Some(schema) = get(format, "schema") {
                out.extend_from_slice(b",\"schema\":");
                write_value(out, schema);
            }
            if let Some(strict @ Value::Bool(_)) = format.get("strict") {
                out.extend_from_slice(b",\"strict\":");
                write_value(out, strict);
            }
            out.extend_from_slice(b"}}");
        }
        _ => degraded.report("param:text.format"),
    }
}

/// Parameters that change what happens and have no Chat equivalent.
fn report_params(req: &Obj, degraded: &mut Degraded) {
    if req.get("background") == Some(&Value::Bool(true)) {
        degraded.report("param:background");
    }
    if req.get("truncation").and_then(Value::as_str) == Some("auto") {
        degraded.report("param:truncation");
    }
    for key in ["prompt", "conversation", "top_logprobs"] {
        if get(req, key).is_some() {
            degraded.report_prefixed("param:", key);
        }
    }
}

/// The request fields the Response object echoes (contract §3.1, §4.5).
fn write_echo(req: &Obj, instructions: Option<&str>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"instructions\":");
    match instructions {
        Some(text) => write_str(&mut out, text),
        None => out.extend_from_slice(b"null"),
    }
    let field = |out: &mut Vec<u8>, key: &str, default: &[u8]| {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        match get(req, key) {
            Some(v) => write_value(out, v),
            None => out.extend_from_slice(default),
        }
    };
    field(&mut out, "metadata", b"{}");
    field(&mut out, "parallel_tool_calls", b"true");
    field(&mut out, "temperature", b"null");
    field(&mut out, "tool_choice", b"\"auto\"");
    out.extend_from_slice(b",\"tools\":[]");
    field(&mut out, "top_p", b"null");
    for key in [
        "max_output_tokens",
        "previous_response_id",
        "reasoning",
        "text",
        "store",
    ] {
        if get(req, key).is_some() {
            field(&mut out, key, b"null");
        }
    }
    out.push(b'}');
    out
}

/// Convert a Responses request body to a Chat Completions request body (contract §4).
pub fn convert_request(
    body: &[u8],
    profile: &Profile,
    model: Option<&str>,
) -> Result<ConvertedRequest, EngineError> {
    let parsed = parse_named(body, "request body")?;
    let Value::Object(req) = &parsed else {
        return Err(EngineError::new("request body must be a JSON object"));
    };

    // 1. Field types, in the same order as the Python engine (same first error).
    let body_model = opt_str(req, "model", "")?;
    let model = match model.filter(|m| !m.is_empty()).or(body_model) {
        Some(m) => m.to_owned(),
        None => return Err(EngineError::new("model is required")),
    };
    let instructions = opt_str(req, "instructions", "")?;
    let stream = opt_bool(req, "stream")?.unwrap_or(false);
    let parallel = opt_bool(req, "parallel_tool_calls")?;
    opt_bool(req, "store")?;
    let temperature = opt_number(req, "temperature")?;
    let top_p = opt_number(req, "top_p")?;
    let max_tokens = match get(req, "max_output_tokens") {
        None => None,
        Some(v @ Value::Number(n)) if n.is_i64() || n.is_u64() => Some(v),
        Some(_) => return Err(EngineError::new("max_output_tokens must be an integer")),
    };
    let user = opt_str(req, "user", "")?;
    let safety_identifier = opt_str(req, "safety_identifier", "")?;
    opt_str(req, "previous_response_id", "")?;
    opt_object(req, "metadata", "")?;
    let reasoning = opt_object(req, "reasoning", "")?;
    if let Some(reasoning) = reasoning {
        opt_str(reasoning, "effort", "reasoning.")?;
    }
    let text_format = match opt_object(req, "text", "")? {
        Some(text) => opt_object(text, "format", "text.")?,
        None => None,
    };
    let choice = get(req, "tool_choice");
    if let Some(c) = choice {
        if !c.is_string() && !c.is_object() {
            return Err(EngineError::new(
                "tool_choice must be a string or an object",
            ));
        }
    }
    let tool_list: &[Value] = match get(req, "tools") {
        None => &[],
        Some(Value::Array(list)) => {
            objects(list, "tools")?;
            list
        }
        Some(_) => return Err(EngineError::new("tools must be an array")),
    };
    let input = get(req, "input");
    match input {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(items)) => objects(items, "input")?,
        Some(_) => {
            return Err(EngineError::new(
                "input must be a string or an array of items",
            ))
        }
    }

    // 2. Messages.
    let mut degraded = Degraded::default();
    let mut messages = Messages::new(profile);
    if let Some(text) = instructions.filter(|t| !t.is_empty()) {
        messages.add_system(vec![text]);
    }
    match input {
        Some(Value::String(text)) => messages.add_user_text(text),
        Some(Value::Array(items)) => {
            for (i, item) in fields::as_objects(items).enumerate() {
                messages.item(item, i, &mut degraded)?;
            }
        }
        _ => {}
    }
    messages.finish();
    if messages.is_empty() {
        return Err(EngineError::new(
            "request has no messages (input and instructions are empty)",
        ));
    }

    // 3. Tools, then the parameters, in output order.
    let tools = Tools::convert(tool_list, &mut degraded)?;
    let choice = match choice {
        Some(c) => Some(tool_choice(c, &mut degraded)?),
        None => None,
    };

    let mut out = Vec::with_capacity(body.len() + body.len() / 8);
    out.extend_from_slice(b"{\"model\":");
    write_str(&mut out, &model);
    out.extend_from_slice(b",\"messages\":");
    messages.write(&mut out);
    if stream {
        out.extend_from_slice(b",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    } else {
        out.extend_from_slice(b",\"stream\":false");
    }
    if !tools.is_empty() {
        out.extend_from_slice(b",\"tools\":");
        tools.write(&mut out);
        if let Some(choice) = &choice {
            out.extend_from_slice(b",\"tool_choice\":");
            choice.write(&mut out);
        }
        if let Some(parallel) = parallel {
            out.extend_from_slice(if parallel {
                b",\"parallel_tool_calls\":true"
            } else {
                b",\"parallel_tool_calls\":false"
            });
        }
    }
    let verbatim = |out: &mut Vec<u8>, key: &str, value: Option<&Value>| {
        if let Some(value) = value {
            out.push(b',');
            write_str(out, key);
            out.push(b':');
            write_value(out, value);
        }
    };
    verbatim(&mut out, "temperature", temperature);
    verbatim(&mut out, "top_p", top_p);
    verbatim(&mut out, profile.max_tokens_field, max_tokens);
    if let Some(format) = text_format {
        write_response_format(&mut out, format, &mut degraded);
    }
    if let Some((key, value)) = reasoning_param(profile, reasoning, &mut degraded) {
        out.push(b',');
        write_str(&mut out, key);
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
    }
    verbatim(&mut out, "stop", get(req, "stop"));
    if let Some(user) = user.or(safety_identifier) {
        out.extend_from_slice(b",\"user\":");
        write_str(&mut out, user);
    }
    verbatim(&mut out, "seed", get(req, "seed"));
    out.push(b'}');
    report_params(req, &mut degraded);

    let mut tool_map = Vec::with_capacity(64);
    tools.write_map(&mut tool_map);
    Ok(ConvertedRequest {
        body: out,
        degraded: degraded.0,
        tool_map,
        echo: write_echo(req, instructions),
        stream,
        model,
    })
}

#[cfg(test)]
mod golden_tests;
