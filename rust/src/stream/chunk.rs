//! Lenient, allocation-free parsing of one Chat Completions chunk.
//!
//! The Python engine does `jsonw.loads(data)` into dicts and then looks fields up with type
//! checks. To give the same answers without building a `serde_json::Value` per chunk, the chunk is
//! parsed straight into a reusable [`Chunk`] whose slots record, for every field the translator
//! reads, what Python would see there: absent, or a value of some JSON type (strings copied into
//! reused buffers). Python semantics kept:
//! - duplicate keys: the last one wins (a later occurrence resets the slot, whatever its type);
//! - values of an unexpected type are recorded as such (the translator ignores them);
//! - every other value is still scanned and validated in full by [`Scanner`], so a chunk is
//!   malformed exactly when `jsonw.loads` rejects it (invalid JSON, a lone surrogate escape, a
//!   number that overflows a double, nesting deeper than 127).
use super::scan::{Malformed, Number, Res, Scalar, Scanner};

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
    /// The last chunk's leading and trailing runs of members that need no parsing (see
    /// [`Chunk::parse`]).
    prefix: Run,
    suffix: Run,
}

/// A run of top-level members that need no parsing: members we ignore, and `usage`/`error` set
/// to `null` (recorded, so that a later duplicate key still wins as in a full parse).
#[derive(Debug, Default)]
struct Run {
    bytes: Vec<u8>,
    usage_null: bool,
    error_null: bool,
}

impl Run {
    fn learn(&mut self, bytes: &[u8], usage_null: bool, error_null: bool) {
        self.bytes.clear();
        self.bytes.extend_from_slice(bytes);
        self.usage_null = usage_null;
        self.error_null = error_null;
    }
}

impl Chunk {
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
// The parser: recursive descent over the scanner, one function per object shape. A member whose
// key we do not look for is still scanned (validated) in full.

impl Val {
    /// Record any value (containers: validated, kind only).
    #[inline]
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        self.kind = match sc.value()? {
            Scalar::Null => Kind::Null,
            Scalar::Bool(b) => Kind::Bool(b),
            Scalar::Number(Number::Int(i)) => Kind::Int(i),
            Scalar::Number(Number::Float(f)) => Kind::Float(f),
            Scalar::Str(raw) => {
                self.text.clear();
                raw.push_to(&mut self.text);
                Kind::Str
            }
            Scalar::Array => Kind::Array,
            Scalar::Object => Kind::Object,
        };
        Ok(())
    }
}

/// The kind of a value we only look into when it is an object (or array): anything else is
/// validated and its kind returned; `None` means "it is a container of the wanted type, parse it".
/// An element of a JSON array read into a pool of reusable elements.
trait Pooled: Default {
    fn reset(&mut self);
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()>;
}

impl Pooled for Choice {
    fn reset(&mut self) {
        Choice::reset(self)
    }
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        Choice::read(self, sc)
    }
}

impl Pooled for Fragment {
    fn reset(&mut self) {
        Fragment::reset(self)
    }
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        Fragment::read(self, sc)
    }
}

/// Read a JSON array into `pool[..*used]`, reusing the elements of earlier chunks (no allocation
/// once the pool is warm). A value that is not an array leaves the pool empty and returns its
/// kind, as Python would see it.
fn read_pooled<T: Pooled>(sc: &mut Scanner<'_>, pool: &mut Vec<T>, used: &mut usize) -> Res<Kind> {
    if let Some(kind) = other_kind(sc, b'[')? {
        return Ok(kind);
    }
    sc.array(|sc| {
        if *used == pool.len() {
            pool.push(T::default());
        }
        let element = &mut pool[*used];
        element.reset();
        *used += 1;
        element.read(sc)
    })?;
    Ok(Kind::Array)
}

#[inline]
fn other_kind(sc: &mut Scanner<'_>, wanted: u8) -> Res<Option<Kind>> {
    let c = sc.peek();
    if c == wanted {
        return Ok(None);
    }
    Ok(Some(match sc.value()? {
        Scalar::Null => Kind::Null,
        Scalar::Bool(b) => Kind::Bool(b),
        Scalar::Number(Number::Int(i)) => Kind::Int(i),
        Scalar::Number(Number::Float(f)) => Kind::Float(f),
        Scalar::Str(_) => Kind::Str,
        Scalar::Array => Kind::Array,
        Scalar::Object => Kind::Object,
    }))
}

/// Skip a member's value.
#[inline]
fn skip(sc: &mut Scanner<'_>) -> Res<()> {
    sc.value().map(drop)
}

