//! Translator tests: contract §3 rule by rule.
use super::*;
use crate::profiles::profile;

fn translate_with(provider: &str, parts: &[&[u8]], finish: bool) -> (String, Translator) {
    let mut t =
        Translator::new(profile(provider), "m", "resp_abc", 1700000000, None, None).unwrap();
    let mut out = Vec::new();
    for p in parts {
        t.feed(p, &mut out);
    }
    if finish {
        t.finish(&mut out);
    }
    (String::from_utf8(out).unwrap(), t)
}

use serde_json::{json, Value};

/// One SSE event of a chunk object.
fn sse(v: Value) -> String {
    format!("data: {v}\n\n")
}

/// A chunk with one choice (index 0) holding `delta` and `finish_reason`.
fn delta(d: Value) -> String {
    sse(
        json!({"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d, "finish_reason": null}]}),
    )
}

fn finish(reason: &str) -> String {
    sse(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}))
}

const DONE: &str = "data: [DONE]\n\n";

struct Run {
    raw: String,
    events: Vec<Value>,
    t: Translator,
}

impl Run {
    fn types(&self) -> Vec<&str> {
        self.events
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect()
    }
    fn terminal(&self) -> &Value {
        &self.events.last().unwrap()["response"]
    }
    fn output(&self) -> &Vec<Value> {
        self.terminal()["output"].as_array().unwrap()
    }
    fn of_type(&self, ty: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["type"] == ty).collect()
    }
    fn degraded(&self) -> Vec<&str> {
        self.t.degraded().iter().map(String::as_str).collect()
    }
}

/// Parse and check the framing: `event: T\ndata: J\n\n`, J.type == T, sequence 0, 1, 2, ….
fn parse_events(raw: &str) -> Vec<Value> {
    let mut events = Vec::new();
    for (n, block) in raw.split_terminator("\n\n").enumerate() {
        let (event_line, data_line) = block.split_once('\n').expect("two lines");
        let ty = event_line.strip_prefix("event: ").expect("event line");
        let data = data_line.strip_prefix("data: ").expect("data line");
        assert!(!data.contains('\n'));
        let v: Value = serde_json::from_str(data).expect("event JSON");
        assert_eq!(v["type"], ty);
        assert_eq!(
            v["sequence_number"], n as u64,
            "sequence numbers are 0, 1, 2, …"
        );
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys[..2], ["type", "sequence_number"]);
        events.push(v);
    }
    assert!(raw.is_empty() || raw.ends_with("\n\n"));
    events
}

fn run_with(
    provider: &str,
    body: &str,
    splits: &[usize],
    tool_map: Option<&[u8]>,
    eof: bool,
) -> Run {
    let mut t = Translator::new(
        profile(provider),
        "m",
        "resp_abc",
        1700000000,
        tool_map,
        None,
    )
    .unwrap();
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut last = 0;
    for &cut in splits {
        t.feed(&bytes[last..cut], &mut out);
        last = cut;
    }
    t.feed(&bytes[last..], &mut out);
    if eof {
        t.finish(&mut out);
    }
    let raw = String::from_utf8(out).unwrap();
    let events = parse_events(&raw);
    Run { raw, events, t }
}

fn run(provider: &str, body: &str) -> Run {
    run_with(provider, body, &[], None, true)
}

fn texts_of(r: &Run) -> Vec<(String, String)> {
    r.output()
        .iter()
        .map(|o| {
            let ty = o["type"].as_str().unwrap().to_string();
            let text = match ty.as_str() {
                "reasoning" => o["summary"][0]["text"].as_str().unwrap().to_string(),
                "message" => o["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        p["text"]
                            .as_str()
                            .or(p["refusal"].as_str())
                            .unwrap()
                            .to_string()
                    })
                    .collect::<Vec<_>>()
                    .join("|"),
                _ => o["arguments"]
                    .as_str()
                    .or(o["input"].as_str())
                    .unwrap()
                    .to_string(),
            };
            (ty, text)
        })
        .collect()
}

/// Invariants every stream must keep: one terminal event, last; no empty deltas; every event
/// refers to an item announced before; item ids are as announced.
fn check_invariants(r: &Run) {
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    let types = r.types();
    assert_eq!(types[..2], ["response.created", "response.in_progress"]);
    assert_eq!(types.iter().filter(|t| terminal.contains(t)).count(), 1);
    assert!(terminal.contains(types.last().unwrap()));
    let mut added = std::collections::HashMap::new();
    for e in &r.events {
        if let Some(d) = e.get("delta") {
            assert!(!d.as_str().unwrap().is_empty(), "empty delta in {e}");
        }
        if e["type"] == "response.output_item.added" {
            added.insert(e["output_index"].as_u64().unwrap(), e["item"]["id"].clone());
        } else if let Some(ix) = e.get("output_index") {
            let id = added
                .get(&ix.as_u64().unwrap())
                .expect("item announced before use");
            if let Some(item_id) = e.get("item_id") {
                assert_eq!(item_id, id);
            }
            if e["type"] == "response.output_item.done" {
                assert_eq!(&e["item"]["id"], id);
            }
        }
    }
}

// --- framing, ids, lifecycle ---------------------------------------------------------------

