//! Lenient, allocation-free deserialisation of one Chat Completions chunk.
//!
//! The Python engine does `jsonw.loads(data)` into dicts and then looks fields up with type
//! checks. To give the same answers without building a `serde_json::Value` per chunk, the chunk is
//! deserialised straight into a reusable [`Chunk`] whose slots record, for every field the
//! translator reads, what Python would see there: absent, or a value of some JSON type (strings
//! copied into reused buffers). Python semantics kept:
//! - duplicate keys: the last one wins (a later occurrence resets the slot, whatever its type);
//! - values of an unexpected type are recorded as such (the translator ignores them);
//! - every other value is still fully parsed by [`Validate`] (never `IgnoredAny`, which skips
//!   number range, lone-surrogate and depth checks), so a chunk is malformed exactly when
//!   `jsonw.loads` rejects it.
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The JSON type (and scalar value) Python sees at a position.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Kind {
    #[default]
    Absent,
    Null,
    Bool(bool),
    /// An integer that fits i64 or u64 (others are floats, as in jsonw).
    Int(i128),
    Float(f64),
    /// A string; its text is in the owning [`Val::text`].
    Str,
    Array,
    Object,
}

/// A leaf slot: its kind and, for strings, the text (buffer reused across chunks).
#[derive(Debug, Default)]
pub struct Val {
    pub kind: Kind,
    pub text: String,
}