impl Chunk {
    /// Parse `data` into `self`. `Err` means malformed (contract §1/§3.3 step 2). Takes `&str`:
    /// the SSE decoder already made the payload valid UTF-8.
    ///
    /// Chunks of one stream repeat most of their top-level members byte for byte (`"id"`,
    /// `"object"`, `"created"`, `"model"`, `"system_fingerprint"`, `"usage":null`, provider
    /// extras), before and after `choices`. The runs of such members in the last chunk are kept:
    /// the leading run up to and including the comma after it, the trailing run up to and
    /// including the closing brace, so every token in them is complete. A chunk that starts with
    /// the same leading run, or continues with the same trailing run where a member is due, has
    /// those bytes validated already in exactly this position, and their only effect is known:
    /// parsing skips them. This halves the work on typical chunks and changes no result.
    pub fn parse(&mut self, data: &str) -> Result<(), Malformed> {
        self.reset();
        let mut sc = Scanner::new(data);
        if !self.prefix.bytes.is_empty() && data.as_bytes().starts_with(&self.prefix.bytes) {
            sc.resume_top_level_member(self.prefix.bytes.len());
            self.is_object = true;
            self.apply_nulls(self.prefix.usage_null, self.prefix.error_null);
            self.read_members(&mut sc, data.as_bytes(), false)?;
        } else {
            self.prefix.bytes.clear();
            if sc.peek() != b'{' {
                skip(&mut sc)?; // valid JSON but not an object: is_object stays false
            } else {
                self.is_object = true;
                if !sc.open_object()? {
                    self.read_members(&mut sc, data.as_bytes(), true)?;
                }
            }
        }
        sc.end()
    }

    fn apply_nulls(&mut self, usage_null: bool, error_null: bool) {
        if usage_null {
            self.reset_usage();
            self.usage = Kind::Null;
        }
        if error_null {
            self.error.reset();
            self.error.value.kind = Kind::Null;
        }
    }

    /// The members of the top-level object, from the first key due to the closing brace; learns
    /// the trailing run, and with `learn_prefix` the leading one.
    fn read_members(&mut self, sc: &mut Scanner<'_>, data: &[u8], learn_prefix: bool) -> Res<()> {
        let mut in_prefix = learn_prefix;
        // The current run of members that need no parsing: where it starts, what it sets to null.
        let mut run: Option<usize> = None;
        let (mut usage_null, mut error_null) = (false, false);
        loop {
            let suffix = &self.suffix.bytes;
            if !suffix.is_empty() && data[sc.i..].starts_with(suffix) {
                sc.skip_validated_close(suffix.len());
                self.apply_nulls(self.suffix.usage_null, self.suffix.error_null);
                return Ok(());
            }
            let member_start = sc.i;
            let key = sc.member_key()?;
            let mut buf = [0u8; 32];
            let mut needs_parsing = true;
            match key.key(&mut buf) {
                Some(b"error") => {
                    self.error.reset();
                    if sc.peek() == b'n' {
                        self.error.value.read(sc)?; // `null`, or malformed
                        error_null = true;
                        needs_parsing = false;
                    } else {
                        self.error.read(sc)?;
                    }
                }
                Some(b"usage") => {
                    self.reset_usage();
                    if sc.peek() == b'n' {
                        sc.value()?; // `null`, or malformed
                        self.usage = Kind::Null;
                        usage_null = true;
                        needs_parsing = false;
                    } else {
                        read_usage(sc, &mut self.usage, &mut self.usage_raw)?;
                    }
                }
                Some(b"choices") => {
                    self.reset_choices();
                    self.read_choices(sc)?;
                }
                _ => {
                    skip(sc)?;
                    needs_parsing = false;
                }
            }
            if needs_parsing {
                run = None;
                in_prefix = false;
                (usage_null, error_null) = (false, false);
            } else if run.is_none() {
                run = Some(member_start);
            }
            if !sc.next_member()? {
                match run {
                    Some(start) => self
                        .suffix
                        .learn(&data[start..sc.i], usage_null, error_null),
                    None => self.suffix.bytes.clear(),
                }
                return Ok(());
            }
            if in_prefix {
                self.prefix.learn(&data[..sc.i], usage_null, error_null);
            }
        }
    }

    fn read_choices(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        self.choices_kind = read_pooled(sc, &mut self.choices, &mut self.n_choices)?;
        Ok(())
    }
}

