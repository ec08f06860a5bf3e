//! Input items → Chat messages (contract §4.2). Texts borrow from the parsed request, so the
//! large developer prompts are escaped straight from the parsed value into the output, never
//! copied in between.

use std::borrow::Cow;
use std::fmt::Display;

use serde_json::Value;

use super::fields::{as_objects, get, objects, req_str, type_of, Obj};
use super::tools::flat_tool_name;
use super::Degraded;
use crate::error::EngineError;
use crate::json::{write_escaped, write_joined, write_str};
use crate::profiles::Profile;

/// Texts of one message join with "\n"; texts of different messages merged into one with "\n\n".
pub const PART_JOIN: &str = "\n";
pub const MESSAGE_JOIN: &str = "\n\n";
const MOVED_IMAGES_NOTE: &str = "(image output attached in the next user message)";

#[derive(Clone, Copy)]
pub struct Image<'a> {
    url: &'a str,
    detail: Option<&'a str>,
}

pub enum Part<'a> {
    Text(&'a str),
    Image(Image<'a>),
}

pub struct ToolCall<'a> {
    id: &'a str,
    name: Cow<'a, str>,
    arguments: Cow<'a, str>,
}

enum ToolContent<'a> {
    /// one string: the texts joined with "\n" (plus the moved-images note)
    Text(Vec<&'a str>, bool),
    /// text and image parts (tool_images profiles)
    Parts(Vec<Part<'a>>),
}

enum Msg<'a> {
    /// each entry is one message's texts (joined "\n"); entries join with "\n\n"
    System(Vec<Vec<&'a str>>),
    User(Vec<Part<'a>>),
    /// images taken out of tool outputs: per call, a header text and its images
    ToolImages(Vec<(&'a str, Vec<Image<'a>>)>),
    Assistant {
        parts: Vec<Part<'a>>,
        reasoning: Vec<&'a str>,
        calls: Vec<ToolCall<'a>>,
    },
    Tool {
        call_id: &'a str,
        content: ToolContent<'a>,
    },
}

/// Where a content array sits, for error messages: `input[3].content` / `input[3].output`.
struct At<'k> {
    item: usize,
    key: &'k str,
}

impl Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "input[{}].{}", self.item, self.key)
    }
}

fn write_image(out: &mut Vec<u8>, image: &Image<'_>) {
    out.extend_from_slice(b"{\"type\":\"image_url\",\"image_url\":{\"url\":");
    write_str(out, image.url);
    if let Some(detail) = image.detail {
        out.extend_from_slice(b",\"detail\":");
        write_str(out, detail);
    }
    out.extend_from_slice(b"}}");
}

fn joined_is_empty(texts: &[&str]) -> bool {
    texts.is_empty() || (texts.len() == 1 && texts[0].is_empty())
}

pub struct Messages<'a> {
    profile: &'a Profile,
    messages: Vec<Msg<'a>>,
    /// system_at_front: every system text, in order
    front_system: Vec<Vec<&'a str>>,
    pending_reasoning: Vec<&'a str>,
    pending_images: Vec<(&'a str, Vec<Image<'a>>)>,
}

