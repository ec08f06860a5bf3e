//! The reasoning and message items: opening, deltas, content parts, closing (contract §3.2,
//! §3.3 item lifecycle, §3.5 closing).
use super::events::{write_u32, Ev, EventWriter, IdKind};
use super::think::{Piece, ThinkSplitter};
use super::{incomplete_reason, Open, Part, State};
use crate::json::write_str;

impl State {
    pub(super) fn next_index(&mut self) -> u32 {
        let n = self.next_output_index;
        self.next_output_index += 1;
        n
    }

    pub(super) fn piece(&mut self, p: Piece<'_>, out: &mut Vec<u8>) {
        match p {
            Piece::Text(s) => self.content_delta(s, false, out),
            Piece::Reasoning(s) => self.reasoning_delta(s, out),
            Piece::Report(r) => self.degrade(r),
        }
    }

    pub(super) fn reasoning_delta(&mut self, text: &str, out: &mut Vec<u8>) {
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
    pub(super) fn content_delta(&mut self, text: &str, refusal: bool, out: &mut Vec<u8>) {
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
        self.ev.begin(
            out,
            if refusal {
                Ev::RefusalDelta
            } else {
                Ev::TextDelta
            },
        );
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

    pub(super) fn open_part(&mut self, n: u32, refusal: bool, out: &mut Vec<u8>) {
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

    pub(super) fn close_part(&mut self, n: u32, out: &mut Vec<u8>) {
        let k = self.n_parts - 1;
        let part = &self.parts[k];
        self.ev.begin(
            out,
            if part.refusal {
                Ev::RefusalDone
            } else {
                Ev::TextDone
            },
        );
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
    pub(super) fn item_done(&mut self, n: u32, start: usize, out: &mut Vec<u8>) {
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
    pub(super) fn close_open(&mut self, out: &mut Vec<u8>) {
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
                out.extend_from_slice(
                    b",\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":",
                );
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
    pub(super) fn item_status(&self) -> &'static str {
        match self.finish_reason.as_deref() {
            Some(finish) if incomplete_reason(finish).is_some() => "incomplete",
            _ => "completed",
        }
    }

    /// Close everything open: held think text goes out, then the reasoning/message item closes,
    /// then tool calls in creation order.
    pub(super) fn close_all(&mut self, think: &mut ThinkSplitter, out: &mut Vec<u8>) {
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
