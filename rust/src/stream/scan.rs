//! A validating JSON scanner for the chunk parser: the token-level half of a recursive-descent
//! parser, specialised for speed on the stream hot path.
//!
//! It accepts exactly what `serde_json::from_str::<Value>` accepts (and so what
//! `engine/jsonw.py`'s `loads` accepts; contract §1): JSON whitespace only, no trailing commas,
//! control characters rejected in strings, escapes validated with lone surrogates rejected,
//! numbers by the JSON grammar with integers outside i64/u64 read as doubles and anything that
//! overflows a double rejected, and at most 127 nested arrays/objects. The tests at the bottom
//! check acceptance and values against serde_json on generated and mutated inputs.
//!
//! Input is `&str`, so it is valid UTF-8 already (the SSE decoder guarantees it).

/// The input is not valid JSON (by the rules above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

pub type Res<T> = Result<T, Malformed>;

/// Nesting at which serde_json (remaining depth 128) and jsonw (MAX_DEPTH 127) give up.
const MAX_DEPTH: u32 = 128;

/// A number as Python reads it: an integer that fits i64 or u64, else a (finite) double.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i128),
    Float(f64),
}

/// A scanned string: its raw text between the quotes, and whether it holds escapes.
#[derive(Debug, Clone, Copy)]
pub struct RawStr<'a> {
    pub raw: &'a str,
    pub escaped: bool,
}

impl<'a> RawStr<'a> {
    /// Append the string's value to `out`.
    #[inline]
    pub fn push_to(self, out: &mut String) {
        if self.escaped {
            unescape(self.raw, out);
        } else {
            out.push_str(self.raw);
        }
    }

    /// The value as bytes, decoded into `buf` when it holds escapes (`None` when it does not fit:
    /// such a key matches none we look for).
    #[inline]
    pub fn key<'b>(self, buf: &'b mut [u8; 32]) -> Option<&'b [u8]>
    where
        'a: 'b,
    {
        if !self.escaped {
            return Some(self.raw.as_bytes());
        }
        let mut s = String::new();
        unescape(self.raw, &mut s);
        if s.len() > buf.len() {
            return None;
        }
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Some(&buf[..s.len()])
    }
}

/// Position of the first byte at or after `i` that ends a run of plain string bytes: `"`, `\\`
/// or a control character (`b.len()` if none).
#[inline(always)]
fn find_string_stop(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of the x86_64 baseline; every load reads 16 bytes inside `b`
        // (`i + 16 <= b.len()`), unaligned loads are allowed.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let control_max = _mm_set1_epi8(0x1f);
            while i + 16 <= b.len() {
                let v = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                let is_control = _mm_cmpeq_epi8(_mm_min_epu8(v, control_max), v); // v <= 0x1f
                let stop = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                    is_control,
                );
                let mask = _mm_movemask_epi8(stop) as u32;
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

#[inline]
fn hex4(b: &[u8]) -> Option<u16> {
    let mut n: u16 = 0;
    for &c in b.get(..4)? {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        n = (n << 4) | d as u16;
    }
    Some(n)
}

/// Decode the escapes of a string [`Scanner::string`] validated.
fn unescape(raw: &str, out: &mut String) {
    let b = raw.as_bytes();
    let mut i = 0;
    let mut run = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        out.push_str(&raw[run..i]);
        let c = b[i + 1];
        i += 2;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => {
                let n = hex4(&b[i..]).expect("validated") as u32;
                i += 4;
                let n = if (0xD800..0xDC00).contains(&n) {
                    let n2 = hex4(&b[i + 2..]).expect("validated") as u32;
                    i += 6;
                    0x10000 + ((n - 0xD800) << 10) + (n2 - 0xDC00)
                } else {
                    n
                };
                char::from_u32(n).expect("validated: not a surrogate")
            }
        };
        out.push(ch);
        run = i;
    }
    out.push_str(&raw[run..]);
}

/// The scanner: a position in the input and the nesting depth.
pub struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    pub i: usize,
    depth: u32,
}

