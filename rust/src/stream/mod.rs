//! Stream translation, Chat Completions SSE → Responses SSE (contract §3).
//!
//! Bytes in, bytes out: [`Translator::feed`] decodes SSE with the [`SseDecoder`] over the input,
//! deserialises each chunk into a reused [`chunk::Chunk`], and writes the Responses events
//! straight into the caller's buffer. In the steady state nothing is allocated per event: text is
//! accumulated in buffers that the `.done` events need anyway.
pub mod chunk;
pub mod events;
pub mod think;
pub mod tools;

use crate::error::EngineError;
use crate::json::write_str;
use crate::profiles::Profile;
use crate::sse::SseDecoder;
use crate::usage::Usage;
use chunk::{Chunk, Choice, ErrorRaw, Fragment, Kind};
use events::{write_u32, Ev, EventWriter, IdKind};
use think::{Piece, ThinkSplitter};
use tools::{custom_input, CallKind, Calls, ToolMap};

/// The stream translator (one per response).
pub struct Translator {
    sse: SseDecoder,
    chunk: Chunk,
    think: ThinkSplitter,
    st: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    InProgress,
    Completed,
    Incomplete,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete => "incomplete",
            Status::Failed => "failed",
        }
    }
}

/// The open reasoning-or-message item (at most one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Reasoning(u32),
    Message(u32),
}

/// One content part of the open message (buffers reused across messages).
#[derive(Debug, Default)]
struct Part {
    refusal: bool,
    text: String,
}

/// Everything but the decoder, the chunk and the splitter, so that closures over the splitter's
/// output can borrow it alongside them.
struct State {
    ev: EventWriter,
    /// `S`: the response id without `resp_` (for generated call ids).
    sid: String,
    /// `{"id":RID,"object":"response","created_at":T,"status":`
    resp_head: Vec<u8>,
    /// `,"model":MODEL,"output":[`
    resp_model: Vec<u8>,
    /// `],ECHO,"error":`
    resp_echo: Vec<u8>,
    started: bool,
    done: bool,
    status: Status,
    next_output_index: u32,
    open: Open,
    reasoning_text: String,
    parts: Vec<Part>,
    n_parts: usize,
    calls: Calls,
    tool_map: ToolMap,
    /// JSON of the items that reached `output_item.done`, and (output_index, start, end) spans.
    done_items: Vec<u8>,
    done_spans: Vec<(u32, usize, usize)>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    degraded: Vec<String>,
    /// The response JSON of the terminal event (empty until then).
    terminal: Vec<u8>,
}

impl Translator {
    pub fn new(
        profile: &'static Profile,
        model: &str,
        response_id: &str,
        created_at: i64,
        tool_map: Option<&[u8]>,
        echo: Option<&[u8]>,
    ) -> Result<Self, EngineError> {
        let tool_map = ToolMap::parse(tool_map)?;
        let mut resp_head = Vec::with_capacity(64 + response_id.len());
        resp_head.extend_from_slice(b"{\"id\":");
        write_str(&mut resp_head, response_id);
        resp_head.extend_from_slice(b",\"object\":\"response\",\"created_at\":");
        resp_head.extend_from_slice(itoa::Buffer::new().format(created_at).as_bytes());
        resp_head.extend_from_slice(b",\"status\":");
        let mut resp_model = Vec::with_capacity(24 + model.len());
        resp_model.extend_from_slice(b",\"model\":");
        write_str(&mut resp_model, model);
        resp_model.extend_from_slice(b",\"output\":[");
        let mut resp_echo = Vec::new();
        resp_echo.push(b']');
        let body = echo_body(echo)?;
        if !body.is_empty() {
            resp_echo.push(b',');
            resp_echo.extend_from_slice(body);
        }
        resp_echo.extend_from_slice(b",\"error\":");
        Ok(Translator {
            sse: SseDecoder::new(),
            chunk: Chunk::default(),
            think: ThinkSplitter::new(profile.think_tags),
            st: State {
                ev: EventWriter::new(response_id),
                sid: response_id.strip_prefix("resp_").unwrap_or(response_id).to_string(),
                resp_head,
                resp_model,
                resp_echo,
                started: false,
                done: false,
                status: Status::InProgress,
                next_output_index: 0,
                open: Open::None,
                reasoning_text: String::new(),
                parts: Vec::new(),
                n_parts: 0,
                calls: Calls::default(),
                tool_map,
                done_items: Vec::new(),
                done_spans: Vec::new(),
                finish_reason: None,
                usage: None,
                degraded: Vec::new(),
                terminal: Vec::new(),
            },
        })
    }

