"""JSON text rules (engine contract §1): the Rust reader/writer (rust/src/json.rs) against the
Python one (engine/jsonw.py).

There is no test-only hook into the Rust JSON functions: arbitrary JSON reaches them through
request conversion, which copies a function tool's `parameters` verbatim (parse → write). So a
value is put there, both engines convert the request, and the bytes must agree; the Python side
must also be exactly `json.dumps(..., ensure_ascii=False, separators=(",", ":"))` of what it read.
"""
from __future__ import annotations

import json
import math
from typing import Any, Optional, Tuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from codex_convert_proxy.engine.request import convert_request as py_convert_request
from codex_convert_proxy.errors import ConversionError
from codex_convert_proxy.providers import get_profile

PREFIX = b'{"model":"m","input":"q","tools":[{"type":"function","name":"f","parameters":'
SUFFIX = b"}]}"
# In the output the parameters are the last thing written (no tool_choice etc. in the request).
OUT_SUFFIX = b"}}]}"


def convert(engine: str, body: bytes) -> Tuple[str, Any]:
    """("ok", body bytes) or ("error", message); parser details of syntax errors are dropped."""
    try:
        if engine == "rust":
            from codex_convert_proxy._rust import convert_request

            return "ok", bytes(convert_request(body, "openai", None)[0])
        return "ok", py_convert_request(body, get_profile("openai"), None).body
    except ConversionError as exc:
        message = str(exc)
        if message.startswith("request body is not valid JSON"):
            message = "request body is not valid JSON"
        return "error", message


def parameters_text(out: bytes) -> bytes:
    start = out.index(b'"parameters":') + len(b'"parameters":')
    assert out.endswith(OUT_SUFFIX)
    return out[start:-len(OUT_SUFFIX)]


def roundtrip(value_text: bytes) -> Tuple[Tuple[str, Any], Tuple[str, Any]]:
    """Both engines' results for a request carrying `value_text` as tool parameters."""
    body = PREFIX + value_text + SUFFIX
    return convert("rust", body), convert("python", body)


def python_expected(value_text: bytes) -> bytes:
    """What §1 says the written text is: Python's compact dump of what jsonw read."""
    from codex_convert_proxy.engine.jsonw import dumps, loads

    return dumps(loads(value_text)).encode("utf-8")


_finite = st.floats(allow_nan=False, allow_infinity=False)
_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),  # past i64/u64: read as doubles
    _finite, st.floats(min_value=-1e-300, max_value=1e-300, allow_nan=False),
    st.text(), st.text(alphabet=st.characters(max_codepoint=0x7F)),
    st.sampled_from(["\u2028\u2029", "\x7f", "\x00\x08\x0c\x1b", "😀", "\\\"", "\ufeff"]),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=5)),
    max_leaves=25)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(value=_values, ensure_ascii=st.booleans())
def test_values_written_identically(rust_engine: str, value: Any, ensure_ascii: bool) -> None:
    # In a list: a null `parameters` would count as absent.
    text = json.dumps([value], ensure_ascii=ensure_ascii).encode("utf-8")
    rust, python = roundtrip(text)
    assert rust == python and rust[0] == "ok"
    assert parameters_text(python[1]) == python_expected(text)


@settings(max_examples=500)
@given(number=_finite)
@example(0.0)
@example(-0.0)
@example(1e16)
@example(1e-05)
@example(0.0001)
@example(9007199254740993.0)
@example(5e-324)
@example(1.7976931348623157e308)
@example(123456789012345680.0)
def test_floats_print_as_python_repr(rust_engine: str, number: float) -> None:
    rust, python = roundtrip(b"[" + repr(number).encode() + b"]")
    assert rust == python
    assert parameters_text(rust[1]) == b"[" + repr(number).encode() + b"]"


_number_text = st.from_regex(
    r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)


@settings(max_examples=500)
@given(number=_number_text)
@example("-0")
@example("-0.0")
@example("1E400")
@example("1e-400")
@example("18446744073709551615")
@example("18446744073709551616")
@example("-9223372036854775808")
@example("-9223372036854775809")
@example("123456789012345678901234567890e-10")
def test_number_spellings_read_alike(rust_engine: str, number: str) -> None:
    rust, python = roundtrip(b'{"n":' + number.encode() + b"}")
    assert rust == python
    if rust[0] == "ok":
        value = float(number)
        written = parameters_text(rust[1])[5:-1].decode()
        if written.lstrip("-").isdigit():
            assert int(written) == int(number)  # an integer that fits i64/u64 stays one
        else:
            assert float(written) == value and math.copysign(1, float(written)) == math.copysign(1, value)
    else:
        assert math.isinf(float(number))  # only a double overflow is refused


