//! JSON text rules shared by the whole Rust engine (engine contract §1).
//!
//! Everything written here is byte-identical to what the Python engine writes with
//! `json.dumps(v, ensure_ascii=False, separators=(",", ":"))` (python/…/engine/jsonw.py):
//! minimal string escapes, raw UTF-8, integers as integers and every other number in Python's
//! `repr(float)` form. Reading uses serde_json, whose input rules jsonw.py mirrors.

use serde_json::{Number, Value};

use crate::error::EngineError;

/// For each byte: 0 = copy as is, else the character written after `\` (`u` = `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = b'u';
        i += 1;
    }
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// True when one of the 8 bytes of `word` is a control character, `"` or `\`.
/// (Exact "some byte is < 0x20 / equal to x" tests from Bit Twiddling Hacks; bytes >= 0x80,
/// i.e. all non-ASCII UTF-8, never match.)
#[inline(always)]
fn word_needs_escape(word: u64) -> bool {
    let control = word.wrapping_sub(LOW_BITS * 0x20) & !word;
    let quote = word ^ (LOW_BITS * b'"' as u64);
    let quote = quote.wrapping_sub(LOW_BITS) & !quote;
    let backslash = word ^ (LOW_BITS * b'\\' as u64);
    let backslash = backslash.wrapping_sub(LOW_BITS) & !backslash;
    (control | quote | backslash) & HIGH_BITS != 0
}

#[inline(always)]
fn push_escape(out: &mut Vec<u8>, byte: u8, code: u8) {
    if code == b'u' {
        out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(byte >> 4) as usize],
            HEX[(byte & 0xf) as usize],
        ]);
    } else {
        out.extend_from_slice(&[b'\\', code]);
    }
}

/// The escaped body of a JSON string (no quotes). Scans 8 bytes at a time and copies runs that
/// need no escape in one go: this is on the hot path of the stream translator.
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let mut run_start = 0;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        if !word_needs_escape(u64::from_le_bytes(word)) {
            i += 8;
            continue;
        }
        for _ in 0..8 {
            let code = ESCAPE[bytes[i] as usize];
            if code != 0 {
                out.extend_from_slice(&bytes[run_start..i]);
                push_escape(out, bytes[i], code);
                run_start = i + 1;
            }
            i += 1;
        }
    }
    while i < bytes.len() {
        let code = ESCAPE[bytes[i] as usize];
        if code != 0 {
            out.extend_from_slice(&bytes[run_start..i]);
            push_escape(out, bytes[i], code);
            run_start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
}

/// A JSON string literal (§1 escaping), with its quotes.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// One JSON string holding `pieces` joined by `sep`, without building the joined string.
pub fn write_joined<'a, I>(out: &mut Vec<u8>, pieces: I, sep: &str)
where
    I: IntoIterator<Item = &'a str>,
{
    out.push(b'"');
    for (n, piece) in pieces.into_iter().enumerate() {
        if n > 0 {
            write_escaped(out, sep);
        }
        write_escaped(out, piece);
    }
    out.push(b'"');
}

fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[pos..]);
}

/// An integer as Python prints it.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    write_u64(out, n.unsigned_abs());
}

/// A finite double as Python's `repr(float)`: the shortest round-trip digits (from ryu), in
/// fixed notation when the decimal exponent is in -4..16, else `d.ddde±XX`; integral values get
/// `.0`. Non-finite values cannot come from parsed JSON; they are written as `null`.
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    if !value.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if value == 0.0 {
        out.extend_from_slice(if value.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    let mut buffer = ryu::Buffer::new();
    let text = buffer.format_finite(value).as_bytes();
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    // ryu writes `ddd.ddd`, `0.000ddd` or `d.ddde±N`: collect the digits and where the decimal
    // point falls, so that value = 0.DIGITS × 10^point.
    let (mantissa, exponent) = match text.iter().position(|&c| c == b'e' || c == b'E') {
        Some(e) => (&text[..e], parse_exponent(&text[e + 1..])),
        None => (text, 0),
    };
    let mut digits = [0u8; 32];
    let mut count = 0usize;
    let mut int_len: Option<usize> = None;
    for &c in mantissa {
        if c == b'.' {
            int_len = Some(count);
        } else if count < digits.len() {
            digits[count] = c;
            count += 1;
        }
    }
    let int_len = int_len.unwrap_or(count);
    let leading = digits[..count].iter().take_while(|&&d| d == b'0').count();
    let mut end = count;
    while end > leading && digits[end - 1] == b'0' {
        end -= 1;
    }
    let digits = &digits[leading..end];
    let point = int_len as i32 - leading as i32 + exponent;
    if negative {
        out.push(b'-');
    }
    write_python_repr(out, digits, point);
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (sign, text) = match text.split_first() {
        Some((b'-', rest)) => (-1, rest),
        Some((b'+', rest)) => (1, rest),
        _ => (1, text),
    };
    sign * text
        .iter()
        .fold(0i32, |acc, &d| acc * 10 + (d - b'0') as i32)
}

/// Python's float_repr_style 'short' layout of 0.DIGITS × 10^point (digits non-empty, no
/// leading or trailing zeros).
fn write_python_repr(out: &mut Vec<u8>, digits: &[u8], point: i32) {
    let n = digits.len() as i32;
    if -4 < point && point <= 16 {
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-point) as usize, b'0');
            out.extend_from_slice(digits);
        } else if point < n {
            out.extend_from_slice(&digits[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[point as usize..]);
        } else {
            out.extend_from_slice(digits);
            out.resize(out.len() + (point - n) as usize, b'0');
            out.extend_from_slice(b".0");
        }
    } else {
        out.push(digits[0]);
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let exponent = point - 1;
        out.push(b'e');
        out.push(if exponent < 0 { b'-' } else { b'+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push(b'0');
        }
        write_u64(out, magnitude as u64);
    }
}

