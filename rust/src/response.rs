//! Non-streaming response conversion, Chat completion → Responses object (REFERENCE §5).
//!
//! As in engine/response.py, the completed chat message is restated as one stream chunk and run
//! through the stream translator, so streaming and non-streaming replies follow exactly the same
//! rules (think tags, tool kinds, usage, finish reasons). Not a hot path: it goes through
//! `serde_json::Value`.
use serde_json::{Map, Value};

use crate::error::EngineError;
use crate::json;
use crate::profiles::Profile;
use crate::stream::Translator;

pub struct ConvertedResponse {
    pub body: Vec<u8>,
    pub degraded: Vec<String>,
}

const DELTA_KEYS: [&str; 4] = ["reasoning_content", "reasoning", "content", "refusal"];

pub fn convert_response(
    body: &[u8],
    profile: &Profile,
    model: Option<&str>,
    response_id: &str,
    created_at: i64,
    tool_map: Option<&[u8]>,
    echo: Option<&[u8]>,
) -> Result<ConvertedResponse, EngineError> {
    let data = json::parse_named(body, "upstream response")?;
    let Value::Object(data) = data else {
        return Err(EngineError::new("upstream response is not a JSON object"));
    };
    let model = match model {
        Some(model) => model,
        None => data.get("model").and_then(Value::as_str).unwrap_or(""),
    };
    let mut translator = Translator::new(profile, model, response_id, created_at, tool_map, echo)?;
    let mut payload = Vec::new();
    json::write_value(&mut payload, &as_chunk(&data)?);
    let mut events = Vec::new();
    let payload = String::from_utf8(payload).expect("write_value writes UTF-8");
    translator.feed_payload(&payload, &mut events);
    translator.end_of_stream(&mut events);
    let body = translator
        .terminal_response()
        .expect("end_of_stream always terminates")
        .to_vec();
    Ok(ConvertedResponse {
        body,
        degraded: translator.degraded().to_vec(),
    })
}

/// Whether a choice's `index` selects it (absent, null or the integer 0).
fn is_first_choice(index: Option<&Value>) -> bool {
    match index {
        None | Some(Value::Null) => true,
        Some(Value::Number(n)) => n.as_u64() == Some(0) || n.as_i64() == Some(0),
        _ => false,
    }
}