impl ErrorRaw {
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        if sc.peek() != b'{' {
            return self.value.read(sc);
        }
        self.value.kind = Kind::Object;
        sc.object(|sc, key| {
            let mut buf = [0u8; 32];
            let slot = match key.key(&mut buf) {
                Some(b"code") => &mut self.code,
                Some(b"type") => &mut self.type_,
                Some(b"message") => &mut self.message,
                _ => return skip(sc),
            };
            slot.read(sc)
        })
    }
}

/// A `usage` value: its kind and, for an object, the fields the mapping reads.
fn read_usage(sc: &mut Scanner<'_>, kind: &mut Kind, u: &mut UsageRaw) -> Res<()> {
    if let Some(k) = other_kind(sc, b'{')? {
        *kind = k;
        return Ok(());
    }
    *kind = Kind::Object;
    sc.object(|sc, key| {
        let mut buf = [0u8; 32];
        let slot = match key.key(&mut buf) {
            Some(b"prompt_tokens") => &mut u.prompt_tokens,
            Some(b"input_tokens") => &mut u.input_tokens,
            Some(b"completion_tokens") => &mut u.completion_tokens,
            Some(b"output_tokens") => &mut u.output_tokens,
            Some(b"total_tokens") => &mut u.total_tokens,
            Some(b"prompt_cache_hit_tokens") => &mut u.prompt_cache_hit_tokens,
            Some(b"cached_tokens") => &mut u.cached_tokens,
            Some(b"prompt_tokens_details") => return u.prompt_tokens_details.read(sc),
            Some(b"input_tokens_details") => return u.input_tokens_details.read(sc),
            Some(b"completion_tokens_details") => return u.completion_tokens_details.read(sc),
            Some(b"output_tokens_details") => return u.output_tokens_details.read(sc),
            _ => return skip(sc),
        };
        slot.read(sc)
    })
}

impl Details {
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        self.reset();
        if other_kind(sc, b'{')?.is_some() {
            return Ok(());
        }
        self.is_object = true;
        sc.object(|sc, key| {
            let mut buf = [0u8; 32];
            let slot = match key.key(&mut buf) {
                Some(b"cached_tokens") => &mut self.cached_tokens,
                Some(b"cache_write_tokens") => &mut self.cache_write_tokens,
                Some(b"reasoning_tokens") => &mut self.reasoning_tokens,
                _ => return skip(sc),
            };
            slot.read(sc)
        })
    }
}

impl Choice {
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        if other_kind(sc, b'{')?.is_some() {
            return Ok(());
        }
        self.is_object = true;
        sc.object(|sc, key| {
            let mut buf = [0u8; 32];
            match key.key(&mut buf) {
                Some(b"index") => self.index.read(sc),
                Some(b"finish_reason") => self.finish_reason.read(sc),
                Some(b"delta") => {
                    self.delta.reset();
                    self.delta.read(sc)
                }
                Some(b"usage") => {
                    self.usage = Kind::Absent;
                    self.usage_raw.reset();
                    read_usage(sc, &mut self.usage, &mut self.usage_raw)
                }
                _ => skip(sc),
            }
        })
    }
}

impl Delta {
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        if let Some(kind) = other_kind(sc, b'{')? {
            self.kind = kind;
            return Ok(());
        }
        self.kind = Kind::Object;
        sc.object(|sc, key| {
            let mut buf = [0u8; 32];
            let slot = match key.key(&mut buf) {
                Some(b"content") => &mut self.content,
                Some(b"reasoning_content") => &mut self.reasoning_content,
                Some(b"reasoning") => &mut self.reasoning,
                Some(b"refusal") => &mut self.refusal,
                Some(b"tool_calls") => {
                    self.reset_tool_calls();
                    return self.read_tool_calls(sc);
                }
                _ => return skip(sc),
            };
            slot.read(sc)
        })
    }

    fn read_tool_calls(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        self.tool_calls = read_pooled(sc, &mut self.fragments, &mut self.n_fragments)?;
        Ok(())
    }
}

impl Fragment {
    fn read(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        if other_kind(sc, b'{')?.is_some() {
            return Ok(());
        }
        self.is_object = true;
        sc.object(|sc, key| {
            let mut buf = [0u8; 32];
            match key.key(&mut buf) {
                Some(b"id") => self.id.read(sc),
                Some(b"index") => self.index.read(sc),
                Some(b"function") => {
                    self.reset_function();
                    self.read_function(sc)
                }
                _ => skip(sc),
            }
        })
    }