impl Val {
    #[inline]
    pub fn reset(&mut self) {
        self.kind = Kind::Absent;
    }
    /// The string value, if this is a string.
    #[inline]
    pub fn as_str(&self) -> Option<&str> {
        if self.kind == Kind::Str {
            Some(&self.text)
        } else {
            None
        }
    }
    /// A non-empty string value.
    #[inline]
    pub fn non_empty_str(&self) -> Option<&str> {
        match self.as_str() {
            Some(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }
    #[inline]
    pub fn is_absent(&self) -> bool {
        self.kind == Kind::Absent
    }
    #[inline]
    pub fn is_null_or_absent(&self) -> bool {
        matches!(self.kind, Kind::Absent | Kind::Null)
    }
}

/// The fields of a `usage` object that the usage mapping reads (contract §3.8).
#[derive(Debug, Default)]
pub struct UsageRaw {
    pub prompt_tokens: Val,
    pub input_tokens: Val,
    pub completion_tokens: Val,
    pub output_tokens: Val,
    pub total_tokens: Val,
    pub prompt_cache_hit_tokens: Val,
    pub cached_tokens: Val,
    pub prompt_tokens_details: Details,
    pub input_tokens_details: Details,
    pub completion_tokens_details: Details,
    pub output_tokens_details: Details,
}

/// A `*_tokens_details` object (absent or not an object: every field absent).
#[derive(Debug, Default)]
pub struct Details {
    pub is_object: bool,
    pub cached_tokens: Val,
    pub cache_write_tokens: Val,
    pub reasoning_tokens: Val,
}

impl Details {
    fn reset(&mut self) {
        self.is_object = false;
        self.cached_tokens.reset();
        self.cache_write_tokens.reset();
        self.reasoning_tokens.reset();
    }
}

impl UsageRaw {
    pub fn reset(&mut self) {
        self.prompt_tokens.reset();
        self.input_tokens.reset();
        self.completion_tokens.reset();
        self.output_tokens.reset();
        self.total_tokens.reset();
        self.prompt_cache_hit_tokens.reset();
        self.cached_tokens.reset();
        self.prompt_tokens_details.reset();
        self.input_tokens_details.reset();
        self.completion_tokens_details.reset();
        self.output_tokens_details.reset();
    }
}

/// The `error` member: its kind, and the object fields when it is an object.
#[derive(Debug, Default)]
pub struct ErrorRaw {
    /// Kind of the `error` value itself (`Str` → text in `text`).
    pub value: Val,
    pub code: Val,
    pub type_: Val,
    pub message: Val,
}

impl ErrorRaw {
    fn reset(&mut self) {
        self.value.reset();
        self.code.reset();
        self.type_.reset();
        self.message.reset();
    }
}

/// One tool-call fragment of `delta.tool_calls`.
#[derive(Debug, Default)]
pub struct Fragment {
    pub is_object: bool,
    pub id: Val,
    pub index: Val,
    /// Kind of `function` (fields below only meaningful when `Object`).
    pub function: Kind,
    pub name: Val,
    pub arguments: Val,
}

impl Fragment {
    fn reset(&mut self) {
        self.is_object = false;
        self.id.reset();
        self.index.reset();
        self.reset_function();
    }
    fn reset_function(&mut self) {
        self.function = Kind::Absent;
        self.name.reset();
        self.arguments.reset();
    }
}

/// `choices[i].delta`.
#[derive(Debug, Default)]
pub struct Delta {
    pub kind: Kind,
    pub reasoning_content: Val,
    pub reasoning: Val,
    pub content: Val,
    pub refusal: Val,
    /// Kind of `tool_calls`; fragments in `fragments[..n_fragments]` when it is an array.
    pub tool_calls: Kind,
    pub fragments: Vec<Fragment>,
    pub n_fragments: usize,
}

impl Delta {
    fn reset(&mut self) {
        self.kind = Kind::Absent;
        self.reasoning_content.reset();
        self.reasoning.reset();
        self.content.reset();
        self.refusal.reset();
        self.reset_tool_calls();
    }
    fn reset_tool_calls(&mut self) {
        self.tool_calls = Kind::Absent;
        self.n_fragments = 0;
    }
    pub fn fragments(&self) -> &[Fragment] {
        &self.fragments[..self.n_fragments]
    }
}

/// One element of `choices`.
#[derive(Debug, Default)]
pub struct Choice {
    pub is_object: bool,
    pub index: Val,
    pub delta: Delta,
    pub finish_reason: Val,
    /// Kind of the choice's own `usage` (Moonshot/Kimi put it there); fields in `usage_raw`.
    pub usage: Kind,
    pub usage_raw: UsageRaw,
}

impl Choice {
    fn reset(&mut self) {
        self.is_object = false;
        self.index.reset();
        self.delta.reset();
        self.finish_reason.reset();
        self.usage = Kind::Absent;
        self.usage_raw.reset();
    }
}

/// A whole chunk. Reused: [`Chunk::parse`] resets it first.
#[derive(Debug, Default)]
pub struct Chunk {
    /// False when the payload is valid JSON but not an object.
    pub is_object: bool,
    pub error: ErrorRaw,
    /// Kind of `usage`; its fields in `usage_raw` when it is an object.
    pub usage: Kind,
    pub usage_raw: UsageRaw,
    /// Kind of `choices`; elements in `choices[..n_choices]` when it is an array.
    pub choices_kind: Kind,
    pub choices: Vec<Choice>,
    pub n_choices: usize,
}

impl Chunk {
    /// Parse `data` into `self`. `Err` means malformed (contract §1/§3.3 step 2).
    /// Takes `&str`: the SSE decoder already made the payload valid UTF-8, and serde_json's
    /// `from_str` does not validate every string again as `from_slice` does.
    pub fn parse(&mut self, data: &str) -> Result<(), serde_json::Error> {
        self.reset();
        let mut de = serde_json::Deserializer::from_str(data);
        ChunkSeed(self).deserialize(&mut de)?;
        de.end()
    }

    fn reset(&mut self) {
        self.is_object = false;
        self.error.reset();
        self.reset_usage();
        self.reset_choices();
    }
    fn reset_usage(&mut self) {
        self.usage = Kind::Absent;
        self.usage_raw.reset();
    }
    fn reset_choices(&mut self) {
        self.choices_kind = Kind::Absent;
        self.n_choices = 0;
    }
    pub fn choices(&self) -> &[Choice] {
        &self.choices[..self.n_choices]
    }
}

// ---------------------------------------------------------------------------------------------
// Validation of values we do not look into.

/// Parses and discards any JSON value, with every check serde_json applies to a full parse
/// (number range, lone surrogates, depth): what `IgnoredAny` would skip.
pub struct Validate;

impl<'de> serde::Deserialize<'de> for Validate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValidateVisitor)
    }
}

struct ValidateVisitor;

