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
    translator.feed_payload(&payload, &mut events);
    translator.end_of_stream(&mut events);
    let body = translator.terminal_response().expect("end_of_stream always terminates").to_vec();
    Ok(ConvertedResponse { body, degraded: translator.degraded().to_vec() })
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
                let Value::Object(call) = call else { return None };
                let mut f = Map::new();
                f.insert("index".into(), Value::from(position as u64));
                f.insert("id".into(), call.get("id").cloned().unwrap_or(Value::Null));
                f.insert("function".into(), call.get("function").cloned().unwrap_or(Value::Null));
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