#[test]
fn text_stream_full_canonical_sequence() {
    let r = run(
        "openai",
        &(delta(json!({"role": "assistant", "content": ""}))
            + &delta(json!({"content": "Hel"}))
            + &delta(json!({"content": "lo"}))
            + &finish("stop")
            + DONE),
    );
    assert_eq!(
        r.types(),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(
        r.output(),
        &vec![
            json!({"id": "msg_abc_0", "type": "message", "status": "completed",
                     "content": [{"type": "output_text", "text": "Hello", "annotations": []}], "role": "assistant"})
        ]
    );
    assert_eq!(r.events[4]["logprobs"], json!([]));
    assert_eq!(r.t.status(), "completed");
    assert!(r.t.is_done());
    assert_eq!(
        r.t.terminal_response().unwrap(),
        serde_json::to_string(r.terminal()).unwrap().as_bytes()
    );
    check_invariants(&r);
}

#[test]
fn response_object_exact_bytes() {
    let r = run("openai", &(finish("stop") + DONE));
    let created = r.raw.split("\n\n").next().unwrap();
    assert_eq!(
        created,
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_abc\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"in_progress\",\"model\":\"m\",\"output\":[],\"instructions\":null,\"metadata\":{},\"parallel_tool_calls\":true,\"temperature\":null,\"tool_choice\":\"auto\",\"tools\":[],\"top_p\":null,\"error\":null,\"incomplete_details\":null,\"usage\":null}}"
    );
}

#[test]
fn echo_is_spliced_and_ids_use_the_response_id_suffix() {
    let echo = br#" {"instructions":"be brief","tools":[]} "#;
    let mut t = Translator::new(profile("openai"), "m\"q", "plain", 5, None, Some(echo)).unwrap();
    let mut out = Vec::new();
    t.feed(
        delta(json!({"content": "x", "tool_calls": [{"function": {"name": "f"}}]})).as_bytes(),
        &mut out,
    );
    t.feed((finish("stop") + DONE).as_bytes(), &mut out);
    let raw = String::from_utf8(out).unwrap();
    assert!(raw.contains(
        r#""model":"m\"q","output":[],"instructions":"be brief","tools":[],"error":null"#
    ));
    let r = parse_events(&raw);
    let out = r.last().unwrap()["response"]["output"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(out[0]["id"], "msg_plain_0");
    assert_eq!(out[1]["id"], "fc_plain_1");
    assert_eq!(out[1]["call_id"], "call_plain_1");
    assert!(Translator::new(profile("openai"), "m", "r", 5, None, Some(b"[]")).is_err());
    assert!(Translator::new(profile("openai"), "m", "r", 5, None, Some(b"{")).is_err());
}

#[test]
fn start_once_and_nothing_after_the_terminal_event() {
    let mut t = Translator::new(profile("openai"), "m", "resp_abc", 1, None, None).unwrap();
    let mut out = Vec::new();
    t.start(&mut out);
    let n = out.len();
    t.start(&mut out);
    assert_eq!(out.len(), n);
    t.feed(
        (delta(json!({"content": "a"})) + &finish("stop") + DONE).as_bytes(),
        &mut out,
    );
    let n = out.len();
    t.feed(delta(json!({"content": "more"})).as_bytes(), &mut out);
    t.finish(&mut out);
    t.fail("x", "y", &mut out);
    assert_eq!(out.len(), n);
    assert_eq!(t.status(), "completed");
    let counts: std::collections::HashMap<_, _> = t.event_counts().into_iter().collect();
    assert_eq!(counts["response.output_text.delta"], 1);
    assert_eq!(counts["response.completed"], 1);
    assert!(!counts.contains_key("response.failed"));
}

#[test]
fn keepalive_is_an_in_progress_event_in_sequence() {
    let mut t = Translator::new(profile("openai"), "m", "resp_abc", 1, None, None).unwrap();
    let mut out = Vec::new();
    t.keepalive(&mut out); // before anything: the stream start
    t.feed(delta(json!({"content": "a"})).as_bytes(), &mut out);
    t.keepalive(&mut out);
    t.feed((finish("stop") + DONE).as_bytes(), &mut out);
    let n = out.len();
    t.keepalive(&mut out);
    assert_eq!(out.len(), n, "nothing once done");
    let events = parse_events(std::str::from_utf8(&out).unwrap());
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.in_progress",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert_eq!(events[5]["response"], events[1]["response"]);
}

#[test]
fn reasoning_text_refusal_lifecycle() {
    let body = delta(json!({"reasoning_content": "a"}))
        + &delta(json!({"content": "b", "reasoning_content": ""}))
        + &delta(json!({"reasoning": "c"}))
        + &delta(json!({"content": "d"}))
        + &delta(json!({"refusal": "no"}))
        + &delta(json!({"content": "e"}))
        + &finish("stop")
        + DONE;
    let r = run("deepseek", &body);
    assert_eq!(
        texts_of(&r),
        [
            ("reasoning".into(), "a".into()),
            ("message".into(), "b".into()),
            ("reasoning".into(), "c".into()),
            ("message".into(), "d|no|e".into())
        ]
    );
    let ids: Vec<&str> = r
        .output()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["rs_abc_0", "msg_abc_1", "rs_abc_2", "msg_abc_3"]);
    // Parts of the last message: content_index 0, 1, 2 with done events in between.
    let parts: Vec<u64> = r
        .of_type("response.content_part.added")
        .iter()
        .map(|e| e["content_index"].as_u64().unwrap())
        .collect();
    assert_eq!(parts, [0, 0, 1, 2]);
    assert_eq!(r.of_type("response.refusal.done")[0]["refusal"], "no");
    assert_eq!(
        r.output()[3]["content"][1],
        json!({"type": "refusal", "refusal": "no"})
    );
    // reasoning_content wins over reasoning; an empty one falls back to reasoning.
    let r = run(
        "openai",
        &(delta(json!({"reasoning_content": "x", "reasoning": "y"}))
            + &delta(json!({"reasoning_content": "", "reasoning": "z"}))
            + &finish("stop")
            + DONE),
    );
    assert_eq!(texts_of(&r), [("reasoning".into(), "xz".into())]);
    check_invariants(&r);
}

#[test]
fn empty_and_wrongly_typed_values_are_ignored() {
    let body = delta(json!({"content": ""}))
        + &delta(json!({"content": 5, "reasoning_content": ["x"], "refusal": {}}))
        + &sse(json!({"choices": [{"delta": "not an object", "finish_reason": 7}]}))
        + &sse(json!({"choices": {"0": {}}, "usage": [1]}))
        + &sse(json!({"choices": [1, null, {"delta": {"content": "ok"}}]}))
        + &finish("")
        + &finish("stop")
        + DONE;
    let r = run("openai", &body);
    assert_eq!(texts_of(&r), [("message".into(), "ok".into())]);
    assert_eq!(r.terminal()["usage"], Value::Null);
    assert!(r.degraded().is_empty());
    check_invariants(&r);
}

#[test]
fn malformed_chunks_and_extra_choices_are_skipped_and_reported() {
    let body = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]\n\n".to_string() // truncated JSON
        + "data: [1,2]\n\n" + "data: {\"a\":1e400}\n\n" + "data: {\"a\":\"\\ud800\"}\n\n" + "data: NaN\n\n" + "data:   \n\n"
        + &sse(json!({"choices": [{"index": 1, "delta": {"content": "other"}}, {"index": 0, "delta": {"content": "kept"}}]}))
        + &sse(json!({"choices": [{"index": true, "delta": {"content": "bool index"}}]}))
        + &finish("stop") + DONE;
    let r = run("openai", &body);
    assert_eq!(texts_of(&r), [("message".into(), "kept".into())]);
    assert_eq!(
        r.degraded(),
        ["stream:malformed_chunk", "stream:extra_choices"]
    );
}

