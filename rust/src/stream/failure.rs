//! Upstream errors to `response.failed` codes and messages (contract §3.6).
use super::chunk::{ErrorRaw, Kind};

/// The code and message of a `response.failed` for an upstream error (contract §3.6).
pub(super) fn error_code_and_message(e: &ErrorRaw) -> (String, &str) {
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
    let has = |words: &[&str]| {
        words
            .iter()
            .any(|w| memchr::memmem::find(&hay, w.as_bytes()).is_some())
    };
    if has(&[
        "context_length",
        "context length",
        "maximum context",
        "too long",
        "too many tokens",
    ]) {
        "context_length_exceeded".to_string()
    } else if has(&["insufficient_quota", "quota"]) {
        "insufficient_quota".to_string()
    } else if has(&["rate_limit", "rate limit", "429", "too many requests"]) {
        "rate_limit_exceeded".to_string()
    } else {
        code.unwrap_or("server_error").to_string()
    }
}