    /// `response.created` and `response.in_progress`, once.
    pub fn start(&mut self, out: &mut Vec<u8>) {
        self.st.start(out);
    }

    /// Translate a slice of the upstream body (any split).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.st.start(out);
        if self.st.done {
            return;
        }
        let Translator { sse, chunk, think, st } = self;
        sse.feed(input, |data| on_data(chunk, think, st, data, out));
    }

    /// Upstream EOF: pending data, closing events and exactly one terminal event.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.st.start(out);
        if self.st.done {
            return;
        }
        let Translator { sse, chunk, think, st } = self;
        sse.finish(|data| on_data(chunk, think, st, data, out));
        if !self.st.done {
            end_of_stream(&mut self.think, &mut self.st, false, out);
        }
    }

    /// Fail the response now (server-side failure): `response.failed` with this error.
    pub fn fail(&mut self, code: &str, message: &str, out: &mut Vec<u8>) {
        self.st.start(out);
        if !self.st.done {
            self.st.failed(code, message, out);
        }
    }

    pub fn status(&self) -> &'static str {
        self.st.status.as_str()
    }

    pub fn is_done(&self) -> bool {
        self.st.done
    }

    pub fn terminal_response(&self) -> Option<&[u8]> {
        if self.st.done {
            Some(&self.st.terminal)
        } else {
            None
        }
    }

    pub fn degraded(&self) -> &[String] {
        &self.st.degraded
    }

    pub fn event_counts(&self) -> Vec<(&'static str, u64)> {
        self.st.ev.counts()
    }
}

/// The echo object's body (without braces), spliced verbatim into every response object.
fn echo_body(echo: Option<&[u8]>) -> Result<&[u8], EngineError> {
    const DEFAULT: &[u8] = br#""instructions":null,"metadata":{},"parallel_tool_calls":true,"temperature":null,"tool_choice":"auto","tools":[],"top_p":null"#;
    let Some(echo) = echo else { return Ok(DEFAULT) };
    let v = crate::json::parse(echo).map_err(|_| EngineError::new("echo is not a valid JSON object"))?;
    if !v.is_object() {
        return Err(EngineError::new("echo is not a valid JSON object"));
    }
    let trimmed = echo.trim_ascii();
    Ok(trimmed[1..trimmed.len() - 1].trim_ascii())
}

