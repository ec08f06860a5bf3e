//! Stream translation, Chat Completions SSE → Responses SSE (contract §3).
//!
//! Bytes in, bytes out: [`Translator::feed`] decodes SSE with the [`SseDecoder`] over the input,
//! deserialises each chunk into a reused [`chunk::Chunk`], and writes the Responses events
//! straight into the caller's buffer. In the steady state nothing is allocated per event: text is
//! accumulated in buffers that the `.done` events need anyway.
mod calls;
pub mod chunk;
pub mod events;
mod failure;
mod items;
pub mod scan;
pub mod think;
pub mod tools;

use crate::error::EngineError;
use crate::json::write_str;
use crate::profiles::Profile;
use crate::sse::SseDecoder;
use crate::usage::Usage;
use chunk::{Choice, Chunk, ErrorRaw, Kind};
use events::{Ev, EventWriter};
use failure::error_code_and_message;
pub use failure::normalize_error_code;
use think::ThinkSplitter;
use tools::{Calls, ToolMap};

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
    /// JSON of the items that reached `output_item.done`, and their (output_index, start, end)
    /// spans.
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
                sid: response_id
                    .strip_prefix("resp_")
                    .unwrap_or(response_id)
                    .to_string(),
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
        let Translator {
            sse,
            chunk,
            think,
            st,
        } = self;
        sse.feed_str(input, |data| on_data(chunk, think, st, data, out));
    }

    /// Upstream EOF: pending data, closing events and exactly one terminal event.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.st.start(out);
        if self.st.done {
            return;
        }
        let Translator {
            sse,
            chunk,
            think,
            st,
        } = self;
        sse.finish_str(|data| on_data(chunk, think, st, data, out));
        if !self.st.done {
            end_of_stream(&mut self.think, &mut self.st, true, out);
        }
    }

    /// One already-framed payload (used by the non-streaming conversion).
    pub fn feed_payload(&mut self, payload: &str, out: &mut Vec<u8>) {
        self.st.start(out);
        let Translator {
            chunk, think, st, ..
        } = self;
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

    /// A `response.in_progress` event for a long upstream silence (Codex's idle timer ignores
    /// SSE comments): the stream start if nothing was sent yet, nothing once done.
    pub fn keepalive(&mut self, out: &mut Vec<u8>) {
        if !self.st.started {
            self.st.start(out);
        } else if !self.st.done {
            self.st.ev.begin(out, Ev::InProgress);
            out.extend_from_slice(b",\"response\":");
            self.st.write_response(out, false, None, None);
            EventWriter::end(out);
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
/// engine/stream.py, only the braces are checked: the echo comes from request conversion. An
/// empty object means "no echo" (the response object needs the default fields).
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
    let body = &text[1..text.len() - 1];
    Ok(if strip_ws(body).is_empty() {
        DEFAULT
    } else {
        body
    })
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
fn on_data(
    chunk: &mut Chunk,
    think: &mut ThinkSplitter,
    st: &mut State,
    data: &str,
    out: &mut Vec<u8>,
) {
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
        let reasoning = delta
            .reasoning_content
            .non_empty_str()
            .or_else(|| delta.reasoning.non_empty_str());
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
            st.failed(
                "server_error",
                "upstream stream ended before a finish_reason",
                out,
            );
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
            // In output_index order (`terminal_event` sorted them): a message can be done after
            // tool calls that became visible before it.
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
        self.done_spans.sort_unstable_by_key(|span| span.0);
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
}

#[cfg(test)]
mod tests;