@pytest.mark.parametrize("number", ["01", "1.", ".5", "+1", "1e", "1e+", "--1", "0x10", "NaN",
                                    "Infinity", "-Infinity", "1_000", "١"])
def test_invalid_numbers_rejected_by_both(rust_engine: str, number: str) -> None:
    rust, python = roundtrip(b'{"n":' + number.encode() + b"}")
    assert rust == python == ("error", "request body is not valid JSON")


@settings(max_examples=400)
@given(units=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=6))
def test_unicode_escapes_read_alike(rust_engine: str, units: list) -> None:
    """\\uXXXX escapes of any code unit: pairs combine, lone surrogates are refused by both."""
    escaped = "".join("\\u%04x" % u for u in units)
    rust, python = roundtrip(b'["' + escaped.encode() + b'"]')
    assert rust == python


@settings(max_examples=300)
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
       pad=st.integers(0, 17))
def test_strings_escape_alike_at_every_offset(rust_engine: str, text: str, pad: int) -> None:
    """The Rust writer scans 8 bytes at a time: escapes must come out right at any offset."""
    value = ["x" * pad + text, text + "\n" * pad]
    raw = json.dumps(value, ensure_ascii=False).encode("utf-8")
    rust, python = roundtrip(raw)
    assert rust == python
    assert parameters_text(rust[1]) == json.dumps(value, ensure_ascii=False,
                                                  separators=(",", ":")).encode("utf-8")


def test_every_control_character_escape(rust_engine: str) -> None:
    value = "".join(chr(c) for c in range(0x00, 0x80)) + "\u2028\u2029\ufeff😀"
    rust, python = roundtrip(json.dumps([value]).encode())
    assert rust == python
    assert b"\\u0000" in rust[1] and b"\\u001f" in rust[1] and b"\\b\\t\\n\\u000b\\f\\r" in rust[1]
    assert "\u2028".encode() in rust[1] and b"\x7f" in rust[1]


@pytest.mark.parametrize("depth", range(120, 130))
def test_depth_limit_is_the_same(rust_engine: str, depth: int) -> None:
    # The request itself nests 3 levels ({ tools: [ { ... ) around the parameters.
    rust, python = roundtrip(b"[" * depth + b"]" * depth)
    assert rust == python
    assert (rust[0] == "ok") == (depth + 3 <= 127)


@pytest.mark.parametrize("raw", [b'["\xff"]', b'["\xc3"]', b'["\xed\xa0\x80"]', b'["a\x00"]',
                                 b'["\t"]', b'{"a" 1}', b"[1,]", b'{"a":1,}', b"[1] [2]",
                                 b"\xef\xbb\xbf[1]", b'["\\x"]', b'["\\u12"]'])
def test_malformed_text_rejected_by_both(rust_engine: str, raw: bytes) -> None:
    rust, python = roundtrip(raw)
    assert rust[0] == python[0] == "error"


@pytest.mark.parametrize("raw, written", [
    (b'{"b":1,"a":2,"b":3}', b'{"b":3,"a":2}'),  # duplicate keys: last value, first position
    (b' [ 1 , 2 ] ', b"[1,2]"),
    (b'"\\/\\u00e9"', '"/é"'.encode()),
])
def test_reading_details(rust_engine: str, raw: bytes, written: bytes) -> None:
    rust, python = roundtrip(raw)
    assert rust == python and parameters_text(rust[1]) == written


def test_python_side_matches_json_dumps_without_the_extension() -> None:
    """The writer rule itself (no Rust needed): compact, raw UTF-8, Python float repr."""
    value: Optional[Any] = {"é": [1, 1.0, -0.0, 1e-05, 1e16, "\u2028\x01"], "z": None}
    _, out = convert("python", PREFIX + json.dumps(value).encode() + SUFFIX)
    assert parameters_text(out) == '{"é":[1,1.0,-0.0,1e-05,1e+16,"\u2028\\u0001"],"z":null}'.encode()