/// ASCII whitespace as Python's `bytes.strip()` sees it.
fn strip_ascii_ws(mut s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    while let [first, rest @ ..] = s {
        if !ws(first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !ws(last) {
            break;
        }
        s = rest;
    }
    s
}

/// One SSE data payload (contract §3.3).
fn on_data(chunk: &mut Chunk, think: &mut ThinkSplitter, st: &mut State, data: &[u8], out: &mut Vec<u8>) {
    if st.done {
        return;
    }
    let stripped = strip_ascii_ws(data);
    if stripped == b"[DONE]" {
        end_of_stream(think, st, true, out);
        return;
    }
    if stripped.is_empty() {
        return;
    }
    if chunk.parse(data).is_err() || !chunk.is_object {
        st.degrade("stream:malformed_chunk");
        return;
    }
    if matches!(chunk.error.value.kind, Kind::Str | Kind::Object) {
        st.upstream_error(&chunk.error, out);
        return;
    }
    if chunk.usage == Kind::Object {
        st.usage = Some(Usage::from_raw(&chunk.usage_raw));
    }
    if chunk.choices_kind != Kind::Array {
        return;
    }
    let mut chosen: Option<&Choice> = None;
    for choice in chunk.choices() {
        let first = matches!(choice.index.kind, Kind::Absent | Kind::Null | Kind::Int(0));
        if first && chosen.is_none() && choice.is_object {
            chosen = Some(choice);
        } else {
            st.degrade("stream:extra_choices");
        }
    }
    let Some(choice) = chosen else { return };
    let delta = &choice.delta;
    if delta.kind == Kind::Object {
        let reasoning = delta.reasoning_content.non_empty_str().or_else(|| delta.reasoning.non_empty_str());
        if let Some(text) = reasoning {
            st.reasoning_delta(text, out);
        }
        if let Some(text) = delta.content.non_empty_str() {
            think.feed(text, &mut |p| st.piece(p, out));
        }
        if let Some(text) = delta.refusal.non_empty_str() {
            st.content_delta(text, true, out);
        }
        if delta.tool_calls == Kind::Array {
            for frag in delta.fragments() {
                st.fragment(frag, think, out);
            }
        }
    }
    if st.finish_reason.is_none() {
        if let Some(reason) = choice.finish_reason.as_str() {
            st.finish_reason = Some(reason.to_string());
            think.finish(&mut |p| st.piece(p, out));
            st.close_all(out);
        }
    }
}

/// `[DONE]` (`done_marker`) or upstream EOF (contract §3.5).
fn end_of_stream(think: &mut ThinkSplitter, st: &mut State, done_marker: bool, out: &mut Vec<u8>) {
    let terminal = match st.finish_reason.as_deref() {
        Some("length") => Terminal::Incomplete("max_output_tokens"),
        Some("content_filter") | Some("sensitive") => Terminal::Incomplete("content_filter"),
        Some("network_error") => Terminal::Failed("upstream reported network_error"),
        Some(_) => Terminal::Completed,
        None if done_marker => {
            st.degrade("stream:missing_finish_reason");
            Terminal::Completed
        }
        None => Terminal::Failed("upstream stream ended before a finish_reason"),
    };
    match terminal {
        Terminal::Failed(message) => st.failed("server_error", message, out),
        Terminal::Completed | Terminal::Incomplete(_) => {
            think.finish(&mut |p| st.piece(p, out));
            st.close_all(out);
            if let Terminal::Incomplete(reason) = terminal {
                st.status = Status::Incomplete;
                st.terminal_event(Ev::Incomplete, None, Some(reason), out);
            } else {
                st.status = Status::Completed;
                st.terminal_event(Ev::Completed, None, None, out);
            }
        }
    }
}

enum Terminal {
    Completed,
    Incomplete(&'static str),
    Failed(&'static str),
}

impl State {
    fn degrade(&mut self, what: &str) {
        if !self.degraded.iter().any(|d| d == what) {
            self.degraded.push(what.to_string());
        }
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        for ev in [Ev::Created, Ev::InProgress] {
            self.ev.begin(out, ev);
            out.extend_from_slice(b",\"response\":");
            self.write_response(out, false, None, None);
            EventWriter::end(out);
        }
    }

    /// The response object (contract §3.1) with the current status.
    fn write_response(&self, out: &mut Vec<u8>, with_items: bool, error: Option<(&str, &str)>, incomplete: Option<&str>) {
        out.extend_from_slice(&self.resp_head);
        out.push(b'"');
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b'"');
        out.extend_from_slice(&self.resp_model);
        if with_items {
            let mut spans: Vec<(u32, usize, usize)> = self.done_spans.clone();
            spans.sort_unstable_by_key(|s| s.0);
            for (i, (_, start, end)) in spans.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&self.done_items[*start..*end]);
            }
        }
        out.extend_from_slice(&self.resp_echo);
        match error {
            Some((code, message)) => {
                out.extend_from_slice(b"{\"code\":");
                write_str(out, code);
                out.extend_from_slice(b",\"message\":");
                write_str(out, message);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"incomplete_details\":");
        match incomplete {
            Some(reason) => {
                out.extend_from_slice(b"{\"reason\":");
                write_str(out, reason);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"usage\":");
        match (&self.usage, with_items) {
            (Some(u), true) => u.write(out),
            _ => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }

    fn terminal_event(&mut self, ev: Ev, error: Option<(&str, &str)>, incomplete: Option<&str>, out: &mut Vec<u8>) {
        let mut response = std::mem::take(&mut self.terminal);
        response.clear();
        self.write_response(&mut response, true, error, incomplete);
        self.ev.begin(out, ev);
        out.extend_from_slice(b",\"response\":");
        out.extend_from_slice(&response);
        EventWriter::end(out);
        self.terminal = response;
        self.done = true;
    }

    fn failed(&mut self, code: &str, message: &str, out: &mut Vec<u8>) {
        self.status = Status::Failed;
        self.terminal_event(Ev::Failed, Some((code, message)), None, out);
    }

    fn upstream_error(&mut self, e: &ErrorRaw, out: &mut Vec<u8>) {
        let (code, message) = error_code_and_message(e);
        self.failed(&code, &message, out);
    }

    // --- items -------------------------------------------------------------------------------

    fn next_index(&mut self) -> u32 {
        let n = self.next_output_index;
        self.next_output_index += 1;
        n
    }

    fn piece(&mut self, p: Piece<'_>, out: &mut Vec<u8>) {
        match p {
            Piece::Text(s) => self.content_delta(s, false, out),
            Piece::Reasoning(s) => self.reasoning_delta(s, out),
            Piece::Report(r) => self.degrade(r),
        }
    }

    fn reasoning_delta(&mut self, text: &str, out: &mut Vec<u8>) {
        let n = match self.open {
            Open::Reasoning(n) => n,
            open => {
                if let Open::Message(_) = open {
                    self.close_open(out);
                }
                let n = self.next_index();
                self.open = Open::Reasoning(n);
                self.reasoning_text.clear();
                self.ev.begin(out, Ev::ItemAdded);
                out.extend_from_slice(b",\"output_index\":");
                write_u32(out, n);
                out.extend_from_slice(b",\"item\":{\"id\":");
                self.ev.write_id(out, IdKind::Reasoning, n);
                out.extend_from_slice(b",\"type\":\"reasoning\",\"summary\":[]}");
                EventWriter::end(out);
                self.ev.begin(out, Ev::SummaryPartAdded);
                self.ev.item_ref(out, IdKind::Reasoning, n);
                out.extend_from_slice(b",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}");
                EventWriter::end(out);
                n
            }
        };
        self.ev.begin(out, Ev::SummaryTextDelta);
        self.ev.item_ref(out, IdKind::Reasoning, n);
        out.extend_from_slice(b",\"summary_index\":0,\"delta\":");
        write_str(out, text);
        EventWriter::end(out);
        self.reasoning_text.push_str(text);
    }

    /// Text (`refusal` false) or refusal text for the open message.
    fn content_delta(&mut self, text: &str, refusal: bool, out: &mut Vec<u8>) {
        let n = match self.open {
            Open::Message(n) => {
                if self.parts[self.n_parts - 1].refusal != refusal {
                    self.close_part(n, out);
                    self.open_part(n, refusal, out);
                }
                n
            }
            open => {
                if let Open::Reasoning(_) = open {
                    self.close_open(out);
                }
                let n = self.next_index();
                self.open = Open::Message(n);
                self.n_parts = 0;
                self.ev.begin(out, Ev::ItemAdded);
                out.extend_from_slice(b",\"output_index\":");
                write_u32(out, n);
                out.extend_from_slice(b",\"item\":{\"id\":");
                self.ev.write_id(out, IdKind::Message, n);
                out.extend_from_slice(b",\"type\":\"message\",\"status\":\"in_progress\",\"content\":[],\"role\":\"assistant\"}");
                EventWriter::end(out);
                self.open_part(n, refusal, out);
                n
            }
        };
        let content_index = (self.n_parts - 1) as u32;
        self.ev.begin(out, if refusal { Ev::RefusalDelta } else { Ev::TextDelta });
        self.ev.item_ref(out, IdKind::Message, n);
        out.extend_from_slice(b",\"content_index\":");
        write_u32(out, content_index);
        out.extend_from_slice(b",\"delta\":");
        write_str(out, text);
        if !refusal {
            out.extend_from_slice(b",\"logprobs\":[]");
        }
        EventWriter::end(out);
        self.parts[self.n_parts - 1].text.push_str(text);
    }

    fn open_part(&mut self, n: u32, refusal: bool, out: &mut Vec<u8>) {
        if self.n_parts == self.parts.len() {
            self.parts.push(Part::default());
        }
        let part = &mut self.parts[self.n_parts];
        part.refusal = refusal;
        part.text.clear();
        self.n_parts += 1;
        self.ev.begin(out, Ev::PartAdded);
        self.ev.item_ref(out, IdKind::Message, n);
        out.extend_from_slice(b",\"content_index\":");
        write_u32(out, (self.n_parts - 1) as u32);
        out.extend_from_slice(if refusal {
            b",\"part\":{\"type\":\"refusal\",\"refusal\":\"\"}".as_slice()
        } else {
            b",\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}".as_slice()
        });
        EventWriter::end(out);
    }

    fn close_part(&mut self, n: u32, out: &mut Vec<u8>) {
        let k = self.n_parts - 1;
        let part = &self.parts[k];
        self.ev.begin(out, if part.refusal { Ev::RefusalDone } else { Ev::TextDone });
        self.ev.item_ref(out, IdKind::Message, n);
        out.extend_from_slice(b",\"content_index\":");
        write_u32(out, k as u32);
        if part.refusal {
            out.extend_from_slice(b",\"refusal\":");
            write_str(out, &part.text);
        } else {
            out.extend_from_slice(b",\"text\":");
            write_str(out, &part.text);
            out.extend_from_slice(b",\"logprobs\":[]");
        }
        EventWriter::end(out);
        self.ev.begin(out, Ev::PartDone);
        self.ev.item_ref(out, IdKind::Message, n);
        out.extend_from_slice(b",\"content_index\":");
        write_u32(out, k as u32);
        out.extend_from_slice(b",\"part\":");
        write_part(out, part);
        EventWriter::end(out);
    }

    /// Emit `output_item.done` for an item whose JSON the caller just appended to `done_items`
    /// from `start`.
    fn item_done(&mut self, n: u32, start: usize, out: &mut Vec<u8>) {
        let end = self.done_items.len();
        self.done_spans.push((n, start, end));
        self.ev.begin(out, Ev::ItemDone);
        out.extend_from_slice(b",\"output_index\":");
        write_u32(out, n);
        out.extend_from_slice(b",\"item\":");
        out.extend_from_slice(&self.done_items[start..end]);
        EventWriter::end(out);
    }

    /// Close the open reasoning or message item.
    fn close_open(&mut self, out: &mut Vec<u8>) {
        match self.open {
            Open::None => {}
            Open::Reasoning(n) => {
                self.ev.begin(out, Ev::SummaryTextDone);
                self.ev.item_ref(out, IdKind::Reasoning, n);
                out.extend_from_slice(b",\"summary_index\":0,\"text\":");
                write_str(out, &self.reasoning_text);
                EventWriter::end(out);
                self.ev.begin(out, Ev::SummaryPartDone);
                self.ev.item_ref(out, IdKind::Reasoning, n);
                out.extend_from_slice(b",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":");
                write_str(out, &self.reasoning_text);
                out.extend_from_slice(b"}");
                EventWriter::end(out);
                let start = self.done_items.len();
                let d = &mut self.done_items;
                d.extend_from_slice(b"{\"id\":");
                self.ev.write_id(d, IdKind::Reasoning, n);
                d.extend_from_slice(b",\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":");
                write_str(d, &self.reasoning_text);
                d.extend_from_slice(b"}]}");
                self.item_done(n, start, out);
            }
            Open::Message(n) => {
                self.close_part(n, out);
                let start = self.done_items.len();
                let status = if self.ends_incomplete() { "incomplete" } else { "completed" };
                let d = &mut self.done_items;
                d.extend_from_slice(b"{\"id\":");
                self.ev.write_id(d, IdKind::Message, n);
                d.extend_from_slice(b",\"type\":\"message\",\"status\":\"");
                d.extend_from_slice(status.as_bytes());
                d.extend_from_slice(b"\",\"content\":[");
                for (i, part) in self.parts[..self.n_parts].iter().enumerate() {
                    if i > 0 {
                        d.push(b',');
                    }
                    write_part(d, part);
                }
                d.extend_from_slice(b"],\"role\":\"assistant\"}");
                self.item_done(n, start, out);
            }
        }
        self.open = Open::None;
    }

    /// Whether the finish_reason seen so far ends the response incomplete.
    fn ends_incomplete(&self) -> bool {
        matches!(self.finish_reason.as_deref(), Some("length" | "content_filter" | "sensitive"))
    }

    /// Close everything open: the reasoning/message item, then tool calls in creation order.
    fn close_all(&mut self, out: &mut Vec<u8>) {
        self.close_open(out);
        for i in 0..self.calls.list.len() {
            if self.calls.list[i].closed {
                continue;
            }
            self.calls.list[i].closed = true;
            if self.calls.list[i].output_index.is_none() {
                self.degrade("stream:tool_call_without_name");
                continue;
            }
            self.close_call(i, out);
        }
    }

    // --- tool calls --------------------------------------------------------------------------

    fn fragment(&mut self, frag: &Fragment, think: &mut ThinkSplitter, out: &mut Vec<u8>) {
        if !frag.is_object {
            return;
        }
        let i = self.calls.match_fragment(frag);
        if self.calls.list[i].closed {
            self.degrade("stream:late_tool_call_fragment");
            return;
        }
        let (name, arguments) = if frag.function == Kind::Object {
            (frag.name.non_empty_str(), frag.arguments.as_str())
        } else {
            (None, None)
        };
        let call = &mut self.calls.list[i];
        if call.name.is_none() {
            if let Some(name) = name {
                call.name = Some(name.to_string());
            }
        }
        if let Some(args) = arguments {
            call.add_arguments(args);
        }
        if call.output_index.is_none() && call.name.is_some() {
            think.resolve_held(&mut |p| self.piece(p, out));
            self.close_open(out);
            self.make_visible(i, out);
        }
        self.send_args(i, out);
    }

    fn make_visible(&mut self, i: usize, out: &mut Vec<u8>) {
        let n = self.next_index();
        let call = &self.calls.list[i];
        let call_id = match &call.id {
            Some(id) => id.clone(),
            None => format!("call_{}_{}", self.sid, n),
        };
        let kind = self.tool_map.classify(call.name.as_deref().unwrap_or(""));
        let call = &mut self.calls.list[i];
        call.output_index = Some(n);
        call.call_id = call_id;
        call.kind = Some(kind);
        let call = &self.calls.list[i];
        self.ev.begin(out, Ev::ItemAdded);
        out.extend_from_slice(b",\"output_index\":");
        write_u32(out, n);
        out.extend_from_slice(b",\"item\":");
        write_call_item(out, &self.ev, call, "in_progress", "");
        EventWriter::end(out);
    }

    /// Send the arguments not sent yet (function calls only; custom calls send at close).
    fn send_args(&mut self, i: usize, out: &mut Vec<u8>) {
        let call = &mut self.calls.list[i];
        let (Some(n), Some(CallKind::Function | CallKind::Namespace { .. })) = (call.output_index, &call.kind) else {
            return;
        };
        if call.sent == call.args.len() {
            return;
        }
        self.ev.begin(out, Ev::ArgsDelta);
        self.ev.item_ref(out, IdKind::FunctionCall, n);
        out.extend_from_slice(b",\"delta\":");
        write_str(out, &call.args[call.sent..]);
        EventWriter::end(out);
        call.sent = call.args.len();
        call.delta_sent = true;
    }

    fn close_call(&mut self, i: usize, out: &mut Vec<u8>) {
        let call = &mut self.calls.list[i];
        let n = call.output_index.expect("visible call");
        match call.kind.clone().expect("visible call") {
            CallKind::Custom => {
                let input = match custom_input(&call.args) {
                    Some(input) => input,
                    None => {
                        let raw = call.args.clone();
                        self.degrade("custom_tool:input_not_json");
                        raw
                    }
                };
                if !input.is_empty() {
                    self.ev.begin(out, Ev::InputDelta);
                    self.ev.item_ref(out, IdKind::CustomToolCall, n);
                    out.extend_from_slice(b",\"delta\":");
                    write_str(out, &input);
                    EventWriter::end(out);
                }
                self.ev.begin(out, Ev::InputDone);
                self.ev.item_ref(out, IdKind::CustomToolCall, n);
                out.extend_from_slice(b",\"input\":");
                write_str(out, &input);
                EventWriter::end(out);
                let start = self.done_items.len();
                write_call_item(&mut self.done_items, &self.ev, &self.calls.list[i], "completed", &input);
                self.item_done(n, start, out);
            }
            CallKind::Function | CallKind::Namespace { .. } => {
                if !call.delta_sent && call.args.is_empty() {
                    call.args.push_str("{}");
                    self.send_args(i, out);
                }
                let call = &self.calls.list[i];
                self.ev.begin(out, Ev::ArgsDone);
                self.ev.item_ref(out, IdKind::FunctionCall, n);
                out.extend_from_slice(b",\"arguments\":");
                write_str(out, &call.args);
                EventWriter::end(out);
                let start = self.done_items.len();
                write_call_item(&mut self.done_items, &self.ev, call, "completed", &call.args);
                self.item_done(n, start, out);
            }
        }
    }
}

/// A function-call or custom-tool-call item (`payload` = arguments or input).
fn write_call_item(out: &mut Vec<u8>, ev: &EventWriter, call: &tools::Call, status: &str, payload: &str) {
    let n = call.output_index.expect("visible call");
    let kind = call.kind.as_ref().expect("visible call");
    out.extend_from_slice(b"{\"id\":");
    if *kind == CallKind::Custom {
        ev.write_id(out, IdKind::CustomToolCall, n);
        out.extend_from_slice(b",\"type\":\"custom_tool_call\",\"status\":\"");
        out.extend_from_slice(status.as_bytes());
        out.extend_from_slice(b"\",\"call_id\":");
        write_str(out, &call.call_id);
        out.extend_from_slice(b",\"name\":");
        write_str(out, call.name.as_deref().unwrap_or(""));
        out.extend_from_slice(b",\"input\":");
        write_str(out, payload);
        out.push(b'}');
        return;
    }
    ev.write_id(out, IdKind::FunctionCall, n);
    out.extend_from_slice(b",\"type\":\"function_call\",\"status\":\"");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\",\"arguments\":");
    write_str(out, payload);
    out.extend_from_slice(b",\"call_id\":");
    write_str(out, &call.call_id);
    out.extend_from_slice(b",\"name\":");
    match kind {
        CallKind::Namespace { namespace, name } => {
            write_str(out, name);
            out.extend_from_slice(b",\"namespace\":");
            write_str(out, namespace);
        }
        _ => write_str(out, call.name.as_deref().unwrap_or("")),
    }
    out.push(b'}');
}

fn write_part(out: &mut Vec<u8>, part: &Part) {
    if part.refusal {
        out.extend_from_slice(b"{\"type\":\"refusal\",\"refusal\":");
        write_str(out, &part.text);
        out.push(b'}');
    } else {
        out.extend_from_slice(b"{\"type\":\"output_text\",\"text\":");
        write_str(out, &part.text);
        out.extend_from_slice(b",\"annotations\":[]}");
    }
}

/// The code and message of a `response.failed` for an upstream error (contract §3.6).
fn error_code_and_message(e: &ErrorRaw) -> (String, String) {
    let (code, type_, message) = match e.value.kind {
        Kind::Str => (None, "", e.value.text.as_str()),
        _ => {
            let message = e.message.as_str().unwrap_or("upstream error");
            (Some(&e.code), e.type_.as_str().unwrap_or(""), message)
        }
    };
    let string_code = code.and_then(|c| c.as_str());
    let code_text = match code.map(|c| c.kind) {
        Some(Kind::Str) => e.code.text.clone(),
        Some(Kind::Int(i)) => i.to_string(),
        Some(Kind::Float(f)) => crate::stream::py_float_repr(f),
        _ => String::new(),
    };
    let hay = format!("{code_text} {type_} {message}").to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| hay.contains(w));
    let code = if has(&["context_length", "context length", "maximum context", "too long", "too many tokens"]) {
        "context_length_exceeded".to_string()
    } else if has(&["insufficient_quota", "quota"]) {
        "insufficient_quota".to_string()
    } else if has(&["rate_limit", "rate limit", "429", "too many requests"]) {
        "rate_limit_exceeded".to_string()
    } else {
        string_code.unwrap_or("server_error").to_string()
    };
    (code, message.to_string())
}

/// Python's `repr(float)` (finite values).
pub fn py_float_repr(f: f64) -> String {
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("exponent");
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp < 0 {
            s.push_str("0.");
            for _ in 0..(-exp - 1) {
                s.push('0');
            }
            s.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                s.push_str(&digits);
                for _ in digits.len()..int_len {
                    s.push('0');
                }
                s.push_str(".0");
            } else {
                s.push_str(&digits[..int_len]);
                s.push('.');
                s.push_str(&digits[int_len..]);
            }
        }
    } else {
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        let a = exp.unsigned_abs();
        if a < 10 {
            s.push('0');
        }
        s.push_str(&a.to_string());
    }
    s
}

#[cfg(test)]
mod tests;