/// A number as Python prints what `jsonw.loads` made of it: i64/u64 as integers, else a float.
pub fn write_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        write_i64(out, i);
    } else if let Some(u) = n.as_u64() {
        write_u64(out, u);
    } else {
        write_f64(out, n.as_f64().unwrap_or(f64::NAN));
    }
}

/// Any JSON value, compact, object keys in their stored (input) order.
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Parse JSON by the §1 rules (serde_json: depth limit, no NaN/Infinity, no lone surrogates).
pub fn parse(input: &[u8]) -> Result<Value, EngineError> {
    parse_named(input, "JSON")
}

/// [`parse`] with the messages jsonw.loads gives, naming `what` was parsed
/// (e.g. `request body is not valid JSON: …`).
pub fn parse_named(input: &[u8], what: &str) -> Result<Value, EngineError> {
    let text = std::str::from_utf8(input).map_err(|e| {
        EngineError::new(format!(
            "{what} is not valid UTF-8 (byte {})",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str(text).map_err(|e| {
        let detail = e.to_string();
        if detail.starts_with("recursion limit exceeded") {
            EngineError::new(format!("{what} nests deeper than 127 levels"))
        } else {
            EngineError::new(format!("{what} is not valid JSON: {detail}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    fn float(f: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, f);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_print_like_python_repr() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (1e100, "1e+100"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (2.5e-7, "2.5e-07"),
            (-3.25, "-3.25"),
            (100.0, "100.0"),
            (123.456, "123.456"),
            (0.3, "0.3"),
            (1.0 / 3.0, "0.3333333333333333"),
            (9007199254740993.0, "9007199254740992.0"),
        ];
        for &(f, want) in cases {
            assert_eq!(float(f), want, "{f:e}");
        }
    }

    #[test]
    fn strings_escape_like_python() {
        let mut out = Vec::new();
        write_str(
            &mut out,
            "a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}\u{2028}é😀 long enough run",
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}\u{2028}é😀 long enough run\""
        );
        // Escapes at every offset of the 8-byte scan.
        for pad in 0..17 {
            let s = format!("{}\"{}", "x".repeat(pad), "y".repeat(pad));
            let mut out = Vec::new();
            write_str(&mut out, &s);
            let want = format!("\"{}\\\"{}\"", "x".repeat(pad), "y".repeat(pad));
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn parse_rules_match_jsonw() {
        assert_eq!(dump(&parse(b"-0").unwrap()), "-0.0");
        assert_eq!(
            dump(&parse(b"[1, 1.0, 1e2, -5]").unwrap()),
            "[1,1.0,100.0,-5]"
        );
        assert_eq!(
            dump(&parse(b"18446744073709551615").unwrap()),
            "18446744073709551615"
        );
        assert_eq!(
            dump(&parse(b"18446744073709551616").unwrap()),
            "1.8446744073709552e+19"
        );
        assert_eq!(
            dump(&parse(b"-9223372036854775809").unwrap()),
            "-9.223372036854776e+18"
        );
        assert_eq!(
            dump(&parse(br#"{"b":1,"a":2,"b":3}"#).unwrap()),
            r#"{"b":3,"a":2}"#
        );
        for bad in [
            &b"NaN"[..],
            b"Infinity",
            b"1e400",
            b"\"\\ud800\"",
            b"[1,]",
            b"{} x",
        ] {
            let err = parse(bad).unwrap_err().message;
            assert!(err.starts_with("JSON is not valid JSON: "), "{err}");
        }
        assert_eq!(
            parse(b"\"\xff\"").unwrap_err().message,
            "JSON is not valid UTF-8 (byte 1)"
        );
        let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(
            parse(deep.as_bytes()).unwrap_err().message,
            "JSON nests deeper than 127 levels"
        );
    }
}
