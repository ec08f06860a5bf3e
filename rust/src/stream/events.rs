//! Writing Responses SSE events straight into the output buffer (contract §3.2).
//!
//! Every event is `event: <type>\ndata: {"type":"<type>","sequence_number":N,...}\n\n`; the
//! constant head of each event type is a static string, so writing an event is a few
//! `extend_from_slice` calls plus the escaped payload.
use crate::json::write_str;

macro_rules! event_types {
    ($($var:ident = $name:literal,)*) => {
        /// The Responses event types the translator emits.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub enum Ev { $($var,)* }

        impl Ev {
            pub const ALL: &'static [Ev] = &[$(Ev::$var,)*];
            pub fn name(self) -> &'static str {
                match self { $(Ev::$var => $name,)* }
            }
            /// `event: T\ndata: {"type":"T","sequence_number":`
            fn head(self) -> &'static [u8] {
                match self {
                    $(Ev::$var => concat!("event: ", $name, "\ndata: {\"type\":\"", $name,
                                          "\",\"sequence_number\":").as_bytes(),)*
                }
            }
        }
    };
}

event_types! {
    Created = "response.created",
    InProgress = "response.in_progress",
    Completed = "response.completed",
    Incomplete = "response.incomplete",
    Failed = "response.failed",
    ItemAdded = "response.output_item.added",
    ItemDone = "response.output_item.done",
    PartAdded = "response.content_part.added",
    PartDone = "response.content_part.done",
    TextDelta = "response.output_text.delta",
    TextDone = "response.output_text.done",
    RefusalDelta = "response.refusal.delta",
    RefusalDone = "response.refusal.done",
    SummaryPartAdded = "response.reasoning_summary_part.added",
    SummaryPartDone = "response.reasoning_summary_part.done",
    SummaryTextDelta = "response.reasoning_summary_text.delta",
    SummaryTextDone = "response.reasoning_summary_text.done",
    ArgsDelta = "response.function_call_arguments.delta",
    ArgsDone = "response.function_call_arguments.done",
    InputDelta = "response.custom_tool_call_input.delta",
    InputDone = "response.custom_tool_call_input.done",
}

/// Item id prefixes (contract §3 "Ids").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Reasoning,
    Message,
    FunctionCall,
    CustomToolCall,
    CallId,
}

impl IdKind {
    fn prefix(self) -> &'static [u8] {
        match self {
            IdKind::Reasoning => b"rs_",
            IdKind::Message => b"msg_",
            IdKind::FunctionCall => b"fc_",
            IdKind::CustomToolCall => b"ctc_",
            IdKind::CallId => b"call_",
        }
    }
}

/// Sequence numbers, per-type counts and id writing for one stream.
pub struct EventWriter {
    seq: u64,
    counts: [u64; Ev::ALL.len()],
    /// `S` (response id without `resp_`), already JSON-escaped, without quotes.
    sid: Vec<u8>,
}

impl EventWriter {
    pub fn new(response_id: &str) -> Self {
        let s = response_id.strip_prefix("resp_").unwrap_or(response_id);
        let mut sid = Vec::with_capacity(s.len() + 2);
        write_str(&mut sid, s);
        sid.pop();
        sid.remove(0);
        EventWriter {
            seq: 0,
            counts: [0; Ev::ALL.len()],
            sid,
        }
    }

    /// Open an event: everything up to and including its sequence number.
    #[inline]
    pub fn begin(&mut self, out: &mut Vec<u8>, ev: Ev) {
        out.extend_from_slice(ev.head());
        out.extend_from_slice(itoa::Buffer::new().format(self.seq).as_bytes());
        self.seq += 1;
        self.counts[ev as usize] += 1;
    }

    /// Close an event opened with [`begin`](Self::begin).
    #[inline]
    pub fn end(out: &mut Vec<u8>) {
        out.extend_from_slice(b"}\n\n");
    }

    /// `"<prefix>S_N"` with quotes.
    #[inline]
    pub fn write_id(&self, out: &mut Vec<u8>, kind: IdKind, n: u32) {
        out.push(b'"');
        out.extend_from_slice(kind.prefix());
        out.extend_from_slice(&self.sid);
        out.push(b'_');
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.push(b'"');
    }

    /// `,"item_id":"<id>","output_index":N`
    #[inline]
    pub fn item_ref(&self, out: &mut Vec<u8>, kind: IdKind, n: u32) {
        out.extend_from_slice(b",\"item_id\":");
        self.write_id(out, kind, n);
        out.extend_from_slice(b",\"output_index\":");
        write_u32(out, n);
    }

    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        Ev::ALL
            .iter()
            .filter(|ev| self.counts[**ev as usize] > 0)
            .map(|ev| (ev.name(), self.counts[*ev as usize]))
            .collect()
    }
}

#[inline]
pub fn write_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}