#[test]
fn finish_reason_closes_items_at_once_and_the_first_one_is_kept() {
    let body = delta(json!({"content": "x"})) + &finish("tool_calls");
    let r = run_with("openai", &body, &[], None, false);
    assert_eq!(*r.types().last().unwrap(), "response.output_item.done");
    assert!(!r.t.is_done());
    let r = run(
        "openai",
        &(delta(json!({"content": "x"})) + &finish("length") + &finish("stop") + DONE),
    );
    assert_eq!(*r.types().last().unwrap(), "response.incomplete");
    assert_eq!(
        r.terminal()["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(r.output()[0]["status"], "incomplete");
    for reason in ["content_filter", "sensitive"] {
        let r = run(
            "glm",
            &(delta(json!({"content": "x"})) + &finish(reason) + DONE),
        );
        assert_eq!(
            r.terminal()["incomplete_details"],
            json!({"reason": "content_filter"})
        );
        assert_eq!(r.t.status(), "incomplete");
    }
}

#[test]
fn endings() {
    // finish_reason without [DONE], then EOF: completed.
    let r = run(
        "openai",
        &(delta(json!({"content": "x"})) + &finish("stop")),
    );
    assert_eq!(r.t.status(), "completed");
    // [DONE] without finish_reason: completed, reported.
    let r = run("openai", &(delta(json!({"content": "x"})) + DONE));
    assert_eq!(r.t.status(), "completed");
    assert_eq!(r.degraded(), ["stream:missing_finish_reason"]);
    assert_eq!(r.output().len(), 1);
    // EOF without either: failed, open items not closed.
    let r = run("openai", &delta(json!({"content": "x"})));
    assert_eq!(r.t.status(), "failed");
    assert_eq!(
        r.terminal()["error"],
        json!({"code": "server_error", "message": "upstream stream ended before a finish_reason"})
    );
    assert_eq!(r.output().len(), 0);
    assert!(r.of_type("response.output_item.done").is_empty());
    // network_error: items stay open, failure at the end.
    let r = run(
        "glm",
        &(delta(json!({"content": "x"})) + &finish("network_error") + DONE),
    );
    assert_eq!(
        r.terminal()["error"],
        json!({"code": "server_error", "message": "upstream reported network_error"})
    );
    assert!(r.of_type("response.output_item.done").is_empty());
    check_invariants(&r);
}

// --- failures -------------------------------------------------------------------------------

#[test]
fn in_stream_errors_fail_at_once_without_closing_open_items() {
    let body = delta(json!({"reasoning_content": "r"}))
        + &delta(json!({"content": "partial"}))
        + &delta(
            json!({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "shell", "arguments": "{\"cm"}}]}),
        )
        + &sse(
            json!({"usage": {"prompt_tokens": 3}, "error": {"message": "Upstream timeout", "code": 502}}),
        )
        + &delta(json!({"content": "ignored"}))
        + &finish("stop")
        + DONE;
    let r = run("openai", &body);
    assert_eq!(r.t.status(), "failed");
    assert_eq!(
        r.terminal()["error"],
        json!({"code": "server_error", "message": "Upstream timeout"})
    );
    // The reasoning and message were done before the call appeared; the half call never is.
    assert_eq!(
        r.output()
            .iter()
            .map(|o| o["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["reasoning", "message"]
    );
    assert!(r
        .of_type("response.function_call_arguments.done")
        .is_empty());
    assert_eq!(
        r.terminal()["usage"],
        Value::Null,
        "usage of the error chunk is not read"
    );
    check_invariants(&r);
}

#[test]
fn error_codes_are_normalised() {
    let cases: &[(Value, &str, &str)] = &[
        (
            json!({"message": "This model's maximum context length is 8192 tokens", "code": 400}),
            "context_length_exceeded",
            "This model's maximum context length is 8192 tokens",
        ),
        (
            json!({"message": "Rate limit reached", "type": "requests"}),
            "rate_limit_exceeded",
            "Rate limit reached",
        ),
        (
            json!({"message": "x", "code": "insufficient_quota"}),
            "insufficient_quota",
            "x",
        ),
        (
            json!({"message": "x", "code": "Too_Many_Requests_429"}),
            "rate_limit_exceeded",
            "x",
        ),
        (
            json!({"message": "x", "code": "invalid_api_key"}),
            "invalid_api_key",
            "x",
        ),
        (json!({"code": ""}), "server_error", "upstream error"),
        (
            json!({"message": 5, "type": "context_length_exceeded"}),
            "context_length_exceeded",
            "upstream error",
        ),
        (
            json!("prompt is TOO LONG"),
            "context_length_exceeded",
            "prompt is TOO LONG",
        ),
        (json!(""), "server_error", ""),
    ];
    for (error, code, message) in cases {
        let r = run("openai", &sse(json!({"error": error})));
        assert_eq!(
            r.terminal()["error"],
            json!({"code": code, "message": message}),
            "{error}"
        );
    }
    // Errors of other types are not errors.
    let r = run(
        "openai",
        &(sse(json!({"error": null})) + &sse(json!({"error": 5})) + &finish("stop")),
    );
    assert_eq!(r.t.status(), "completed");
}

#[test]
fn fail_from_the_server() {
    let mut t = Translator::new(profile("openai"), "m", "resp_abc", 1, None, None).unwrap();
    let mut out = Vec::new();
    t.feed(delta(json!({"content": "x"})).as_bytes(), &mut out);
    t.fail(
        "",
        "upstream read timed out: 429 too many requests",
        &mut out,
    );
    let ev = parse_events(std::str::from_utf8(&out).unwrap());
    assert_eq!(ev.last().unwrap()["type"], "response.failed");
    assert_eq!(
        ev.last().unwrap()["response"]["error"]["code"],
        "rate_limit_exceeded"
    );
    assert_eq!(t.status(), "failed");
    let mut t = Translator::new(profile("openai"), "m", "resp_abc", 1, None, None).unwrap();
    let mut out = Vec::new();
    t.fail("upstream_timeout", "read timeout", &mut out);
    let ev = parse_events(std::str::from_utf8(&out).unwrap());
    assert_eq!(ev.len(), 3, "created, in_progress, failed");
    assert_eq!(ev[2]["response"]["error"]["code"], "upstream_timeout");
}

// --- tool calls -----------------------------------------------------------------------------

fn call(index: Option<u64>, id: Option<&str>, name: Option<&str>, args: Option<&str>) -> Value {
    let mut f = serde_json::Map::new();
    if let Some(i) = index {
        f.insert("index".into(), json!(i));
    }
    if let Some(id) = id {
        f.insert("id".into(), json!(id));
    }
    let mut func = serde_json::Map::new();
    if let Some(n) = name {
        func.insert("name".into(), json!(n));
    }
    if let Some(a) = args {
        func.insert("arguments".into(), json!(a));
    }
    f.insert("function".into(), Value::Object(func));
    Value::Object(f)
}

fn calls(frags: Vec<Value>) -> String {
    delta(json!({"tool_calls": frags}))
}

#[test]
fn parallel_calls_by_index_without_ids_are_kept_apart() {
    let body = calls(vec![
        call(Some(0), Some("a"), Some("shell"), Some("")),
        call(Some(1), Some("b"), Some("read"), Some("")),
    ]) + &calls(vec![call(Some(1), None, None, Some("{\"p\":"))])
        + &calls(vec![call(Some(0), None, None, Some("{\"c\":"))])
        + &calls(vec![
            call(Some(0), None, None, Some("1}")),
            call(Some(1), None, None, Some("2}")),
        ])
        + &finish("tool_calls")
        + DONE;
    let r = run("openai", &body);
    let out = r.output();
    assert_eq!(out.len(), 2);
    assert_eq!(
        (&out[0]["call_id"], &out[0]["name"], &out[0]["arguments"]),
        (&json!("a"), &json!("shell"), &json!("{\"c\":1}"))
    );
    assert_eq!(
        (&out[1]["call_id"], &out[1]["name"], &out[1]["arguments"]),
        (&json!("b"), &json!("read"), &json!("{\"p\":2}"))
    );
    assert_eq!(out[0]["id"], "fc_abc_0");
    assert_eq!(out[0]["status"], "completed");
    check_invariants(&r);
}

#[test]
fn call_matching_rules() {
    // Id only on the first fragment, no index at all: later fragments go to the latest call.
    let body = calls(vec![call(None, Some("x"), Some("f"), Some("{\"a\""))]) + &calls(vec![call(None, None, None, Some(":1}"))])
        // A second call with a new id, then id-less fragments follow it.
        + &calls(vec![call(None, Some("y"), Some("g"), None)]) + &calls(vec![call(None, None, None, Some("{}"))])
        // A fragment naming a known id goes to that call even after others.
        + &calls(vec![call(None, Some("x"), None, Some(""))]) + &finish("tool_calls");
    let r = run("openai", &body);
    assert_eq!(
        texts_of(&r),
        [
            ("function_call".into(), "{\"a\":1}".into()),
            ("function_call".into(), "{}".into())
        ]
    );
    // The id arrives after the index: the call takes it (call_id announced when visible).
    let body = calls(vec![call(Some(0), None, None, Some("{"))])
        + &calls(vec![call(Some(0), Some("late"), Some("f"), Some("}"))])
        + &finish("stop");
    let r = run("openai", &body);
    assert_eq!(r.output()[0]["call_id"], "late");
    assert_eq!(r.output()[0]["arguments"], "{}");
    // Name first without id: call_S_N; a new id on the same index after it got one: new call.
    let body = calls(vec![call(Some(0), None, Some("f"), None)])
        + &calls(vec![call(Some(0), Some("i1"), None, None)])
        + &calls(vec![call(Some(0), Some("i2"), Some("g"), None)])
        + &finish("stop");
    let r = run("openai", &body);
    assert_eq!(r.output()[0]["call_id"], "call_abc_0");
    assert_eq!(r.output()[1]["call_id"], "i2");
}

#[test]
fn cumulative_arguments_and_arguments_only_in_the_final_chunk() {
    let body = calls(vec![call(Some(0), Some("c"), Some("f"), Some("{\"a\""))])
        + &calls(vec![call(Some(0), None, None, Some("{\"a\""))])
        + &calls(vec![call(Some(0), None, None, Some("{\"a\":1"))])
        + &calls(vec![call(Some(0), None, None, Some("{\"a\":1}"))])
        + &finish("stop");
    let r = run("openai", &body);
    assert_eq!(r.output()[0]["arguments"], "{\"a\":1}");
    let deltas: Vec<&str> = r
        .of_type("response.function_call_arguments.delta")
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["{\"a\"", ":1", "}"]);
    // Name in one chunk, all arguments with the finish_reason.
    let body = calls(vec![call(Some(0), Some("c"), Some("f"), None)])
        + &sse(
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [call(Some(0), None, None, Some("{\"x\":true}"))]}, "finish_reason": "tool_calls"}]}),
        );
    let r = run("openai", &body);
    assert_eq!(r.output()[0]["arguments"], "{\"x\":true}");
    // Arguments before the name are buffered and sent in one delta when it becomes visible.
    let body = calls(vec![call(Some(0), None, None, Some("{\"k\""))])
        + &calls(vec![call(Some(0), None, None, Some(":2}"))])
        + &calls(vec![call(Some(0), None, Some("late_name"), None)])
        + &finish("stop");
    let r = run("openai", &body);
    let deltas: Vec<&str> = r
        .of_type("response.function_call_arguments.delta")
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, ["{\"k\":2}"]);
}