/// The single stream chunk equivalent to a whole chat.completion object.
fn as_chunk(data: &Map<String, Value>) -> Result<Value, EngineError> {
    if let Some(error @ (Value::Object(_) | Value::String(_))) = data.get("error") {
        let mut chunk = Map::new();
        chunk.insert("error".into(), error.clone());
        return Ok(Value::Object(chunk));
    }
    let choice = match data.get("choices") {
        Some(Value::Array(choices)) => choices.iter().find_map(|c| match c {
            Value::Object(c) if is_first_choice(c.get("index")) => Some(c),
            _ => None,
        }),
        _ => None,
    };
    let Some(choice) = choice else {
        return Err(EngineError::new("upstream response has no choices"));
    };
    let empty = Map::new();
    let message = match choice.get("message") {
        Some(Value::Object(m)) => m,
        _ => &empty,
    };
    let mut delta = Map::new();
    for key in DELTA_KEYS {
        if let Some(v) = message.get(key) {
            delta.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::Array(parts)) = delta.get("content") {
        // Some servers return content parts even here.
        let joined: String = parts
            .iter()
            .filter_map(|p| match p {
                Value::Object(p) => p.get("text").and_then(Value::as_str),
                _ => None,
            })
            .collect();
        delta.insert("content".into(), Value::String(joined));
    }
    if let Some(Value::Array(calls)) = message.get("tool_calls") {
        let fragments = calls
            .iter()
            .enumerate()
            .filter_map(|(position, call)| {
                let Value::Object(call) = call else {
                    return None;
                };
                let mut f = Map::new();
                f.insert("index".into(), Value::from(position as u64));
                f.insert("id".into(), call.get("id").cloned().unwrap_or(Value::Null));
                f.insert(
                    "function".into(),
                    call.get("function").cloned().unwrap_or(Value::Null),
                );
                Some(Value::Object(f))
            })
            .collect();
        delta.insert("tool_calls".into(), Value::Array(fragments));
    }
    let finish = match choice.get("finish_reason") {
        Some(Value::String(f)) if !f.is_empty() => f.clone(),
        // A whole, non-streamed reply is complete by definition.
        _ => "stop".to_string(),
    };
    let mut first = Map::new();
    first.insert("index".into(), Value::from(0u64));
    first.insert("delta".into(), Value::Object(delta));
    first.insert("finish_reason".into(), Value::String(finish));
    let mut chunk = Map::new();
    chunk.insert("choices".into(), Value::Array(vec![Value::Object(first)]));
    if let Some(usage @ Value::Object(_)) = data.get("usage") {
        chunk.insert("usage".into(), usage.clone());
    }
    Ok(Value::Object(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::profile;
    use serde_json::json;

    fn convert(
        provider: &str,
        body: Value,
        model: Option<&str>,
    ) -> Result<(Value, Vec<String>), EngineError> {
        let tool_map: &[u8] = br#"{"custom":["apply_patch"]}"#;
        let body = serde_json::to_vec(&body).unwrap();
        convert_response(
            &body,
            profile(provider),
            model,
            "resp_r1",
            42,
            Some(tool_map),
            None,
        )
        .map(|c| (serde_json::from_slice(&c.body).unwrap(), c.degraded))
    }

    #[test]
    fn message_with_reasoning_text_and_tool_calls() {
        let body = json!({"id": "x", "model": "up", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "reasoning_content": "think",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": "{\"cmd\":\"ls\"}"}},
                           {"id": "call_2", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\":\"P\"}"}}]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "prompt_cache_hit_tokens": 2}});
        let (r, degraded) = convert("deepseek", body, None).unwrap();
        assert!(degraded.is_empty());
        assert_eq!(r["id"], "resp_r1");
        assert_eq!(r["model"], "up");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["created_at"], 42);
        assert_eq!(
            r["output"],
            json!([
                {"id": "rs_r1_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}]},
                {"id": "fc_r1_1", "type": "function_call", "status": "completed", "arguments": "{\"cmd\":\"ls\"}", "call_id": "call_1", "name": "shell"},
                {"id": "ctc_r1_2", "type": "custom_tool_call", "status": "completed", "call_id": "call_2", "name": "apply_patch", "input": "P"},
            ])
        );
        assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 2);
        assert_eq!(r["usage"]["total_tokens"], 8);
    }

    #[test]
    fn think_tags_content_parts_and_finish_reasons() {
        let body = json!({"choices": [{"message": {"content": "<think>r</think>answer"}, "finish_reason": "length"}]});
        let (r, _) = convert("minimax", body, Some("given")).unwrap();
        assert_eq!(r["model"], "given");
        assert_eq!(r["status"], "incomplete");
        assert_eq!(
            r["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(r["output"][1]["content"][0]["text"], "answer");
        assert_eq!(r["output"][1]["status"], "incomplete");
        // Content as a list of parts; a missing finish_reason means complete.
        let body = json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, 5, {"text": "b"}]}}]});
        let (r, _) = convert("openai", body, None).unwrap();
        assert_eq!(r["status"], "completed");
        assert_eq!(r["model"], "");
        assert_eq!(r["output"][0]["content"][0]["text"], "ab");
        assert_eq!(r["usage"], Value::Null);
        let body =
            json!({"choices": [{"message": {"refusal": "no"}, "finish_reason": "content_filter"}]});
        let (r, _) = convert("openai", body, None).unwrap();
        assert_eq!(r["incomplete_details"]["reason"], "content_filter");
        assert_eq!(
            r["output"][0]["content"][0],
            json!({"type": "refusal", "refusal": "no"})
        );
    }

    #[test]
    fn errors_and_bad_bodies() {
        let (r, _) = convert(
            "openai",
            json!({"error": {"message": "quota exceeded", "code": 429}}),
            None,
        )
        .unwrap();
        assert_eq!(r["status"], "failed");
        assert_eq!(
            r["error"],
            json!({"code": "insufficient_quota", "message": "quota exceeded"})
        );
        for bad in [
            json!({"choices": []}),
            json!({}),
            json!({"choices": [{"index": 1, "message": {}}]}),
            json!({"choices": [true]}),
        ] {
            assert_eq!(
                convert("openai", bad, None).unwrap_err().message,
                "upstream response has no choices"
            );
        }
        assert_eq!(
            convert("openai", json!([1]), None).unwrap_err().message,
            "upstream response is not a JSON object"
        );
        let err = convert_response(b"{", profile("openai"), None, "r", 1, None, None)
            .err()
            .unwrap();
        assert!(
            err.message
                .starts_with("upstream response is not valid JSON"),
            "{}",
            err.message
        );
        // A tool call without a name is dropped and reported; a null message is an empty one.
        let body = json!({"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"arguments": "{}"}}, 3]}}]});
        let (r, degraded) = convert("openai", body, None).unwrap();
        assert_eq!(r["output"], json!([]));
        assert_eq!(degraded, ["stream:tool_call_without_name"]);
        let (r, _) = convert("openai", json!({"choices": [{"message": null}]}), None).unwrap();
        assert_eq!(r["output"], json!([]));
    }
}