impl<'a> Messages<'a> {
    pub fn new(profile: &'a Profile) -> Self {
        Messages {
            profile,
            messages: Vec::new(),
            front_system: Vec::new(),
            pending_reasoning: Vec::new(),
            pending_images: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.front_system.is_empty()
    }

    // ---- emitting ------------------------------------------------------------------------

    fn flush_images(&mut self) {
        if self.pending_images.is_empty() {
            return;
        }
        let images = std::mem::take(&mut self.pending_images);
        self.messages.push(Msg::ToolImages(images));
    }

    fn emit(&mut self, msg: Msg<'a>) {
        if !matches!(msg, Msg::Tool { .. }) {
            self.flush_images();
        }
        self.messages.push(msg);
    }

    /// One system text (the texts of one message, joined "\n").
    pub fn add_system(&mut self, texts: Vec<&'a str>) {
        if joined_is_empty(&texts) {
            return;
        }
        if self.profile.system_at_front {
            self.front_system.push(texts);
            return;
        }
        self.flush_images();
        if let Some(Msg::System(entries)) = self.messages.last_mut() {
            entries.push(texts);
            return;
        }
        self.messages.push(Msg::System(vec![texts]));
    }

    pub fn add_user_text(&mut self, text: &'a str) {
        self.emit(Msg::User(vec![Part::Text(text)]));
    }

    fn add_assistant(&mut self, parts: Vec<Part<'a>>) {
        let reasoning = std::mem::take(&mut self.pending_reasoning);
        self.emit(Msg::Assistant {
            parts,
            reasoning,
            calls: Vec::new(),
        });
    }

    fn add_tool_call(&mut self, call: ToolCall<'a>) {
        if !matches!(self.messages.last(), Some(Msg::Assistant { .. })) {
            self.emit(Msg::Assistant {
                parts: Vec::new(),
                reasoning: Vec::new(),
                calls: Vec::new(),
            });
        }
        if let Some(Msg::Assistant {
            reasoning, calls, ..
        }) = self.messages.last_mut()
        {
            reasoning.append(&mut self.pending_reasoning);
            calls.push(call);
        }
    }

    pub fn finish(&mut self) {
        self.flush_images();
    }

    // ---- content parts -------------------------------------------------------------------

    fn image(part: &'a Obj, degraded: &mut Degraded) -> Option<Image<'a>> {
        let Some(Value::String(url)) = get(part, "image_url") else {
            degraded.report("image:no_url");
            return None;
        };
        let detail = match get(part, "detail") {
            Some(Value::String(d)) => Some(d.as_str()),
            _ => None,
        };
        Some(Image { url, detail })
    }

    /// Message content → ordered text / image parts (unknown parts skipped and reported).
    fn parts_of(
        content: Option<&'a Value>,
        at: &At<'_>,
        degraded: &mut Degraded,
    ) -> Result<Vec<Part<'a>>, EngineError> {
        let items = match content {
            None => return Ok(Vec::new()),
            Some(Value::String(s)) => return Ok(vec![Part::Text(s)]),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(EngineError::new(format!(
                    "{at} must be a string or an array"
                )))
            }
        };
        objects(items, at)?;
        let mut out = Vec::with_capacity(items.len());
        for (i, part) in as_objects(items).enumerate() {
            match type_of(part) {
                Some("input_text" | "output_text") => {
                    let text = req_str(part, "text", || format!("{at}[{i}]."))?;
                    out.push(Part::Text(text));
                }
                Some("refusal") => {
                    let text = req_str(part, "refusal", || format!("{at}[{i}]."))?;
                    out.push(Part::Text(text));
                }
                Some("input_image") => {
                    if let Some(image) = Self::image(part, degraded) {
                        out.push(Part::Image(image));
                    }
                }
                Some(other) => degraded.report_prefixed("part:", other),
                None => degraded.report("part:unknown"),
            }
        }
        Ok(out)
    }

    // ---- items ---------------------------------------------------------------------------

    fn message(
        &mut self,
        item: &'a Obj,
        i: usize,
        degraded: &mut Degraded,
    ) -> Result<(), EngineError> {
        let role = match get(item, "role") {
            Some(Value::String(r))
                if matches!(r.as_str(), "user" | "assistant" | "system" | "developer") =>
            {
                r.as_str()
            }
            _ => {
                return Err(EngineError::new(format!(
                    "input[{i}].role must be one of user, assistant, system, developer"
                )))
            }
        };
        let parts = Self::parts_of(
            get(item, "content"),
            &At {
                item: i,
                key: "content",
            },
            degraded,
        )?;
        match role {
            "system" | "developer" => {
                let mut texts = Vec::with_capacity(parts.len());
                for part in parts {
                    match part {
                        Part::Text(t) => texts.push(t),
                        Part::Image(_) => degraded.report("image:system_message"),
                    }
                }
                if !texts.is_empty() {
                    self.add_system(texts);
                }
            }
            "assistant" => {
                let mut parts = parts;
                if parts.iter().any(|p| matches!(p, Part::Image(_))) {
                    degraded.report("image:assistant_message");
                    parts.retain(|p| matches!(p, Part::Text(_)));
                }
                if !parts.is_empty() {
                    self.add_assistant(parts);
                }
            }
            _ => {
                if !parts.is_empty() {
                    self.emit(Msg::User(parts));
                }
            }
        }
        Ok(())
    }