#[test]
fn empty_arguments_become_an_empty_object() {
    let r = run(
        "openai",
        &(calls(vec![call(Some(0), Some("c"), Some("f"), Some(""))]) + &finish("tool_calls")),
    );
    assert_eq!(r.output()[0]["arguments"], "{}");
    assert_eq!(
        r.of_type("response.function_call_arguments.delta")[0]["delta"],
        "{}"
    );
}

#[test]
fn nameless_calls_are_dropped_and_late_fragments_reported() {
    let body = calls(vec![call(Some(0), Some("a"), None, Some("{}"))])
        + &delta(json!({"content": "x"}))
        + &finish("stop")
        + &calls(vec![call(Some(0), None, Some("f"), Some("more"))])
        + DONE;
    let r = run("openai", &body);
    assert_eq!(texts_of(&r), [("message".into(), "x".into())]);
    assert_eq!(
        r.degraded(),
        [
            "stream:tool_call_without_name",
            "stream:late_tool_call_fragment"
        ]
    );
}

#[test]
fn a_visible_call_closes_the_open_text_item_and_calls_stay_open() {
    let body = delta(json!({"reasoning_content": "think"}))
        + &calls(vec![call(Some(0), Some("a"), Some("f"), Some("{"))])
        + &delta(json!({"content": "between"}))
        + &calls(vec![call(Some(0), None, None, Some("}"))])
        + &finish("stop")
        + DONE;
    let r = run("openai", &body);
    let order: Vec<(&str, u64)> = r
        .of_type("response.output_item.done")
        .iter()
        .map(|e| {
            (
                e["item"]["type"].as_str().unwrap(),
                e["output_index"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        order,
        [("reasoning", 0), ("message", 2), ("function_call", 1)]
    );
    // The terminal response lists them in output_index order.
    let types: Vec<&str> = r
        .output()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["reasoning", "function_call", "message"]);
    assert_eq!(r.output()[1]["arguments"], "{}");
    check_invariants(&r);
}

#[test]
fn custom_and_namespace_tools() {
    let tool_map =
        br#"{"custom":["apply_patch"],"namespaces":{"mcp__fs__read":["mcp__fs","read"]}}"#;
    let cases = [
        (r#"{"input":"*** Begin Patch"}"#, "*** Begin Patch", false),
        (r#"{"patch":"P"}"#, "P", false),
        (r#""S""#, "S", false),
        (r#"{"a":"1","b":"2"}"#, r#"{"a":"1","b":"2"}"#, true),
        ("*** raw", "*** raw", true),
        ("", "", true),
    ];
    for (args, input, reported) in cases {
        let body = calls(vec![call(
            Some(0),
            Some("c1"),
            Some("apply_patch"),
            Some(args),
        )]) + &finish("stop");
        let r = run_with("openai", &body, &[], Some(tool_map), true);
        let item = &r.output()[0];
        assert_eq!(
            item,
            &json!({"id": "ctc_abc_0", "type": "custom_tool_call", "status": "completed", "call_id": "c1", "name": "apply_patch", "input": input})
        );
        assert!(r
            .of_type("response.function_call_arguments.delta")
            .is_empty());
        assert_eq!(
            r.of_type("response.custom_tool_call_input.delta").len(),
            usize::from(!input.is_empty())
        );
        assert_eq!(
            r.of_type("response.custom_tool_call_input.done")[0]["input"],
            input
        );
        assert_eq!(
            r.degraded() == ["custom_tool:input_not_json"],
            reported,
            "{args}"
        );
        check_invariants(&r);
    }
    let body = calls(vec![call(
        Some(0),
        Some("c2"),
        Some("mcp__fs__read"),
        Some("{}"),
    )]) + &finish("stop");
    let r = run_with("openai", &body, &[], Some(tool_map), true);
    assert_eq!(
        r.output()[0],
        json!({"id": "fc_abc_0", "type": "function_call", "status": "completed", "arguments": "{}", "call_id": "c2", "name": "read", "namespace": "mcp__fs"})
    );
    let added = &r.of_type("response.output_item.added")[0]["item"];
    assert_eq!(
        added,
        &json!({"id": "fc_abc_0", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": "c2", "name": "read", "namespace": "mcp__fs"})
    );
}

// --- usage ----------------------------------------------------------------------------------

fn usage_of(u: Value) -> Value {
    let r = run(
        "openai",
        &(finish("stop") + &sse(json!({"choices": [], "usage": u})) + DONE),
    );
    r.terminal()["usage"].clone()
}

#[test]
fn usage_mapping() {
    let full = |i: u64, c: u64, w: u64, o: u64, r: u64, t: u64| json!({"input_tokens": i, "input_tokens_details": {"cached_tokens": c, "cache_write_tokens": w}, "output_tokens": o, "output_tokens_details": {"reasoning_tokens": r}, "total_tokens": t});
    assert_eq!(
        usage_of(json!({"prompt_tokens": 10, "completion_tokens": 5})),
        full(10, 0, 0, 5, 0, 15)
    );
    assert_eq!(
        usage_of(
            json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 99, "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 3}})
        ),
        full(10, 4, 2, 5, 3, 99)
    );
    // DeepSeek and Kimi spellings; Responses-style input.
    assert_eq!(
        usage_of(
            json!({"prompt_tokens": 10, "prompt_cache_hit_tokens": 6, "completion_tokens": 1})
        ),
        full(10, 6, 0, 1, 0, 11)
    );
    assert_eq!(
        usage_of(json!({"prompt_tokens": 10, "cached_tokens": 7, "completion_tokens": 1})),
        full(10, 7, 0, 1, 0, 11)
    );
    assert_eq!(
        usage_of(
            json!({"input_tokens": 8, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 5}, "output_tokens_details": {"reasoning_tokens": 1}})
        ),
        full(8, 1, 5, 2, 1, 10)
    );
    // Floats truncate, ASCII digit strings count, others fall through; clamped to 0..2^53.
    assert_eq!(
        usage_of(json!({"prompt_tokens": 10.9, "completion_tokens": "7", "total_tokens": "x"})),
        full(10, 0, 0, 7, 0, 17)
    );
    assert_eq!(
        usage_of(
            json!({"prompt_tokens": null, "input_tokens": 3, "completion_tokens": true, "output_tokens": "0004"})
        ),
        full(3, 0, 0, 4, 0, 7)
    );
    assert_eq!(
        usage_of(json!({"prompt_tokens": -4, "completion_tokens": 1e300, "total_tokens": -1.5})),
        full(0, 0, 0, 1 << 53, 0, 0)
    );
    assert_eq!(
        usage_of(json!({"prompt_tokens": "99999999999999999999999", "completion_tokens": "-3"})),
        full(1 << 53, 0, 0, 0, 0, 1 << 53)
    );
    assert_eq!(
        usage_of(json!({"prompt_tokens_details": 5, "cached_tokens": 2})),
        full(0, 2, 0, 0, 0, 0)
    );
    assert_eq!(usage_of(json!({})), full(0, 0, 0, 0, 0, 0));
    // Usage on the choice (Moonshot/Kimi) counts, unless the chunk has a top-level one.
    let r = run(
        "kimi",
        &(sse(
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": {"prompt_tokens": 7, "cached_tokens": 3}}]}),
        ) + DONE),
    );
    assert_eq!(r.terminal()["usage"]["input_tokens"], 7);
    assert_eq!(
        r.terminal()["usage"]["input_tokens_details"]["cached_tokens"],
        3
    );
    let r = run(
        "kimi",
        &(sse(
            json!({"usage": {"prompt_tokens": 1}, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": {"prompt_tokens": 7}}]}),
        ) + DONE),
    );
    assert_eq!(r.terminal()["usage"]["input_tokens"], 1);
    let r = run(
        "kimi",
        &(sse(
            json!({"usage": 5, "choices": [{"index": 1, "usage": {"prompt_tokens": 9}}, {"index": 0, "delta": {}, "finish_reason": "stop", "usage": {"prompt_tokens": 7}}]}),
        ) + DONE),
    );
    assert_eq!(
        r.terminal()["usage"]["input_tokens"],
        7,
        "only the used choice's usage"
    );
    // The last usage object wins; a non-object usage is ignored.
    let r = run(
        "openai",
        &(sse(json!({"choices": [], "usage": {"prompt_tokens": 1}}))
            + &sse(json!({"choices": [], "usage": {"prompt_tokens": 2}}))
            + &sse(json!({"usage": 5}))
            + &finish("stop")),
    );
    assert_eq!(r.terminal()["usage"]["input_tokens"], 2);
}

// --- think tags through the translator ------------------------------------------------------

#[test]
fn think_tags_per_profile_mode() {
    let body = delta(json!({"content": "<think>plan"}))
        + &delta(json!({"content": "</think>\n\nanswer"}))
        + &finish("stop");
    assert_eq!(
        texts_of(&run("openai", &body)),
        [
            ("reasoning".into(), "plan".into()),
            ("message".into(), "answer".into())
        ]
    );
    assert_eq!(
        texts_of(&run("minimax", &body)),
        [
            ("reasoning".into(), "plan".into()),
            ("message".into(), "answer".into())
        ]
    );
    assert_eq!(
        texts_of(&run("deepseek", &body)),
        [("message".into(), "<think>plan</think>\n\nanswer".into())]
    );
    // Only a closing tag: implicit mode makes what came before reasoning; on mode drops the tag.
    let body = delta(json!({"content": "plan"}))
        + &delta(json!({"content": "</think>answer"}))
        + &finish("stop");
    assert_eq!(
        texts_of(&run("minimax", &body)),
        [
            ("reasoning".into(), "plan".into()),
            ("message".into(), "answer".into())
        ]
    );
    let r = run("openai", &body);
    assert_eq!(texts_of(&r), [("message".into(), "plananswer".into())]);
    assert_eq!(r.degraded(), ["think:close_without_open"]);
    // Unclosed at EOF: a reasoning item. No tags at all in implicit mode: text at the end.
    assert_eq!(
        texts_of(&run(
            "qwen",
            &(delta(json!({"content": "<thought>unclosed"})) + &finish("stop"))
        )),
        [("reasoning".into(), "unclosed".into())]
    );
    assert_eq!(
        texts_of(&run(
            "minimax",
            &(delta(json!({"content": "just "}))
                + &delta(json!({"content": "text"}))
                + &finish("stop"))
        )),
        [("message".into(), "just text".into())]
    );
}

#[test]
fn implicit_held_text_is_flushed_by_a_tool_call() {
    let body = delta(json!({"content": "I will call"}))
        + &calls(vec![call(Some(0), Some("c"), Some("f"), Some("{}"))])
        + &finish("stop");
    let r = run("minimax", &body);
    assert_eq!(
        texts_of(&r),
        [
            ("message".into(), "I will call".into()),
            ("function_call".into(), "{}".into())
        ]
    );
    check_invariants(&r);
}

#[test]
fn think_tag_split_at_every_position_across_chunks() {
    // (Leading whitespace before the tag is dropped only in implicit mode: in `on` mode it is
    // text, as in engine/stream.py.)
    for (provider, content) in [
        (
            "openai",
            "<think>\nstep one</think>\n\nThe answer <b>is</b> 42.",
        ),
        (
            "minimax",
            "  <think>\nstep one</think>\n\nThe answer <b>is</b> 42.",
        ),
    ] {
        let whole = texts_of(&run(
            provider,
            &(delta(json!({"content": content})) + &finish("stop")),
        ));
        assert_eq!(
            whole,
            [
                ("reasoning".to_string(), "step one".to_string()),
                (
                    "message".to_string(),
                    "The answer <b>is</b> 42.".to_string()
                )
            ]
        );
        for i in 1..content.len() {
            let body = delta(json!({"content": &content[..i]}))
                + &delta(json!({"content": &content[i..]}))
                + &finish("stop");
            let r = run(provider, &body);
            assert_eq!(texts_of(&r), whole, "{provider} split at {i}");
            check_invariants(&r);
        }
    }
}

// --- re-splitting ---------------------------------------------------------------------------

#[test]
fn output_does_not_depend_on_how_the_input_is_split() {
    let body = "\u{feff}: keep-alive\r\n".to_string()
        + &delta(json!({"reasoning_content": "é😀\u{2028}"})).replace("\n\n", "\r\n\r\n")
        + &delta(json!({"content": "<think>x</think>y \"q\" \\"})).replace("\n\n", "\r\r")
        + &calls(vec![call(
            Some(0),
            Some("c"),
            Some("apply_patch"),
            Some("{\"input\":\"p\"}"),
        )])
        + "data: {\"choices\":[{\"delta\":\ndata: {\"content\":\"multi-line\"}}]}\n\n"
        + "data: broken\n\n"
        + &finish("stop")
        + &sse(json!({"choices": [], "usage": {"prompt_tokens": 5}}))
        + "data: [DONE]";
    let tool_map: &[u8] = br#"{"custom":["apply_patch"]}"#;
    let whole = run_with("openai", &body, &[], Some(tool_map), true);
    assert_eq!(whole.t.status(), "completed");
    assert_eq!(whole.output().len(), 4);
    let n = body.len();
    for i in 0..=n {
        let r = run_with("openai", &body, &[i], Some(tool_map), true);
        assert_eq!(r.raw, whole.raw, "split at {i}");
        assert_eq!(r.t.degraded(), whole.t.degraded());
    }
    let every: Vec<usize> = (1..n).collect();
    assert_eq!(
        run_with("openai", &body, &every, Some(tool_map), true).raw,
        whole.raw
    );
}

#[test]
#[ignore]
fn dump() {
    let input = std::env::var("DUMP_INPUT").unwrap_or_default();
    let prov = std::env::var("DUMP_PROVIDER").unwrap_or("openai".into());
    let (out, t) = translate_with(&prov, &[input.as_bytes()], true);
    println!("{out}");
    println!("degraded: {:?}", t.degraded());
}

/// A typical ~250-byte text chunk stream of `n` deltas, ending with finish + usage + [DONE].
pub(crate) fn text_stream(n: usize) -> Vec<u8> {
    let mut s = Vec::new();
    for i in 0..n {
        s.extend_from_slice(format!(
            "data: {{\"id\":\"chatcmpl-9f8e7d6c5b4a\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"deepseek-chat\",\"system_fingerprint\":\"fp_abc123\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} of the answer, \\\"quoted\\\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ).as_bytes());
    }
    s.extend_from_slice(b"data: {\"id\":\"chatcmpl-9f8e7d6c5b4a\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    s.extend_from_slice(b"data: {\"id\":\"chatcmpl-9f8e7d6c5b4a\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"deepseek-chat\",\"choices\":[],\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":5000,\"total_tokens\":5100,\"prompt_tokens_details\":{\"cached_tokens\":64}}}\n\n");
    s.extend_from_slice(b"data: [DONE]\n\n");
    s
}

/// Replay `input` saturated (64 KiB reads); events/s of upstream SSE events. The figure is the
/// best of many single replays (a few ms each): on a shared machine the minimum approximates the
/// uncontended cost, where a mean would measure the neighbours.
fn bench_one(label: &str, provider: &str, input: &[u8], replays: u32) {
    let mut events = 0u64;
    crate::sse::SseDecoder::new().feed(input, |_| events += 1);
    let mut out = Vec::with_capacity(8 << 20);
    let mut best = f64::MAX;
    for _ in 0..replays {
        let t0 = std::time::Instant::now();
        out.clear();
        let mut t = Translator::new(
            profile(provider),
            "model",
            "resp_0123456789abcdef",
            1700000000,
            None,
            None,
        )
        .unwrap();
        for read in input.chunks(64 * 1024) {
            t.feed(read, &mut out);
        }
        t.finish(&mut out);
        assert!(t.is_done());
        best = best.min(t0.elapsed().as_secs_f64());
    }
    println!(
        "{label:<28} {provider:<9} {:>10.0} events/s {:>7.1} MB/s in  ({} events, {} B/event, {:.2} out/in)",
        events as f64 / best,
        input.len() as f64 / best / 1e6,
        events,
        input.len() as u64 / events.max(1),
        out.len() as f64 / input.len() as f64,
    );
}

/// `cargo test --release --lib bench_ -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_saturated_replay() {
    if let Ok(only) = std::env::var("BENCH_ONLY") {
        // Profiling aid: one fixture, many replays.
        let (name, provider) = only.split_once(':').unwrap_or((only.as_str(), "openai"));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams");
        let input = std::fs::read(dir.join(name)).unwrap();
        let replays = std::env::var("BENCH_REPLAYS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(3000);
        bench_one(name, provider, &input, replays);
        return;
    }
    let synthetic = text_stream(5000);
    bench_one("synthetic_text_5000", "deepseek", &synthetic, 1000);
    bench_one("synthetic_text_5000", "openai", &synthetic, 1000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/streams");
    for (name, provider) in [
        ("bench_text_5000.sse", "deepseek"),
        ("bench_text_5000.sse", "openai"),
        ("bench_reasoning.sse", "deepseek"),
        ("bench_tool_calls.sse", "openai"),
        ("bench_minimax_think.sse", "minimax"),
    ] {
        let Ok(input) = std::fs::read(dir.join(name)) else {
            println!("{name}: not found, skipped");
            continue;
        };
        bench_one(name, provider, &input, 1000);
    }
}

// --- allocation -----------------------------------------------------------------------------

/// Counts allocations made by the current thread (tests run in parallel on other threads).
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: forwards to the system allocator; only counts.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    pub fn count() -> u64 {
        COUNT.with(|c| c.get())
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

#[test]
fn steady_state_allocates_nothing_per_event() {
    // Text, reasoning, think tags and tool-call arguments: 4 x 2000 events after a warm-up.
    let mut body = String::new();
    for i in 0..2000 {
        body += &delta(json!({"reasoning_content": format!("step {i} ")}));
    }
    for i in 0..2000 {
        body += &delta(json!({"content": format!("<think>r{i}</think> t{i} \"q\" é")}));
    }
    body += &calls(vec![call(
        Some(0),
        Some("c"),
        Some("shell"),
        Some("{\"a\":\""),
    )]);
    for i in 0..2000 {
        body += &calls(vec![call(Some(0), None, None, Some(&format!("x{i}")))]);
    }
    for i in 0..2000 {
        body += &sse(
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                            "choices": [{"index": 0, "delta": {"content": format!("w{i}")}, "finish_reason": null}], "usage": null}),
        );
    }
    body += &(finish("stop") + DONE);
    let mut t = Translator::new(profile("qwen"), "m", "resp_abc", 1, None, None).unwrap();
    let mut out = Vec::with_capacity(16 << 20);
    let warm = body.find("step 100 ").unwrap();
    t.feed(&body.as_bytes()[..warm], &mut out);
    // The counter works: one allocation is seen.
    let probe = counting::count();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(1)));
    assert_eq!(counting::count(), probe + 1);
    let before = counting::count();
    for read in body.as_bytes()[warm..].chunks(4096) {
        t.feed(read, &mut out);
    }
    let allocations = counting::count() - before;
    t.finish(&mut out);
    assert!(t.is_done());
    // Only amortised growth of the buffers that accumulate text for the done events (and the
    // item list): a few dozen reallocations for ~8000 events, not one per event.
    eprintln!("{allocations} allocations for ~8000 events");
    assert!(
        allocations < 120,
        "{allocations} allocations for ~8000 events"
    );
}