    fn read_function(&mut self, sc: &mut Scanner<'_>) -> Res<()> {
        if let Some(kind) = other_kind(sc, b'{')? {
            self.function = kind;
            return Ok(());
        }
        self.function = Kind::Object;
        sc.object(|sc, key| {
            let mut buf = [0u8; 32];
            let slot = match key.key(&mut buf) {
                Some(b"name") => &mut self.name,
                Some(b"arguments") => &mut self.arguments,
                _ => return skip(sc),
            };
            slot.read(sc)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Chunk, Malformed> {
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
    fn skipped_prefix_gives_the_same_results() {
        // The same chunks parsed by one reused Chunk (prefix skipping) and by fresh ones.
        let chunks = [
            r#"{"id":"a","created":1,"choices":[{"delta":{"content":"x"}}]}"#,
            r#"{"id":"a","created":1,"choices":[{"delta":{"content":"y"}}]}"#,
            r#"{"id":"a","created":12,"choices":[{"delta":{"content":"number continues"}}]}"#,
            r#"{"id":"a","created":1,"usage":{"prompt_tokens":3}}"#,
            r#"{"id":"a","created":1,"error":"boom"}"#,
            r#"{"id":"a","created":1,"#,
            r#"{"id":"a","created":1,}"#,
            r#"{"id":"a","created":1,"x":1e400}"#,
            r#"{"id":"a","created":1,"choices":[]} x"#,
            r#"{"id":"a","created":1}"#,
            r#"{"id":"a","created":1,"choices":[{"index":0}],"id":"b"}"#,
            r#"{"choices":[{"delta":{"content":"first member interesting"}}],"id":"a"}"#,
            r#"  {"id":"a","created":1,"choices":[{"delta":{"content":"leading space"}}]}"#,
            r#"  {"id":"a","created":1,"choices":[{"delta":{"content":"again"}}]}"#,
            r#"[{"id":"a","created":1,"choices":[]}]"#, // not an object: learns nothing
            r#"{"id":"a","usage":null,"choices":[{"delta":{"content":"x"}}],"created":1,"usage":null,"x":[1]}"#,
            r#"{"id":"a","usage":null,"choices":[{"delta":{"content":"y"}}],"created":1,"usage":null,"x":[1]}"#,
            r#"{"id":"a","usage":null,"choices":[{"delta":{"content":"z"}}],"usage":{"prompt_tokens":1},"created":1,"usage":null,"x":[1]}"#,
            r#"{"id":"a","usage":null,"choices":[{"delta":{"content":"z"}}],"created":1,"usage":null,"x":[1]} "#,
            r#"{"id":"a","usage":null,"choices":[{"delta":{"content":"z"}}],"created":1,"usage":null,"x":[1]}}"#,
            r#"{"id":"a","usage":null,"usage":{"prompt_tokens":2},"choices":[],"created":1,"usage":null,"x":[1]}"#,
            r#"{"id":"a","usage":{"prompt_tokens":2},"choices":[],"created":1,"error":null,"x":[1]}"#,
            r#"{"id":"a","usage":{"prompt_tokens":2},"choices":[],"created":1,"error":null,"x":[1]}"#,
            r#"{"id":"a","error":"e","choices":[],"created":1,"error":null,"x":[1]}"#,
            r#"{"created":1,"error":null,"x":[1]}"#,
            r#"{"created":1,"error":null,"x":[1]}"#,
            r#"{"created":1,"error":nul,"x":[1]}"#,
            r#"{"created":1,"usage":nulll,"x":[1]}"#,
        ];
        let mut reused = Chunk::default();
        for (n, text) in chunks.iter().enumerate() {
            let a = reused
                .parse(text)
                .map(|_| format!("{:?}", summary(&reused)));
            let mut fresh = Chunk::default();
            let b = fresh.parse(text).map(|_| format!("{:?}", summary(&fresh)));
            assert_eq!(a, b, "chunk {n}: {text}");
        }
    }

    /// What the translator reads from a chunk.
    type Summary = (
        bool,
        Kind,
        Option<String>,
        Kind,
        Vec<(Kind, Kind, Option<String>)>,
        Kind,
    );
    fn summary(c: &Chunk) -> Summary {
        let choices = c
            .choices()
            .iter()
            .map(|ch| {
                (
                    ch.index.kind,
                    ch.delta.kind,
                    ch.delta.content.as_str().map(str::to_string),
                )
            })
            .collect();
        (
            c.is_object,
            c.error.value.kind,
            c.error.value.as_str().map(str::to_string),
            c.usage,
            choices,
            c.usage_raw.prompt_tokens.kind,
        )
    }

    #[test]
    fn not_an_object() {
        for s in ["[]", "1", "\"x\"", "null", "true"] {
            assert!(!parse(s).unwrap().is_object, "{s}");
        }
    }
}
