"""JSON text rules shared by every part of the pure-Python engine (engine contract §1).

The Rust engine uses serde_json and writes with its own writer; these helpers make Python read and
write exactly the same texts: the same numbers rejected, the same floats printed, the same escapes.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring as dump_str  # C-accelerated: "…" with §1 escapes
from typing import Any

from ..errors import ConversionError

__all__ = ["loads", "dumps", "dump_str", "MAX_DEPTH"]

# serde_json refuses to nest deeper than this (128 open brackets fail); Python would go on to its
# recursion limit.
MAX_DEPTH = 127
_I64_MIN = -(2**63)
_U64_END = 2**64


def _parse_int(text: str) -> Any:
    if text == "-0":
        return -0.0  # serde_json reads "-0" as the double -0.0
    value = int(text)
    if _I64_MIN <= value < _U64_END:
        return value
    # serde_json reads integers outside i64/u64 as doubles (and refuses what a double cannot hold).
    return _parse_float(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_decoder = json.JSONDecoder(
    parse_int=_parse_int, parse_float=_parse_float, parse_constant=_reject_constant
)
_decode = _decoder.decode
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_encode = _encoder.encode


def _too_deep(text: str) -> bool:
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "[" or ch == "{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif ch == "]" or ch == "}":
            depth -= 1
    return False


def _value_too_deep(value: Any) -> bool:
    """Whether parsed containers nest deeper than MAX_DEPTH (the count _too_deep makes)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in container.values() if isinstance(container, dict) else container:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def loads(data: bytes | str, what: str = "JSON") -> Any:
    """Parse JSON by the engine's rules; raise ConversionError with a clear message otherwise."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
        if isinstance(data, memoryview):
            text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConversionError(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    # The depth rule is checked on the parsed value (containers only): scanning a large text
    # character by character in Python cost milliseconds per 40 KB request. Invalid texts keep
    # the text scan, so the depth message still wins over a later syntax error.
    maybe_deep = text.count("[") + text.count("{") > MAX_DEPTH
    try:
        value = _decode(text)
    except RecursionError:
        raise ConversionError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        if maybe_deep and _too_deep(text):
            raise ConversionError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
        raise ConversionError(f"{what} is not valid JSON: {exc}") from None
    if maybe_deep and _value_too_deep(value):
        raise ConversionError(f"{what} nests deeper than {MAX_DEPTH} levels")
    if ("\\ud" in text or "\\uD" in text) and _has_lone_surrogate(value):
        raise ConversionError(f"{what} is not valid JSON: lone surrogate in a string escape")
    return value


def _has_lone_surrogate(value: Any) -> bool:
    try:
        _encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def dumps(value: Any) -> str:
    """Write a value as compact JSON text by the §1 rules."""
    return _encode(value)