impl<'a> Scanner<'a> {
    pub fn new(s: &'a str) -> Self {
        Scanner {
            s,
            b: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    /// Skip JSON whitespace; the next byte (0 at the end).
    #[inline(always)]
    pub fn peek(&mut self) -> u8 {
        let mut i = self.i;
        while let Some(&c) = self.b.get(i) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                self.i = i;
                return c;
            }
            i += 1;
        }
        self.i = i;
        0
    }

    /// Expect `c` (after whitespace).
    #[inline(always)]
    pub fn eat(&mut self, c: u8) -> Res<()> {
        if self.peek() == c {
            self.i += 1;
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Res<()> {
        if self.peek() == 0 && self.i == self.b.len() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    #[inline]
    fn enter(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(Malformed);
        }
        Ok(())
    }

    /// A string, at its opening quote (after whitespace).
    #[inline]
    pub fn string(&mut self) -> Res<RawStr<'a>> {
        self.eat(b'"')?;
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = find_string_stop(b, i);
            let Some(&c) = b.get(i) else {
                return Err(Malformed);
            };
            match c {
                b'"' => {
                    self.i = i + 1;
                    // SAFETY: `start` follows a `"` and `i` is at one: ASCII bytes are always
                    // char boundaries in valid UTF-8, so this is `&self.s[start..i]` unchecked.
                    let raw = unsafe { self.s.get_unchecked(start..i) };
                    return Ok(RawStr { raw, escaped });
                }
                b'\\' => {
                    escaped = true;
                    i = validate_escape(b, i + 1)?;
                }
                _ => return Err(Malformed), // a control character
            }
        }
    }