    fn function_call(&mut self, item: &'a Obj, i: usize) -> Result<(), EngineError> {
        let path = || format!("input[{i}].");
        let call_id = req_str(item, "call_id", path)?;
        let name = req_str(item, "name", path)?;
        let arguments = match get(item, "arguments") {
            None => "{}",
            Some(Value::String(a)) => a.as_str(),
            Some(_) => {
                return Err(EngineError::new(format!(
                    "input[{i}].arguments must be a string"
                )))
            }
        };
        let name = match get(item, "namespace") {
            Some(Value::String(ns)) => Cow::Owned(flat_tool_name(ns, name)),
            _ => Cow::Borrowed(name),
        };
        self.add_tool_call(ToolCall {
            id: call_id,
            name,
            arguments: Cow::Borrowed(arguments),
        });
        Ok(())
    }

    fn custom_tool_call(&mut self, item: &'a Obj, i: usize) -> Result<(), EngineError> {
        let path = || format!("input[{i}].");
        let call_id = req_str(item, "call_id", path)?;
        let name = req_str(item, "name", path)?;
        let input = match get(item, "input") {
            None => "",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(EngineError::new(format!(
                    "input[{i}].input must be a string"
                )))
            }
        };
        let mut arguments = Vec::with_capacity(input.len() + 16);
        arguments.extend_from_slice(b"{\"input\":");
        write_str(&mut arguments, input);
        arguments.push(b'}');
        let arguments = String::from_utf8(arguments).expect("JSON text is UTF-8");
        self.add_tool_call(ToolCall {
            id: call_id,
            name: Cow::Borrowed(name),
            arguments: Cow::Owned(arguments),
        });
        Ok(())
    }

    fn tool_output(
        &mut self,
        item: &'a Obj,
        i: usize,
        degraded: &mut Degraded,
    ) -> Result<(), EngineError> {
        let call_id = req_str(item, "call_id", || format!("input[{i}]."))?;
        let content = match get(item, "output") {
            None => ToolContent::Text(vec![""], false),
            Some(Value::String(s)) => ToolContent::Text(vec![s.as_str()], false),
            Some(output @ Value::Array(_)) => {
                let parts = Self::parts_of(
                    Some(output),
                    &At {
                        item: i,
                        key: "output",
                    },
                    degraded,
                )?;
                let has_images = parts.iter().any(|p| matches!(p, Part::Image(_)));
                if has_images && self.profile.tool_images {
                    ToolContent::Parts(parts)
                } else {
                    let mut texts = Vec::with_capacity(parts.len());
                    let mut images = Vec::new();
                    for part in parts {
                        match part {
                            Part::Text(t) => texts.push(t),
                            Part::Image(image) => images.push(image),
                        }
                    }
                    if has_images {
                        self.pending_images.push((call_id, images));
                    }
                    ToolContent::Text(texts, has_images)
                }
            }
            Some(_) => {
                return Err(EngineError::new(format!(
                    "input[{i}].output must be a string or an array"
                )))
            }
        };
        self.emit(Msg::Tool { call_id, content });
        Ok(())
    }

    fn reasoning(&mut self, item: &'a Obj) {
        if !self.profile.replay_reasoning {
            return;
        }
        for key in ["summary", "content"] {
            let Some(Value::Array(entries)) = get(item, key) else {
                continue;
            };
            for entry in entries {
                if let Some(Value::String(text)) = entry.as_object().and_then(|e| get(e, "text")) {
                    if !text.is_empty() {
                        self.pending_reasoning.push(text);
                    }
                }
            }
        }
    }

    pub fn item(
        &mut self,
        item: &'a Obj,
        i: usize,
        degraded: &mut Degraded,
    ) -> Result<(), EngineError> {
        let item_type = type_of(item);
        if item_type == Some("message")
            || (get(item, "type").is_none() && get(item, "role").is_some())
        {
            return self.message(item, i, degraded);
        }
        match item_type {
            Some("function_call") => self.function_call(item, i)?,
            Some("custom_tool_call") => self.custom_tool_call(item, i)?,
            Some("function_call_output" | "custom_tool_call_output") => {
                self.tool_output(item, i, degraded)?
            }
            Some("reasoning") => self.reasoning(item),
            Some(other) => degraded.report_prefixed("item:", other),
            None => degraded.report("item:unknown"),
        }
        Ok(())
    }

    // ---- writing -------------------------------------------------------------------------

    fn write_content(&self, out: &mut Vec<u8>, parts: &[Part<'_>]) {
        let all_text = parts.iter().all(|p| matches!(p, Part::Text(_)));
        if all_text && (parts.len() == 1 || self.profile.string_content) {
            write_joined(
                out,
                parts.iter().map(|p| match p {
                    Part::Text(t) => *t,
                    Part::Image(_) => "",
                }),
                PART_JOIN,
            );
            return;
        }
        out.push(b'[');
        for (n, part) in parts.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            match part {
                Part::Text(t) => {
                    out.extend_from_slice(b"{\"type\":\"text\",\"text\":");
                    write_str(out, t);
                    out.push(b'}');
                }
                Part::Image(image) => write_image(out, image),
            }
        }
        out.push(b']');
    }

    fn write_system(out: &mut Vec<u8>, entries: &[Vec<&str>]) {
        out.extend_from_slice(b"{\"role\":\"system\",\"content\":\"");
        for (n, texts) in entries.iter().enumerate() {
            if n > 0 {
                write_escaped(out, MESSAGE_JOIN);
            }
            for (m, text) in texts.iter().enumerate() {
                if m > 0 {
                    write_escaped(out, PART_JOIN);
                }
                write_escaped(out, text);
            }
        }
        out.extend_from_slice(b"\"}");
    }

    /// The `messages` array.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b',');
            }
            first = false;
        };
        if !self.front_system.is_empty() {
            sep(out);
            Self::write_system(out, &self.front_system);
        }
        for msg in &self.messages {
            sep(out);
            match msg {
                Msg::System(entries) => Self::write_system(out, entries),
                Msg::User(parts) => {
                    out.extend_from_slice(b"{\"role\":\"user\",\"content\":");
                    self.write_content(out, parts);
                    out.push(b'}');
                }
                Msg::ToolImages(calls) => {
                    out.extend_from_slice(b"{\"role\":\"user\",\"content\":[");
                    for (n, (call_id, images)) in calls.iter().enumerate() {
                        if n > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(
                            b"{\"type\":\"text\",\"text\":\"Image output of tool call ",
                        );
                        write_escaped(out, call_id);
                        out.extend_from_slice(b":\"}");
                        for image in images {
                            out.push(b',');
                            write_image(out, image);
                        }
                    }
                    out.extend_from_slice(b"]}");
                }
                Msg::Tool { call_id, content } => {
                    out.extend_from_slice(b"{\"role\":\"tool\",\"tool_call_id\":");
                    write_str(out, call_id);
                    out.extend_from_slice(b",\"content\":");
                    match content {
                        ToolContent::Text(texts, note) => {
                            let note = note.then_some(MOVED_IMAGES_NOTE);
                            write_joined(out, texts.iter().copied().chain(note), PART_JOIN);
                        }
                        ToolContent::Parts(parts) => self.write_content(out, parts),
                    }
                    out.push(b'}');
                }
                Msg::Assistant {
                    parts,
                    reasoning,
                    calls,
                } => {
                    out.extend_from_slice(b"{\"role\":\"assistant\",\"content\":");
                    if parts.is_empty() {
                        out.extend_from_slice(b"null");
                    } else {
                        self.write_content(out, parts);
                    }
                    if !reasoning.is_empty() {
                        out.extend_from_slice(b",\"reasoning_content\":");
                        write_joined(out, reasoning.iter().copied(), MESSAGE_JOIN);
                    }
                    if !calls.is_empty() {
                        out.extend_from_slice(b",\"tool_calls\":[");
                        for (n, call) in calls.iter().enumerate() {
                            if n > 0 {
                                out.push(b',');
                            }
                            out.extend_from_slice(b"{\"id\":");
                            write_str(out, call.id);
                            out.extend_from_slice(
                                b",\"type\":\"function\",\"function\":{\"name\":",
                            );
                            write_str(out, &call.name);
                            out.extend_from_slice(b",\"arguments\":");
                            write_str(out, &call.arguments);
                            out.extend_from_slice(b"}}");
                        }
                        out.push(b']');
                    }
                    out.push(b'}');
                }
            }
        }
        out.push(b']');
    }
}
