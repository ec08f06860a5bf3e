//! Provider profiles: provider differences as data. The table is
//! python/codex_convert_proxy/providers/profiles.json, compiled in and parsed once, so both
//! engines read the same file (contract §5).

use std::sync::OnceLock;

use serde_json::{Map, Value};

const TABLE_JSON: &str = include_str!("../../python/codex_convert_proxy/providers/profiles.json");
pub const DEFAULT_PROFILE: &str = "openai";

/// How a profile asks for reasoning (`reasoning_param`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningParam {
    /// `reasoning_effort: low|medium|high`
    ReasoningEffort,
    /// `thinking: {"type": "enabled"|"disabled"}` (GLM)
    Thinking,
    /// `enable_thinking: true|false` (Qwen)
    EnableThinking,
    /// nothing is sent
    None,
}

/// How `<think>` tags inside `content` are handled in replies (`think_tags`, contract §3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThinkTags {
    Off,
    On,
    Implicit,
}

#[derive(Debug)]
pub struct Profile {
    pub name: &'static str,
    pub aliases: Vec<&'static str>,
    pub default_base_url: &'static str,
    /// `max_tokens` | `max_completion_tokens`
    pub max_tokens_field: &'static str,
    /// text-only content sent as one string
    pub string_content: bool,
    /// all system/developer text merged into one leading system message
    pub system_at_front: bool,
    /// reasoning replayed as `reasoning_content` on assistant messages
    pub replay_reasoning: bool,
    pub reasoning_param: ReasoningParam,
    pub think_tags: ThinkTags,
    /// images may stay inside tool messages
    pub tool_images: bool,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

fn field<'a>(fields: &'a Map<String, Value>, profile: &str, key: &str) -> &'a Value {
    fields
        .get(key)
        .unwrap_or_else(|| panic!("profiles.json: profile {profile:?} lacks {key:?}"))
}

fn text(fields: &Map<String, Value>, profile: &str, key: &str) -> &'static str {
    match field(fields, profile, key) {
        Value::String(s) => leak(s),
        _ => panic!("profiles.json: {profile}.{key} must be a string"),
    }
}

fn flag(fields: &Map<String, Value>, profile: &str, key: &str) -> bool {
    match field(fields, profile, key) {
        Value::Bool(b) => *b,
        _ => panic!("profiles.json: {profile}.{key} must be a boolean"),
    }
}

fn parse_profile(name: &str, fields: &Map<String, Value>) -> Profile {
    let reasoning_param = match text(fields, name, "reasoning_param") {
        "reasoning_effort" => ReasoningParam::ReasoningEffort,
        "thinking" => ReasoningParam::Thinking,
        "enable_thinking" => ReasoningParam::EnableThinking,
        "none" => ReasoningParam::None,
        other => panic!("profiles.json: {name}.reasoning_param {other:?} is unknown"),
    };
    let think_tags = match text(fields, name, "think_tags") {
        "off" => ThinkTags::Off,
        "on" => ThinkTags::On,
        "implicit" => ThinkTags::Implicit,
        other => panic!("profiles.json: {name}.think_tags {other:?} is unknown"),
    };
    let aliases = match fields.get("aliases") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| leak(a.as_str().expect("profiles.json: aliases must be strings")))
            .collect(),
        _ => Vec::new(),
    };
    Profile {
        name: leak(name),
        aliases,
        default_base_url: text(fields, name, "default_base_url"),
        max_tokens_field: text(fields, name, "max_tokens_field"),
        string_content: flag(fields, name, "string_content"),
        system_at_front: flag(fields, name, "system_at_front"),
        replay_reasoning: flag(fields, name, "replay_reasoning"),
        reasoning_param,
        think_tags,
        tool_images: flag(fields, name, "tool_images"),
    }
}

/// Every profile, in table order. The table is compiled in and checked by the tests, so the
/// panics above can only fire on a broken build.
pub fn profiles() -> &'static [Profile] {
    static TABLE: OnceLock<Vec<Profile>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let raw: Value = serde_json::from_str(TABLE_JSON).expect("profiles.json is valid JSON");
        let Value::Object(entries) = raw else {
            panic!("profiles.json must be an object")
        };
        entries
            .iter()
            .filter(|(name, _)| !name.starts_with('_'))
            .map(|(name, fields)| match fields {
                Value::Object(fields) => parse_profile(name, fields),
                _ => panic!("profiles.json: {name} must be an object"),
            })
            .collect()
    })
}

/// The profile for a provider or backend name (case-insensitive, aliases allowed); unknown names
/// get the generic OpenAI-compatible profile.
pub fn profile(name: &str) -> &'static Profile {
    let key = name.trim().to_lowercase();
    let table = profiles();
    table
        .iter()
        .find(|p| p.name == key || p.aliases.iter().any(|a| *a == key))
        .or_else(|| table.iter().find(|p| p.name == DEFAULT_PROFILE))
        .expect("profiles.json has the default profile")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_resolves_names() {
        assert!(profiles().len() >= 6);
        assert_eq!(profile("DeepSeek").name, "deepseek");
        assert_eq!(profile(" moonshot ").name, "kimi");
        assert_eq!(profile("zhipu").name, "glm");
        assert_eq!(profile("vllm").name, "openai");
        assert_eq!(profile("no-such-provider").name, "openai");
        assert_eq!(profile("").name, "openai");
        let kimi = profile("kimi");
        assert_eq!(kimi.max_tokens_field, "max_completion_tokens");
        assert!(kimi.replay_reasoning);
        assert_eq!(profile("glm").reasoning_param, ReasoningParam::Thinking);
        assert_eq!(profile("minimax").think_tags, ThinkTags::Implicit);
        assert!(profile("qwen").system_at_front);
    }
}