impl<'de> Visitor<'de> for ValidateVisitor {
    type Value = Validate;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_str<E>(self, _: &str) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_unit<E>(self) -> Result<Validate, E> {
        Ok(Validate)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Validate, A::Error> {
        while seq.next_element::<Validate>()?.is_some() {}
        Ok(Validate)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Validate, A::Error> {
        while map.next_key::<Validate>()?.is_some() {
            map.next_value::<Validate>()?;
        }
        Ok(Validate)
    }
}

// ---------------------------------------------------------------------------------------------
// Leaf slots.

/// Fills a [`Val`] from any JSON value (containers are validated and recorded by kind only).
struct ValSeed<'a>(&'a mut Val);

impl<'de> DeserializeSeed<'de> for ValSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.kind = Kind::Bool(v);
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.kind = Kind::Int(v as i128);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.kind = Kind::Int(v as i128);
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.kind = Kind::Float(v);
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.kind = Kind::Str;
        self.0.text.clear();
        self.0.text.push_str(v);
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.kind = Kind::Null;
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq)?;
        self.0.kind = Kind::Array;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_map(map)?;
        self.0.kind = Kind::Object;
        Ok(())
    }
}

/// Generates a visitor for a value that is interesting only when it is an object (or, for
/// lists, an array): any other JSON type is validated and its kind recorded.
macro_rules! non_container_kinds {
    ($set:expr) => {
        fn visit_bool<E>(self, v: bool) -> Result<(), E> {
            #[allow(clippy::redundant_closure_call)]
            ($set)(self, Kind::Bool(v));
            Ok(())
        }
        fn visit_i64<E>(self, v: i64) -> Result<(), E> {
            #[allow(clippy::redundant_closure_call)]
            ($set)(self, Kind::Int(v as i128));
            Ok(())
        }
        fn visit_u64<E>(self, v: u64) -> Result<(), E> {
            #[allow(clippy::redundant_closure_call)]
            ($set)(self, Kind::Int(v as i128));
            Ok(())
        }
        fn visit_f64<E>(self, v: f64) -> Result<(), E> {
            #[allow(clippy::redundant_closure_call)]
            ($set)(self, Kind::Float(v));
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            #[allow(clippy::redundant_closure_call)]
            ($set)(self, Kind::Str);
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            #[allow(clippy::redundant_closure_call)]
            ($set)(self, Kind::Null);
            Ok(())
        }
    };
}

/// Keys we look for; everything else is `Other` (its value is validated and dropped).
#[derive(Clone, Copy)]
enum Key {
    Error,
    Usage,
    Choices,
    Index,
    Delta,
    FinishReason,
    ReasoningContent,
    Reasoning,
    Content,
    Refusal,
    ToolCalls,
    Id,
    Function,
    Name,
    Arguments,
    Code,
    Type,
    Message,
    PromptTokens,
    InputTokens,
    CompletionTokens,
    OutputTokens,
    TotalTokens,
    PromptCacheHitTokens,
    CachedTokens,
    CacheWriteTokens,
    ReasoningTokens,
    PromptTokensDetails,
    InputTokensDetails,
    CompletionTokensDetails,
    OutputTokensDetails,
    Other,
}

impl Key {
    fn of(s: &str) -> Key {
        match s {
            "error" => Key::Error,
            "usage" => Key::Usage,
            "choices" => Key::Choices,
            "index" => Key::Index,
            "delta" => Key::Delta,
            "finish_reason" => Key::FinishReason,
            "reasoning_content" => Key::ReasoningContent,
            "reasoning" => Key::Reasoning,
            "content" => Key::Content,
            "refusal" => Key::Refusal,
            "tool_calls" => Key::ToolCalls,
            "id" => Key::Id,
            "function" => Key::Function,
            "name" => Key::Name,
            "arguments" => Key::Arguments,
            "code" => Key::Code,
            "type" => Key::Type,
            "message" => Key::Message,
            "prompt_tokens" => Key::PromptTokens,
            "input_tokens" => Key::InputTokens,
            "completion_tokens" => Key::CompletionTokens,
            "output_tokens" => Key::OutputTokens,
            "total_tokens" => Key::TotalTokens,
            "prompt_cache_hit_tokens" => Key::PromptCacheHitTokens,
            "cached_tokens" => Key::CachedTokens,
            "cache_write_tokens" => Key::CacheWriteTokens,
            "reasoning_tokens" => Key::ReasoningTokens,
            "prompt_tokens_details" => Key::PromptTokensDetails,
            "input_tokens_details" => Key::InputTokensDetails,
            "completion_tokens_details" => Key::CompletionTokensDetails,
            "output_tokens_details" => Key::OutputTokensDetails,
            _ => Key::Other,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::of(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// The chunk object.

struct ChunkSeed<'a>(&'a mut Chunk);

impl<'de> DeserializeSeed<'de> for ChunkSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChunkSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|_s: Self, _k: Kind| ());
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq).map(|_| ())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let c = self.0;
        c.is_object = true;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Error => {
                    c.error.reset();
                    map.next_value_seed(ErrorSeed(&mut c.error))?;
                }
                Key::Usage => {
                    c.reset_usage();
                    map.next_value_seed(UsageSeed(&mut c.usage, &mut c.usage_raw))?;
                }
                Key::Choices => {
                    c.reset_choices();
                    map.next_value_seed(ChoicesSeed(c))?;
                }
                _ => {
                    map.next_value::<Validate>()?;
                }
            }
        }
        Ok(())
    }
}