    /// A number (after whitespace), by the JSON grammar.
    pub fn number(&mut self) -> Res<Number> {
        self.peek();
        let b = self.b;
        let start = self.i;
        let mut i = start;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let int_start = i;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                i += 1;
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return Err(Malformed),
        }
        let int_end = i;
        let mut float = false;
        if b.get(i) == Some(&b'.') {
            float = true;
            i += 1;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                return Err(Malformed);
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            float = true;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                return Err(Malformed);
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.i = i;
        let text = &self.s[start..i];
        if !float {
            let digits = &b[int_start..int_end];
            if digits.len() <= 20 {
                let mut v: u64 = 0;
                let mut fits = true;
                for &d in digits {
                    match v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add((d - b'0') as u64))
                    {
                        Some(n) => v = n,
                        None => {
                            fits = false;
                            break;
                        }
                    }
                }
                if fits {
                    if !neg {
                        return Ok(Number::Int(v as i128));
                    }
                    if v == 0 {
                        return Ok(Number::Float(-0.0)); // serde_json and jsonw read "-0" as -0.0
                    }
                    if v <= 1 << 63 {
                        return Ok(Number::Int(-(v as i128)));
                    }
                }
            }
        }
        // Outside i64/u64, or a fraction/exponent: a correctly rounded double, which must be finite.
        let v: f64 = text.parse().map_err(|_| Malformed)?;
        if v.is_finite() {
            Ok(Number::Float(v))
        } else {
            Err(Malformed)
        }
    }

    /// `true`, `false` or `null` (after whitespace).
    fn literal(&mut self, word: &[u8]) -> Res<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Malformed)
        }
    }

    /// An object (after whitespace): `on_member` gets each key and must consume its value.
    #[inline(always)]
    pub fn object(
        &mut self,
        mut on_member: impl FnMut(&mut Self, RawStr<'a>) -> Res<()>,
    ) -> Res<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.peek() == b'}' {
            self.i += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                on_member(self, key)?;
                match self.peek() {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Malformed),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Open an object (after whitespace); `true` when it is empty (and so already closed).
    #[inline]
    pub fn open_object(&mut self) -> Res<bool> {
        self.eat(b'{')?;
        self.enter()?;
        if self.peek() == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// A member's key and its colon.
    #[inline]
    pub fn member_key(&mut self) -> Res<RawStr<'a>> {
        let key = self.string()?;
        self.eat(b':')?;
        Ok(key)
    }

    /// After a member's value: `true` after a comma (another member follows), `false` when the
    /// object closed.
    #[inline]
    pub fn next_member(&mut self) -> Res<bool> {
        match self.peek() {
            b',' => {
                self.i += 1;
                Ok(true)
            }
            b'}' => {
                self.i += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => Err(Malformed),
        }
    }

    /// Continue at `at` inside the top-level object, where a member key is due (the input up to
    /// `at` was validated before, in this same position: see `Chunk::parse`).
    pub fn resume_top_level_member(&mut self, at: usize) {
        self.i = at;
        self.depth = 1;
    }

    /// Skip `len` bytes that were validated before in this same position and close the
    /// top-level object (they end with its closing brace: see `Chunk::parse`).
    pub fn skip_validated_close(&mut self, len: usize) {
        self.i += len;
        self.depth -= 1;
    }

    /// An array (after whitespace): `on_element` must consume each element.
    #[inline(always)]
    pub fn array(&mut self, mut on_element: impl FnMut(&mut Self) -> Res<()>) -> Res<()> {
        self.eat(b'[')?;
        self.enter()?;
        if self.peek() == b']' {
            self.i += 1;
        } else {
            loop {
                on_element(self)?;
                match self.peek() {
                    b',' => self.i += 1,
                    b']' => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Malformed),
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// Validate and skip any value; returns its kind (for strings and numbers, the value too).
    pub fn value(&mut self) -> Res<Scalar<'a>> {
        match self.peek() {
            b'"' => self.string().map(Scalar::Str),
            b'{' => self
                .object(|s, _| s.value().map(drop))
                .map(|_| Scalar::Object),
            b'[' => self.array(|s| s.value().map(drop)).map(|_| Scalar::Array),
            b't' => self.literal(b"true").map(|_| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|_| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|_| Scalar::Null),
            b'-' | b'0'..=b'9' => self.number().map(Scalar::Number),
            _ => Err(Malformed),
        }
    }
}

/// What [`Scanner::value`] found.
#[derive(Debug, Clone, Copy)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(RawStr<'a>),
    Array,
    Object,
}

/// Validate the escape whose backslash precedes `b[i]`; the position after it.
#[inline]
fn validate_escape(b: &[u8], i: usize) -> Res<usize> {
    match b.get(i) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 1),
        Some(b'u') => {
            let n = hex4(&b[i + 1..]).ok_or(Malformed)?;
            match n {
                0xDC00..=0xDFFF => Err(Malformed), // a trailing surrogate alone
                0xD800..=0xDBFF => {
                    // A leading surrogate must be followed by an escaped trailing one.
                    let j = i + 5;
                    if b.get(j) != Some(&b'\\') || b.get(j + 1) != Some(&b'u') {
                        return Err(Malformed);
                    }
                    match hex4(&b[j + 2..]).ok_or(Malformed)? {
                        0xDC00..=0xDFFF => Ok(j + 6),
                        _ => Err(Malformed),
                    }
                }
                _ => Ok(i + 5),
            }
        }
        _ => Err(Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The scanner's reading of a whole text as a serde_json Value (`None` when malformed).
    fn read(s: &str) -> Option<Value> {
        fn value(sc: &mut Scanner<'_>) -> Res<Value> {
            Ok(match sc.peek() {
                b'{' => {
                    let mut map = serde_json::Map::new();
                    sc.object(|sc, k| {
                        let mut key = String::new();
                        k.push_to(&mut key);
                        let v = value(sc)?;
                        map.insert(key, v);
                        Ok(())
                    })?;
                    Value::Object(map)
                }
                b'[' => {
                    let mut items = Vec::new();
                    sc.array(|sc| value(sc).map(|v| items.push(v)))?;
                    Value::Array(items)
                }
                _ => match sc.value()? {
                    Scalar::Null => Value::Null,
                    Scalar::Bool(b) => Value::Bool(b),
                    Scalar::Number(Number::Int(i)) if i >= 0 => Value::from(i as u64),
                    Scalar::Number(Number::Int(i)) => Value::from(i as i64),
                    Scalar::Number(Number::Float(f)) => Value::from(f),
                    Scalar::Str(s) => {
                        let mut out = String::new();
                        s.push_to(&mut out);
                        Value::String(out)
                    }
                    _ => unreachable!(),
                },
            })
        }
        let mut sc = Scanner::new(s);
        let v = value(&mut sc).ok()?;
        sc.end().ok()?;
        Some(v)
    }

    /// Same acceptance and the same value as serde_json (which mirrors jsonw.loads).
    fn check(s: &str) {
        let expected: Option<Value> = serde_json::from_str(s).ok();
        let got = read(s);
        // Compare numbers by value and type: serde_json's Value keeps -0.0 and float/int apart.
        assert_eq!(
            got.as_ref().map(|v| v.to_string()),
            expected.as_ref().map(|v| v.to_string()),
            "input {s:?}"
        );
        if let (Some(a), Some(b)) = (&got, &expected) {
            assert_eq!(a, b, "input {s:?}");
        }
    }

    #[test]
    fn edge_cases_match_serde_json() {
        let cases = [
            "",
            " ",
            "0",
            "-0",
            "-0.0",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "1E5",
            "1e-400",
            "1e400",
            "-1e400",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "2e308",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "123456789012345678901234567890",
            "0.1",
            "5e-324",
            "2.4703282292062327e-324",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "True",
            "NaN",
            "Infinity",
            "-Infinity",
            "\"\"",
            "\"a\"",
            "\"\\ud83d\\ude00\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\ud800x\"",
            "\"\\ud800\\ud800\\udc00\"",
            "\"\\u00e9\\u0000\\u001f\"",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\u12g4\"",
            "\"\u{1}\"",
            "\"\u{7f}\u{2028}é\"",
            "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
            "\"unterminated",
            "\"a\\\"",
            "{}",
            "[]",
            "{\"a\":1,}",
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "{1:2}",
            "{\"a\":1}}",
            "[1]]",
            "{\"a\":[{\"b\":null}]}",
            " \t\n\r{ \"a\" : [ 1 , 2 ] } \r\n",
            "{\"a\":1}\u{a0}",
            "\u{feff}{}",
            "{\"a\":1,\"a\":2}",
        ];
        for c in cases {
            check(c);
        }
        for depth in [126, 127, 128, 129] {
            check(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            check(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)));
            check(&format!(
                "{}{}",
                "{\"a\":".repeat(depth) + "1",
                "}".repeat(depth)
            ));
        }
    }

    /// A small deterministic PRNG (no dev-dependency needed).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const ATOMS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\"k\"",
        "\"choices\"",
        "\"\\u00e9\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud800\"",
        "\\",
        "\\u",
        "d800",
        "0",
        "-0",
        "1",
        "-1",
        "1.5",
        "1e5",
        "1e400",
        "18446744073709551616",
        ".",
        "e",
        "-",
        "+",
        "true",
        "false",
        "null",
        " ",
        "\n",
        "\t",
        "\r",
        "é",
        "\u{1}",
        "x",
        "\"\\n\"",
        "\"a\\\"b\"",
        "01",
    ];

    #[test]
    fn random_texts_match_serde_json() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            let n = rng.below(12);
            let s: String = (0..n).map(|_| ATOMS[rng.below(ATOMS.len())]).collect();
            check(&s);
        }
    }

    #[test]
    fn mutated_chunks_match_serde_json() {
        let base = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1763769600,"choices":[{"index":0,"delta":{"content":"Hi \"there\"\n\u00e9\ud83d\ude00","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":null}],"usage":{"prompt_tokens":12,"x":[1.5e3,-0,true,false,null]}}"#;
        check(base);
        let mut rng = Rng(42);
        let bytes = base.as_bytes();
        for _ in 0..100_000 {
            let mut s = bytes.to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(s.len() + 1);
                match rng.below(3) {
                    0 if at < s.len() => {
                        s.remove(at);
                    }
                    1 => {
                        let atom = ATOMS[rng.below(ATOMS.len())].as_bytes();
                        s.splice(at..at, atom.iter().copied());
                    }
                    _ if at < s.len() => s[at] = b"{}[],:\"\\0123456789.eE-+ tfnu"[rng.below(28)],
                    _ => {}
                }
            }
            if let Ok(s) = String::from_utf8(s) {
                check(&s);
            }
        }
    }
}
