//! Stream translation, Chat Completions SSE → Responses SSE (contract §3).
//!
//! Bytes in, bytes out: [`Translator::feed`] decodes SSE with the [`SseDecoder`] over the input,
//! deserialises each chunk into a reused [`chunk::Chunk`], and writes the Responses events
//! straight into the caller's buffer. In the steady state nothing is allocated per event: text is
//! accumulated in buffers that the `.done` events need anyway.
pub mod chunk;
pub mod events;
pub mod scan;
pub mod think;
pub mod tools;

use crate::error::EngineError;
use crate::json::write_str;
use crate::profiles::Profile;
use crate::sse::SseDecoder;
use crate::usage::Usage;
use chunk::{Choice, Chunk, ErrorRaw, Fragment, Kind};
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
        profile: &Profile,
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
        resp_echo.push(b',');
        resp_echo.extend_from_slice(echo_body(echo)?);
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
        sse.feed_str(input, |data| on_data(chunk, think, st, data, out));
    }

    /// Upstream EOF: pending data, closing events and exactly one terminal event.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.st.start(out);
        if self.st.done {
            return;
        }
        let Translator { sse, chunk, think, st } = self;
        sse.finish_str(|data| on_data(chunk, think, st, data, out));
        if !self.st.done {
            end_of_stream(&mut self.think, &mut self.st, true, out);
        }
    }

    /// One already-framed payload (used by the non-streaming conversion).
    pub fn feed_payload(&mut self, payload: &str, out: &mut Vec<u8>) {
        self.st.start(out);
        let Translator { chunk, think, st, .. } = self;
        on_data(chunk, think, st, payload, out);
    }

    /// End of the payloads fed with [`feed_payload`](Self::feed_payload) (like `[DONE]`).
    pub fn end_of_stream(&mut self, out: &mut Vec<u8>) {
        if !self.st.done {
            end_of_stream(&mut self.think, &mut self.st, false, out);
        }
    }

    /// Fail the response now (server-side failure): `response.failed` with this error.
    pub fn fail(&mut self, code: &str, message: &str, out: &mut Vec<u8>) {
        self.st.start(out);
        if !self.st.done {
            let code = normalize_error_code((!code.is_empty()).then_some(code), "", message);
            self.st.failed(&code, message, out);
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

/// The echo object's body (without braces), spliced verbatim into every response object. As in
/// engine/stream.py, only the braces are checked: the echo comes from request conversion.
fn echo_body(echo: Option<&[u8]>) -> Result<&[u8], EngineError> {
    const DEFAULT: &[u8] = br#""instructions":null,"metadata":{},"parallel_tool_calls":true,"temperature":null,"tool_choice":"auto","tools":[],"top_p":null"#;
    let echo = match echo {
        Some(echo) if !echo.is_empty() => echo,
        _ => return Ok(DEFAULT),
    };
    if std::str::from_utf8(echo).is_err() {
        return Err(EngineError::new("echo is not valid UTF-8"));
    }
    let text = strip_ws(echo);
    if text.len() < 2 || text[0] != b'{' || text[text.len() - 1] != b'}' {
        return Err(EngineError::new("echo must be a JSON object"));
    }
    Ok(&text[1..text.len() - 1])
}

/// Strip the whitespace the Python engine strips from payloads (`_ASCII_WS`).
fn strip_ws(mut s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
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

/// finish_reason values that end the response as incomplete, and why.
fn incomplete_reason(finish: &str) -> Option<&'static str> {
    match finish {
        "length" => Some("max_output_tokens"),
        "content_filter" | "sensitive" => Some("content_filter"),
        _ => None,
    }
}

/// finish_reason values that mean the generation broke: items stay open, the response fails.
fn is_failing(finish: &str) -> bool {
    finish == "network_error"
}

/// One SSE data payload (contract §3.3).
fn on_data(chunk: &mut Chunk, think: &mut ThinkSplitter, st: &mut State, data: &str, out: &mut Vec<u8>) {
    if st.done {
        return;
    }
    let stripped = strip_ws(data.as_bytes());
    if stripped.is_empty() {
        return;
    }
    if stripped == b"[DONE]" {
        end_of_stream(think, st, false, out);
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
    for choice in chunk.choices() {
        if !choice.is_object {
            continue;
        }
        if !matches!(choice.index.kind, Kind::Absent | Kind::Null | Kind::Int(0)) {
            st.degrade("stream:extra_choices");
            continue;
        }
        // Moonshot/Kimi put usage on the choice; a top-level usage object wins.
        if chunk.usage != Kind::Object && choice.usage == Kind::Object {
            st.usage = Some(Usage::from_raw(&choice.usage_raw));
        }
        on_choice(choice, think, st, out);
    }
}

fn on_choice(choice: &Choice, think: &mut ThinkSplitter, st: &mut State, out: &mut Vec<u8>) {
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
        if let Some(reason) = choice.finish_reason.non_empty_str() {
            st.finish_reason = Some(reason.to_string());
            if !is_failing(reason) {
                st.close_all(think, out);
            }
        }
    }
}

/// `[DONE]` or upstream EOF (`eof`), whichever first (contract §3.5).
fn end_of_stream(think: &mut ThinkSplitter, st: &mut State, eof: bool, out: &mut Vec<u8>) {
    let reason = match st.finish_reason.as_deref() {
        None if eof => {
            st.failed("server_error", "upstream stream ended before a finish_reason", out);
            return;
        }
        None => {
            st.degrade("stream:missing_finish_reason");
            None
        }
        Some(finish) if is_failing(finish) => {
            let message = format!("upstream reported {finish}");
            st.failed("server_error", &message, out);
            return;
        }
        Some(finish) => incomplete_reason(finish),
    };
    st.close_all(think, out);
    match reason {
        None => {
            st.status = Status::Completed;
            st.terminal_event(Ev::Completed, None, None, out);
        }
        Some(reason) => {
            st.status = Status::Incomplete;
            st.terminal_event(Ev::Incomplete, None, Some(reason), out);
        }
    }
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
    fn write_response(
        &self,
        out: &mut Vec<u8>,
        with_items: bool,
        error: Option<(&str, &str)>,
        incomplete: Option<&str>,
    ) {
        out.extend_from_slice(&self.resp_head);
        out.push(b'"');
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b'"');
        out.extend_from_slice(&self.resp_model);
        if with_items {
            // In the order the items were done (what engine/stream.py does; see the report).
            for (i, (_, start, end)) in self.done_spans.iter().enumerate() {
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

    fn terminal_event(
        &mut self,
        ev: Ev,
        error: Option<(&str, &str)>,
        incomplete: Option<&str>,
        out: &mut Vec<u8>,
    ) {
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
        self.failed(&code, message, out);
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
                out.extend_from_slice(
                    b",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}",
                );
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
                d.extend_from_slice(
                    b",\"type\":\"reasoning\",\"summary\":[{\"type\":\"summary_text\",\"text\":",
                );
                write_str(d, &self.reasoning_text);
                d.extend_from_slice(b"}]}");
                self.item_done(n, start, out);
            }
            Open::Message(n) => {
                self.close_part(n, out);
                let start = self.done_items.len();
                let status = self.item_status();
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

    /// Status of an item closing now: `incomplete` once a finish_reason that ends the response
    /// incomplete was seen.
    fn item_status(&self) -> &'static str {
        match self.finish_reason.as_deref() {
            Some(finish) if incomplete_reason(finish).is_some() => "incomplete",
            _ => "completed",
        }
    }

    /// Close everything open: held think text goes out, then the reasoning/message item closes,
    /// then tool calls in creation order.
    fn close_all(&mut self, think: &mut ThinkSplitter, out: &mut Vec<u8>) {
        think.flush(&mut |p| self.piece(p, out));
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
            (frag.name.non_empty_str(), frag.arguments.non_empty_str())
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
            think.flush(&mut |p| self.piece(p, out));
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
        let (Some(n), Some(CallKind::Function | CallKind::Namespace { .. })) =
            (call.output_index, &call.kind)
        else {
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
                let status = self.item_status();
                write_call_item(&mut self.done_items, &self.ev, &self.calls.list[i], status, &input);
                self.item_done(n, start, out);
            }
            CallKind::Function | CallKind::Namespace { .. } => {
                if !call.delta_sent && call.args.is_empty() {
                    call.args.push_str("{}");
                    self.send_args(i, out);
                }
                let status = self.item_status();
                let call = &self.calls.list[i];
                self.ev.begin(out, Ev::ArgsDone);
                self.ev.item_ref(out, IdKind::FunctionCall, n);
                out.extend_from_slice(b",\"arguments\":");
                write_str(out, &call.args);
                EventWriter::end(out);
                let start = self.done_items.len();
                write_call_item(&mut self.done_items, &self.ev, call, status, &call.args);
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
fn error_code_and_message(e: &ErrorRaw) -> (String, &str) {
    if e.value.kind == Kind::Str {
        return (normalize_error_code(None, "", &e.value.text), &e.value.text);
    }
    let code = e.code.non_empty_str();
    let kind = e.type_.as_str().unwrap_or("");
    let message = e.message.as_str().unwrap_or("upstream error");
    (normalize_error_code(code, kind, message), message)
}

/// Map an upstream error to a code Codex and the SDKs act on (contract §3.6); the haystack is
/// `code type message`, ASCII-lower-cased.
pub fn normalize_error_code(code: Option<&str>, kind: &str, message: &str) -> String {
    let mut hay = Vec::with_capacity(code.map_or(0, str::len) + kind.len() + message.len() + 2);
    hay.extend_from_slice(code.unwrap_or("").as_bytes());
    hay.push(b' ');
    hay.extend_from_slice(kind.as_bytes());
    hay.push(b' ');
    hay.extend_from_slice(message.as_bytes());
    hay.make_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| memchr::memmem::find(&hay, w.as_bytes()).is_some());
    if has(&["context_length", "context length", "maximum context", "too long", "too many tokens"]) {
        "context_length_exceeded".to_string()
    } else if has(&["insufficient_quota", "quota"]) {
        "insufficient_quota".to_string()
    } else if has(&["rate_limit", "rate limit", "429", "too many requests"]) {
        "rate_limit_exceeded".to_string()
    } else {
        code.unwrap_or("server_error").to_string()
    }
}

#[cfg(test)]
mod tests;