struct ErrorSeed<'a>(&'a mut ErrorRaw);

impl<'de> DeserializeSeed<'de> for ErrorSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ErrorSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<(), E> {
        ValSeed(&mut self.0.value).visit_bool(v)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<(), E> {
        ValSeed(&mut self.0.value).visit_i64(v)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<(), E> {
        ValSeed(&mut self.0.value).visit_u64(v)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        ValSeed(&mut self.0.value).visit_f64(v)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        ValSeed(&mut self.0.value).visit_str(v)
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        ValSeed(&mut self.0.value).visit_unit()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValSeed(&mut self.0.value).visit_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let e = self.0;
        e.value.kind = Kind::Object;
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Code => &mut e.code,
                Key::Type => &mut e.type_,
                Key::Message => &mut e.message,
                _ => {
                    map.next_value::<Validate>()?;
                    continue;
                }
            };
            slot.reset();
            map.next_value_seed(ValSeed(slot))?;
        }
        Ok(())
    }
}

/// A `usage` value: its kind and, for an object, the fields the mapping reads.
struct UsageSeed<'a>(&'a mut Kind, &'a mut UsageRaw);

impl<'de> DeserializeSeed<'de> for UsageSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UsageSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|s: Self, k: Kind| *s.0 = k);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq)?;
        *self.0 = Kind::Array;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        *self.0 = Kind::Object;
        let u = self.1;
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::PromptTokens => &mut u.prompt_tokens,
                Key::InputTokens => &mut u.input_tokens,
                Key::CompletionTokens => &mut u.completion_tokens,
                Key::OutputTokens => &mut u.output_tokens,
                Key::TotalTokens => &mut u.total_tokens,
                Key::PromptCacheHitTokens => &mut u.prompt_cache_hit_tokens,
                Key::CachedTokens => &mut u.cached_tokens,
                Key::PromptTokensDetails
                | Key::InputTokensDetails
                | Key::CompletionTokensDetails
                | Key::OutputTokensDetails => {
                    let details = match key {
                        Key::PromptTokensDetails => &mut u.prompt_tokens_details,
                        Key::InputTokensDetails => &mut u.input_tokens_details,
                        Key::CompletionTokensDetails => &mut u.completion_tokens_details,
                        _ => &mut u.output_tokens_details,
                    };
                    details.reset();
                    map.next_value_seed(DetailsSeed(details))?;
                    continue;
                }
                _ => {
                    map.next_value::<Validate>()?;
                    continue;
                }
            };
            slot.reset();
            map.next_value_seed(ValSeed(slot))?;
        }
        Ok(())
    }
}

struct DetailsSeed<'a>(&'a mut Details);

impl<'de> DeserializeSeed<'de> for DetailsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DetailsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|_s: Self, _k: Kind| ());
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq).map(|_| ())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let d = self.0;
        d.is_object = true;
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::CachedTokens => &mut d.cached_tokens,
                Key::CacheWriteTokens => &mut d.cache_write_tokens,
                Key::ReasoningTokens => &mut d.reasoning_tokens,
                _ => {
                    map.next_value::<Validate>()?;
                    continue;
                }
            };
            slot.reset();
            map.next_value_seed(ValSeed(slot))?;
        }
        Ok(())
    }
}

struct ChoicesSeed<'a>(&'a mut Chunk);

impl<'de> DeserializeSeed<'de> for ChoicesSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChoicesSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|s: Self, k: Kind| s.0.choices_kind = k);
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_map(map)?;
        self.0.choices_kind = Kind::Object;
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let c = self.0;
        c.choices_kind = Kind::Array;
        loop {
            if c.n_choices == c.choices.len() {
                c.choices.push(Choice::default());
            }
            let choice = &mut c.choices[c.n_choices];
            choice.reset();
            if seq.next_element_seed(ChoiceSeed(choice))?.is_none() {
                return Ok(());
            }
            c.n_choices += 1;
        }
    }
}

