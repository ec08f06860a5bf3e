//! Tool-call items: fragments to calls, visibility, argument deltas, closing (contract §3.4).
use super::chunk::{Fragment, Kind};
use super::events::{write_u32, Ev, EventWriter, IdKind};
use super::think::ThinkSplitter;
use super::tools::{custom_input, Call, CallKind};
use super::State;
use crate::json::write_str;

impl State {
    pub(super) fn fragment(
        &mut self,
        frag: &Fragment,
        think: &mut ThinkSplitter,
        out: &mut Vec<u8>,
    ) {
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

    pub(super) fn make_visible(&mut self, i: usize, out: &mut Vec<u8>) {
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
    pub(super) fn send_args(&mut self, i: usize, out: &mut Vec<u8>) {
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

    pub(super) fn close_call(&mut self, i: usize, out: &mut Vec<u8>) {
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
                write_call_item(
                    &mut self.done_items,
                    &self.ev,
                    &self.calls.list[i],
                    status,
                    &input,
                );
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
pub(super) fn write_call_item(
    out: &mut Vec<u8>,
    ev: &EventWriter,
    call: &Call,
    status: &str,
    payload: &str,
) {
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
