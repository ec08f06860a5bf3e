//! Usage mapping, Chat → Responses (contract §3.8), shared by the stream translator and the
//! non-streaming response conversion.
use crate::stream::chunk::{Details, Kind, UsageRaw, Val};

/// Counts are clamped to 0..=2^53 (the integers a double holds exactly, so both engines agree).
pub const MAX_COUNT: u64 = 1 << 53;

/// A Responses-shaped usage object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub cache_write_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub total_tokens: u64,
}

/// The count a value stands for: an integer, a float (truncated) or a string of ASCII digits,
/// clamped to 0..=2^53; anything else does not count.
pub fn count(v: &Val) -> Option<u64> {
    match v.kind {
        Kind::Int(i) => Some(i.clamp(0, MAX_COUNT as i128) as u64),
        Kind::Float(f) => Some(if f <= 0.0 {
            0
        } else if f >= MAX_COUNT as f64 {
            MAX_COUNT
        } else {
            f.trunc() as u64
        }),
        Kind::Str => {
            let s = v.text.as_bytes();
            if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let mut n: u64 = 0;
            for &b in s {
                n = n.saturating_mul(10).saturating_add((b - b'0') as u64);
            }
            Some(n.min(MAX_COUNT))
        }
        _ => None,
    }
}

impl Usage {
    pub fn from_raw(u: &UsageRaw) -> Usage {
        // A `*_details` member that is not an object contributes nothing.
        fn detail(d: &Details, field: fn(&Details) -> &Val) -> Option<&Val> {
            if d.is_object {
                Some(field(d))
            } else {
                None
            }
        }
        let first =
            |vals: &[Option<&Val>]| vals.iter().flatten().find_map(|v| count(v)).unwrap_or(0);
        let input_tokens = first(&[Some(&u.prompt_tokens), Some(&u.input_tokens)]);
        let output_tokens = first(&[Some(&u.completion_tokens), Some(&u.output_tokens)]);
        let total_tokens = count(&u.total_tokens).unwrap_or(input_tokens + output_tokens);
        let cached_tokens = first(&[
            detail(&u.prompt_tokens_details, |d| &d.cached_tokens),
            Some(&u.prompt_cache_hit_tokens),
            Some(&u.cached_tokens),
            detail(&u.input_tokens_details, |d| &d.cached_tokens),
        ]);
        let cache_write_tokens = first(&[
            detail(&u.prompt_tokens_details, |d| &d.cache_write_tokens),
            detail(&u.input_tokens_details, |d| &d.cache_write_tokens),
        ]);
        let reasoning_tokens = first(&[
            detail(&u.completion_tokens_details, |d| &d.reasoning_tokens),
            detail(&u.output_tokens_details, |d| &d.reasoning_tokens),
        ]);
        Usage {
            input_tokens,
            cached_tokens,
            cache_write_tokens,
            output_tokens,
            reasoning_tokens,
            total_tokens,
        }
    }

    /// Append the Responses usage object (contract §3.1).
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut b = itoa::Buffer::new();
        out.extend_from_slice(b"{\"input_tokens\":");
        out.extend_from_slice(b.format(self.input_tokens).as_bytes());
        out.extend_from_slice(b",\"input_tokens_details\":{\"cached_tokens\":");
        out.extend_from_slice(b.format(self.cached_tokens).as_bytes());
        out.extend_from_slice(b",\"cache_write_tokens\":");
        out.extend_from_slice(b.format(self.cache_write_tokens).as_bytes());
        out.extend_from_slice(b"},\"output_tokens\":");
        out.extend_from_slice(b.format(self.output_tokens).as_bytes());
        out.extend_from_slice(b",\"output_tokens_details\":{\"reasoning_tokens\":");
        out.extend_from_slice(b.format(self.reasoning_tokens).as_bytes());
        out.extend_from_slice(b"},\"total_tokens\":");
        out.extend_from_slice(b.format(self.total_tokens).as_bytes());
        out.push(b'}');
    }
}