struct ChoiceSeed<'a>(&'a mut Choice);

impl<'de> DeserializeSeed<'de> for ChoiceSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChoiceSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|_s: Self, _k: Kind| ());
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq).map(|_| ())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let c = self.0;
        c.is_object = true;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Index => {
                    c.index.reset();
                    map.next_value_seed(ValSeed(&mut c.index))?;
                }
                Key::FinishReason => {
                    c.finish_reason.reset();
                    map.next_value_seed(ValSeed(&mut c.finish_reason))?;
                }
                Key::Delta => {
                    c.delta.reset();
                    map.next_value_seed(DeltaSeed(&mut c.delta))?;
                }
                Key::Usage => {
                    c.usage = Kind::Absent;
                    c.usage_raw.reset();
                    map.next_value_seed(UsageSeed(&mut c.usage, &mut c.usage_raw))?;
                }
                _ => {
                    map.next_value::<Validate>()?;
                }
            }
        }
        Ok(())
    }
}

struct DeltaSeed<'a>(&'a mut Delta);

impl<'de> DeserializeSeed<'de> for DeltaSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DeltaSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|s: Self, k: Kind| s.0.kind = k);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq)?;
        self.0.kind = Kind::Array;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let d = self.0;
        d.kind = Kind::Object;
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::ReasoningContent => &mut d.reasoning_content,
                Key::Reasoning => &mut d.reasoning,
                Key::Content => &mut d.content,
                Key::Refusal => &mut d.refusal,
                Key::ToolCalls => {
                    d.reset_tool_calls();
                    map.next_value_seed(ToolCallsSeed(d))?;
                    continue;
                }
                _ => {
                    map.next_value::<Validate>()?;
                    continue;
                }
            };
            slot.reset();
            map.next_value_seed(ValSeed(slot))?;
        }
        Ok(())
    }
}

struct ToolCallsSeed<'a>(&'a mut Delta);

impl<'de> DeserializeSeed<'de> for ToolCallsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ToolCallsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|s: Self, k: Kind| s.0.tool_calls = k);
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_map(map)?;
        self.0.tool_calls = Kind::Object;
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let d = self.0;
        d.tool_calls = Kind::Array;
        loop {
            if d.n_fragments == d.fragments.len() {
                d.fragments.push(Fragment::default());
            }
            let frag = &mut d.fragments[d.n_fragments];
            frag.reset();
            if seq.next_element_seed(FragmentSeed(frag))?.is_none() {
                return Ok(());
            }
            d.n_fragments += 1;
        }
    }
}

struct FragmentSeed<'a>(&'a mut Fragment);

impl<'de> DeserializeSeed<'de> for FragmentSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FragmentSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|_s: Self, _k: Kind| ());
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq).map(|_| ())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.0;
        f.is_object = true;
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Id => &mut f.id,
                Key::Index => &mut f.index,
                Key::Function => {
                    f.reset_function();
                    map.next_value_seed(FunctionSeed(f))?;
                    continue;
                }
                _ => {
                    map.next_value::<Validate>()?;
                    continue;
                }
            };
            slot.reset();
            map.next_value_seed(ValSeed(slot))?;
        }
        Ok(())
    }
}

struct FunctionSeed<'a>(&'a mut Fragment);

impl<'de> DeserializeSeed<'de> for FunctionSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FunctionSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    non_container_kinds!(|s: Self, k: Kind| s.0.function = k);
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        ValidateVisitor.visit_seq(seq)?;
        self.0.function = Kind::Array;
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let f = self.0;
        f.function = Kind::Object;
        while let Some(key) = map.next_key::<Key>()? {
            let slot = match key {
                Key::Name => &mut f.name,
                Key::Arguments => &mut f.arguments,
                _ => {
                    map.next_value::<Validate>()?;
                    continue;
                }
            };
            slot.reset();
            map.next_value_seed(ValSeed(slot))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Chunk, serde_json::Error> {
        let mut c = Chunk::default();
        c.parse(s).map(|_| c)
    }

    #[test]
    fn typical_chunk() {
        let c = parse(r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi \"there\"","tool_calls":[{"index":1,"id":"call_1","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]}"#).unwrap();
        assert!(c.is_object);
        assert_eq!(c.choices_kind, Kind::Array);
        let ch = &c.choices()[0];
        assert_eq!(ch.index.kind, Kind::Int(0));
        assert_eq!(ch.delta.content.as_str(), Some("Hi \"there\""));
        assert_eq!(ch.finish_reason.kind, Kind::Null);
        let f = &ch.delta.fragments()[0];
        assert_eq!(f.index.kind, Kind::Int(1));
        assert_eq!(f.id.as_str(), Some("call_1"));
        assert_eq!(f.name.as_str(), Some("f"));
        assert_eq!(f.arguments.as_str(), Some("{}"));
    }

    #[test]
    fn duplicate_keys_last_wins_even_with_wrong_type() {
        let c = parse(
            r#"{"choices":[{"delta":{"content":"a","content":5}}],"usage":{"prompt_tokens":1},"usage":3}"#,
        )
        .unwrap();
        assert_eq!(c.choices()[0].delta.content.kind, Kind::Int(5));
        assert_eq!(c.usage, Kind::Int(3));
        let c = parse(
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a"},{"id":"b"}],"tool_calls":[{"id":"c"}]}}]}"#,
        )
        .unwrap();
        let d = &c.choices()[0].delta;
        assert_eq!(d.fragments().len(), 1);
        assert_eq!(d.fragments()[0].id.as_str(), Some("c"));
    }

    #[test]
    fn reuse_resets_everything() {
        let mut c = Chunk::default();
        c.parse(r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1},"error":"x"}"#).unwrap();
        c.parse(r#"{"choices":[{"delta":{}}]}"#).unwrap();
        assert!(c.choices()[0].delta.content.is_absent());
        assert!(c.choices()[0].finish_reason.is_absent());
        assert_eq!(c.usage, Kind::Absent);
        assert!(c.error.value.is_absent());
    }

    #[test]
    fn numbers() {
        let c = parse(r#"{"choices":[{"index":-0},{"index":18446744073709551615},{"index":18446744073709551616},{"index":-9223372036854775808},{"index":1.0},{"index":1e2}]}"#).unwrap();
        let k: Vec<Kind> = c.choices().iter().map(|c| c.index.kind).collect();
        assert_eq!(k[0], Kind::Float(-0.0));
        assert!(matches!(k[0], Kind::Float(f) if f.is_sign_negative()));
        assert_eq!(k[1], Kind::Int(u64::MAX as i128));
        assert_eq!(k[2], Kind::Float(18446744073709551616.0));
        assert_eq!(k[3], Kind::Int(i64::MIN as i128));
        assert_eq!(k[4], Kind::Float(1.0));
        assert_eq!(k[5], Kind::Float(100.0));
    }

    #[test]
    fn malformed_anywhere_even_in_ignored_fields() {
        for bad in [
            r#"{"x":1e400}"#,
            r#"{"x":-1e400}"#,
            r#"{"x":"\ud800"}"#,
            r#"{"x":"\udc00"}"#,
            r#"{"x":"\ud800\u0041"}"#,
            r#"{"\ud800":1}"#,
            r#"{"x":NaN}"#,
            r#"{"x":Infinity}"#,
            r#"{"x":1,}"#,
            r#"{"x":"a"} x"#,
            "{\"x\":\"\u{1}\"}",
            r#"{"x":01}"#,
            "",
            " ",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep_ok = format!("{{\"x\":{}{}}}", "[".repeat(126), "]".repeat(126));
        assert!(parse(&deep_ok).is_ok());
        let deep_bad = format!("{{\"x\":{}{}}}", "[".repeat(127), "]".repeat(127));
        assert!(parse(&deep_bad).is_err());
        // Depth counts through the typed path as well.
        let deep_typed = format!(
            "{{\"choices\":[{{\"delta\":{{\"tool_calls\":[{{\"function\":{{\"name\":{}{}}}}}]}}}}]}}",
            "[".repeat(121),
            "]".repeat(121)
        );
        assert!(parse(&deep_typed).is_err());
        assert!(parse(r#"{"x":1e-400,"y":"\ud83d\ude00","z":[1,"\u2028"]}"#).is_ok());
    }

    #[test]
    fn not_an_object() {
        for s in ["[]", "1", "\"x\"", "null", "true"] {
            assert!(!parse(s).unwrap().is_object, "{s}");
        }
    }
}
