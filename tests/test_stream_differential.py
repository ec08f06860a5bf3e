"""Differential tests: the Rust and the pure-Python engines write the same bytes.

For every upstream body of the fixture corpus and for hypothesis-generated chunk streams (text,
reasoning, think tags, tool-call fragments with and without ids/indices, usage, finish reasons,
errors, malformed and wrongly-typed chunks, odd framing), both engines must produce byte-identical
output, the same terminal response, status, degradations and event counts; and feeding the same
bytes split at other points must not change any of it. The same holds for the non-streaming
response conversion on generated chat.completion bodies.
"""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codex_convert_proxy as ccp
from codex_convert_proxy.errors import ConversionError

STREAMS = Path(__file__).parent / "fixtures" / "streams"
MANIFEST: Dict[str, dict] = json.loads((STREAMS / "manifest.json").read_text(encoding="utf-8"))
FIXTURES = sorted(p.name for p in STREAMS.glob("*.sse"))
RID = "resp_diff"
CREATED = 1763769600
# One provider per think-tag mode (off, on, implicit).
THINK_MODE_PROVIDERS = ("deepseek", "openai", "minimax")


def run(
    engine: str,
    body: bytes,
    provider: str,
    splits: Sequence[int] = (),
    tool_map: Optional[bytes] = None,
    echo: Optional[bytes] = None,
    response_id: str = RID,
    fail_at: Optional[int] = None,
    finish: bool = True,
    keepalive: bool = False,
) -> Tuple[bytes, Any]:
    """Feed `body` cut at `splits`; optionally fail() after feed number `fail_at`, and
    keepalive() after every feed (as the server does on upstream silence)."""
    t = ccp.StreamTranslator(provider, "model-x", response_id, CREATED, engine=engine, tool_map=tool_map, echo=echo)
    out = t.start()
    last = 0
    for n, cut in enumerate(sorted(splits)):
        out += t.feed(body[last:cut])
        last = cut
        if keepalive:
            out += t.keepalive()
        if fail_at == n:
            out += t.fail("", "proxy side failure")
    out += t.feed(body[last:])
    if finish:
        out += t.finish()
    return out, t


def summary(out: bytes, t: Any) -> Tuple[Any, ...]:
    return (out, t.terminal_response, t.status, t.done, t.degraded, dict(t.event_counts()))


def assert_same(rust: Tuple[Any, ...], python: Tuple[Any, ...], what: str) -> None:
    if rust[0] != python[0]:
        r_lines, p_lines = rust[0].split(b"\n"), python[0].split(b"\n")
        for i, (a, b) in enumerate(zip(r_lines, p_lines)):
            if a != b:
                pytest.fail(f"{what}: output differs at line {i}:\n rust:   {a[:600]!r}\n python: {b[:600]!r}")
        pytest.fail(f"{what}: output lengths differ ({len(r_lines)} vs {len(p_lines)} lines)")
    assert rust[1:] == python[1:], what


def fixture_setup(name: str) -> Tuple[bytes, str, Optional[bytes]]:
    body = (STREAMS / name).read_bytes()
    meta = MANIFEST.get(name[: -len(".sse")])
    if meta is None:  # the bench_* bodies: the provider is in the name
        provider = next((p for p in ("minimax", "deepseek", "glm", "kimi", "qwen") if p in name), "openai")
        return body, provider, None
    tool_map = None if meta["tool_map"] is None else json.dumps(meta["tool_map"]).encode()
    return body, meta["provider"], tool_map


# --------------------------------------------------------------------------- fixture corpus


def test_corpus_is_there() -> None:
    assert len(FIXTURES) >= 50, FIXTURES


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_same_bytes_whole_and_resplit(rust_engine: str, name: str) -> None:
    body, provider, tool_map = fixture_setup(name)
    whole = summary(*run("python", body, provider, tool_map=tool_map))
    assert whole[3], "the stream must end with a terminal event"
    assert_same(summary(*run("rust", body, provider, tool_map=tool_map)), whole, f"{name} whole")
    rng = random.Random(name)
    split_sets: List[List[int]] = [[rng.randrange(len(body) + 1) for _ in range(rng.randrange(1, 40))] for _ in range(6)]
    if len(body) <= 20000:
        split_sets.append(list(range(1, len(body))))  # one byte per read
    else:
        split_sets.append(list(range(1, len(body), 997)))
    for splits in split_sets:
        for engine in ("rust", "python"):
            assert_same(summary(*run(engine, body, provider, splits, tool_map=tool_map)), whole, f"{name} {engine} split")


@pytest.mark.parametrize("provider", THINK_MODE_PROVIDERS)
@pytest.mark.parametrize("name", [f for f in FIXTURES if not f.startswith("bench_")])
def test_fixture_same_bytes_under_every_think_mode(rust_engine: str, name: str, provider: str) -> None:
    body, _, tool_map = fixture_setup(name)
    python = summary(*run("python", body, provider, tool_map=tool_map))
    assert_same(summary(*run("rust", body, provider, tool_map=tool_map)), python, f"{name} as {provider}")


@pytest.mark.parametrize("name", [f for f in FIXTURES if not f.startswith("bench_")])
def test_fixture_same_bytes_without_finish_and_with_fail(rust_engine: str, name: str) -> None:
    body, provider, tool_map = fixture_setup(name)
    half = len(body) // 2
    for kwargs in ({"finish": False}, {"splits": [half], "fail_at": 0}, {"splits": [half], "finish": False}):
        rust = summary(*run("rust", body, provider, tool_map=tool_map, **kwargs))  # type: ignore[arg-type]
        python = summary(*run("python", body, provider, tool_map=tool_map, **kwargs))  # type: ignore[arg-type]
        assert_same(rust, python, f"{name} {kwargs}")


# --------------------------------------------------------------------------- generated streams

TOOL_MAP = json.dumps({"custom": ["apply_patch"], "namespaces": {"ns__tool": ["ns", "tool"]}}).encode()

# Text pieces chosen to hit the think-tag splitter and the JSON escaping at their edges.
TEXT_ATOMS = [
    "a", "Hello", " ", "  ", "\n", "\t", "\r\n", "\x0c", "\x0b", "\x1c", "\u00a0", "é", "中文", "😀", "\u2028", "\u2029",
    '"', "\\", "\x00", "\x1f", "\x7f", "<", ">", "<th", "<think>", "</think>", "<thought>", "</thought>", "</th",
    "</thi", "nk>", "ought>", "<b>", "think", "{", "}", "[DONE]",
]
text = st.lists(st.sampled_from(TEXT_ATOMS), min_size=0, max_size=6).map("".join)
ARG_ATOMS = ['{"', "input", '":"', "*** Begin Patch\n", '"}', "cmd", ":", "1", "}", "{", '"x"', "", "[", "]", "\\n", "é"]
arguments = st.lists(st.sampled_from(ARG_ATOMS), min_size=0, max_size=6).map("".join)
# Values of the wrong type go everywhere a typed value is expected.
odd = st.sampled_from([None, True, False, 0, 1, -1, 1.5, "", "x", [], {}, [1], {"a": 1}])


def maybe(strategy: st.SearchStrategy, p_absent: float = 0.5) -> st.SearchStrategy:
    return st.one_of(st.just(ABSENT), strategy) if p_absent else strategy


ABSENT = object()


def put(target: dict, key: str, value: Any) -> None:
    if value is not ABSENT:
        target[key] = value


@st.composite
def fragments(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(odd)
    frag: Dict[str, Any] = {}
    put(frag, "index", draw(maybe(st.one_of(st.integers(0, 2), odd))))
    put(frag, "id", draw(maybe(st.one_of(st.sampled_from(["call_a", "call_b", "call_c", ""]), odd))))
    put(frag, "type", draw(maybe(st.just("function"))))
    if draw(st.integers(0, 20)) == 0:
        frag["function"] = draw(odd)
    else:
        function: Dict[str, Any] = {}
        put(function, "name", draw(maybe(st.one_of(st.sampled_from(["shell", "apply_patch", "ns__tool", "", "x\"y"]), odd), 0.6)))
        put(function, "arguments", draw(maybe(st.one_of(arguments, odd), 0.3)))
        put(frag, "function", draw(maybe(st.just(function), 0.1)))
    return frag


@st.composite
def deltas(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(odd)
    delta: Dict[str, Any] = {}
    put(delta, "role", draw(maybe(st.just("assistant"), 0.8)))
    for key, p in (("reasoning_content", 0.6), ("reasoning", 0.85), ("content", 0.3), ("refusal", 0.9)):
        put(delta, key, draw(maybe(st.one_of(text, text, odd), p)))
    if draw(st.integers(0, 3)) == 0:
        delta["tool_calls"] = draw(st.one_of(st.lists(fragments(), max_size=3), odd))
    return delta


counts = st.one_of(st.integers(-5, 10**6), st.floats(-10, 1e20, allow_nan=False), st.sampled_from(["12", "0", "", "-3", "1e3", "٣", "9" * 30, True]), st.just(2**70), odd)


@st.composite
def usages(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 10)) == 0:
        return draw(odd)
    usage: Dict[str, Any] = {}
    for key in ("prompt_tokens", "input_tokens", "completion_tokens", "output_tokens", "total_tokens",
                "prompt_cache_hit_tokens", "cached_tokens"):
        put(usage, key, draw(maybe(counts, 0.6)))
    for key, inner in (("prompt_tokens_details", ("cached_tokens", "cache_write_tokens")),
                       ("input_tokens_details", ("cached_tokens", "cache_write_tokens")),
                       ("completion_tokens_details", ("reasoning_tokens",)),
                       ("output_tokens_details", ("reasoning_tokens",))):
        if draw(st.booleans()):
            if draw(st.integers(0, 5)) == 0:
                usage[key] = draw(odd)
            else:
                usage[key] = {k: draw(counts) for k in inner if draw(st.booleans())}
    return usage


@st.composite
def errors(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 3))
    message = draw(st.sampled_from(["Rate limit reached, try again in 2s", "This model's maximum context length is 8192",
                                    "quota exceeded", "boom", "Too Many Requests", ""]))
    if kind == 0:
        return message
    if kind == 1:
        return draw(odd)
    err: Dict[str, Any] = {}
    put(err, "message", draw(maybe(st.one_of(st.just(message), odd))))
    put(err, "code", draw(maybe(st.one_of(st.sampled_from(["rate_limit_exceeded", "", "invalid_request_error", "429"]), st.integers(400, 600), odd))))
    put(err, "type", draw(maybe(st.one_of(st.sampled_from(["server_error", "too_long"]), odd))))
    return err


@st.composite
def chunks(draw: st.DrawFn) -> Any:
    """One chunk object (as Python data)."""
    chunk: Dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    if draw(st.integers(0, 25)) == 0:
        chunk["error"] = draw(errors())
    n_choices = draw(st.sampled_from([1, 1, 1, 1, 0, 2]))
    if draw(st.integers(0, 30)) == 0:
        chunk["choices"] = draw(odd)
    else:
        choices = []
        for _ in range(n_choices):
            if draw(st.integers(0, 30)) == 0:
                choices.append(draw(odd))
                continue
            choice: Dict[str, Any] = {}
            put(choice, "index", draw(maybe(st.one_of(st.just(0), st.just(0), st.just(1), odd), 0.2)))
            put(choice, "delta", draw(maybe(deltas(), 0.05)))
            put(choice, "finish_reason", draw(maybe(st.one_of(
                st.just(None), st.just(None), st.just(None), st.just(None),
                st.sampled_from(["stop", "length", "tool_calls", "content_filter", "sensitive", "network_error", ""]), odd), 0.3)))
            if draw(st.integers(0, 8)) == 0:
                choice["usage"] = draw(usages())  # Moonshot/Kimi put usage on the choice
            choices.append(choice)
        chunk["choices"] = choices
    if draw(st.integers(0, 6)) == 0:
        chunk["usage"] = draw(usages())
    # Provider extras and nulls before/after choices, in varying order (the Rust parser skips
    # repeated leading/trailing runs of such members: this must never change a result).
    for key in draw(st.lists(st.sampled_from(["usage", "error", "x_extra", "system_fingerprint", "obj"]), max_size=3)):
        chunk[key] = draw(st.sampled_from([None, None, "fp_1", 0, {"a": [1, None]}, [], "é"]))
    if draw(st.integers(0, 4)) == 0:
        items = list(chunk.items())
        draw(st.randoms(use_true_random=False)).shuffle(items)
        chunk = dict(items)
    return chunk


RAW_PAYLOADS = [
    "{", "[1,2]", "null", "1", '"x"', "[DONE]", " [DONE] ", "\t[DONE]\x0c", "[DONE]x", "", " ", "\x0b",
    '{"choices":NaN}', '{"a":1e400}', '{"a":-1e400}', '{"a":1e-400,"choices":[]}', '{"a":"\\ud800"}', '{"a":"\\udc00x"}',
    '{"a":"\\ud83d\\ude00","choices":[{"delta":{"content":"\\ud83d\\ude00"}}]}',
    '{"choices":[{"delta":{"content":"x"}}],"a":' + "[" * 127 + "]" * 127 + "}",
    '{"choices":[{"delta":{"content":"x"}}],"a":' + "[" * 126 + "]" * 126 + "}",
    '{"choices":[{"delta":{"content":"a","content":"b"}}]}',
    '{"choices":[{"delta":{"content":"a"},"delta":5}]}',
    '{"choices":[{"index":0,"delta":{"content":"dup"}},{"delta":{"content":"dup2"}}]}',
    '{"choices":[{"index":-0,"delta":{"content":"neg zero"}}]}',
    '{"choices":[{"index":0.0,"delta":{"content":"float zero"}}]}',
    '{"choices":[{"index":18446744073709551616,"delta":{"content":"big"}}]}',
    '{"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":-9223372036854775808,"total_tokens":1.9e308}}',
    '{"choices":[{"delta":{"tool_calls":[{"index":18446744073709551615,"function":{"name":"shell","arguments":"{}"}}]}}]}',
    '{"choices":[{"delta":{"content":"\\u2028 ok"}}]} ',
    '\ufeff{"choices":[]}',
]
RAW_PAYLOAD_BYTES = [p.encode("utf-8") for p in RAW_PAYLOADS] + [
    b'{"choices":[{"delta":{"content":"bad utf8 \xff\xfe here \xe2\x82"}}]}',
]


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """An upstream SSE body: framed chunks, raw payloads, comments and other fields, odd line ends."""
    parts: List[bytes] = []
    if draw(st.integers(0, 10)) == 0:
        parts.append(b"\xef\xbb\xbf")
    eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 12))
        if kind <= 8:
            payload = json.dumps(draw(chunks()), ensure_ascii=draw(st.booleans()), separators=(",", ":")).encode()
        elif kind == 9:
            payload = draw(st.sampled_from(RAW_PAYLOAD_BYTES))
        elif kind == 10:
            parts.append(draw(st.sampled_from([b": keep-alive", b"event: message", b"id: 7", b"retry: 10", b"data"])) + eol)
            continue
        elif kind == 11:
            # A chunk whose JSON is spread over two data lines (joined with \n: still valid JSON).
            payload = json.dumps(draw(chunks()), separators=(", ", ": ")).encode()
            at = payload.find(b", ")
            if at != -1:
                parts.append(b"data: " + payload[: at + 1] + eol + b"data:" + payload[at + 1:] + eol + eol)
                continue
        else:
            payload = bytes(draw(st.lists(st.sampled_from([0x7B, 0x22, 0xFF, 0xC3, 0xA9, 0x0D, 0x0A, 0x61, 0x7D]), max_size=6)))
        parts.append(b"data: " + payload + eol + eol)
    ending = draw(st.integers(0, 3))
    if ending == 0:
        parts.append(b"data: [DONE]" + eol + eol)
    elif ending == 1:
        parts.append(b"data: [DONE]" + eol + eol + b"data: {\"choices\":[{\"delta\":{\"content\":\"after\"}}]}" + eol + eol)
    elif ending == 2 and parts:
        parts[-1] = parts[-1].rstrip(b"\r\n")  # unterminated last event
    return b"".join(parts)


@st.composite
def tool_bodies(draw: st.DrawFn) -> bytes:
    """Realistic tool-call streams: 1-3 calls (function, custom, namespace) whose fragments carry
    ids and indices in the ways providers send them, arguments split, cumulative or all at once,
    interleaved, with text/reasoning around them."""
    names = ["shell", "apply_patch", "ns__tool", "read_file"]
    calls = []
    for n in range(draw(st.integers(1, 3))):
        args = draw(st.sampled_from(['{"cmd":"ls -la","workdir":"/tmp"}', '{"input":"*** Begin Patch\n*** End Patch"}',
                                     '{"patch":"P"}', '"raw"', "", "{}", "*** Begin Patch", '{"a":"1","b":"2"}']))
        cuts = sorted(draw(st.lists(st.integers(0, len(args)), max_size=4)))
        pieces = [args[a:b] for a, b in zip([0] + cuts, cuts + [len(args)])]
        cumulative = draw(st.integers(0, 4)) == 0
        if cumulative:
            pieces = ["".join(pieces[: i + 1]) for i in range(len(pieces))]
        calls.append({
            "n": n, "name": draw(st.sampled_from(names)), "pieces": pieces,
            "id_mode": draw(st.sampled_from(["first", "all", "none", "late"])),
            "index_mode": draw(st.sampled_from(["all", "all", "none", "first"])),
            "name_late": draw(st.integers(0, 5)) == 0,
        })
    frags: List[Tuple[int, Dict[str, Any]]] = []
    for c in calls:
        steps = max(1, len(c["pieces"]))
        for i in range(steps):
            f: Dict[str, Any] = {}
            if c["index_mode"] == "all" or (c["index_mode"] == "first" and i == 0):
                f["index"] = c["n"]
            if (c["id_mode"] == "all") or (c["id_mode"] == "first" and i == 0) or (c["id_mode"] == "late" and i == steps - 1):
                f["id"] = f"call_{c['n']}"
            fn: Dict[str, Any] = {}
            if (i == 0) != c["name_late"] or (c["name_late"] and i == steps - 1):
                fn["name"] = c["name"]
            if c["pieces"]:
                fn["arguments"] = c["pieces"][i]
            f["function"] = fn
            frags.append((c["n"], f))
    if draw(st.booleans()):  # interleave the calls' fragments, keeping each call's own order
        order = draw(st.permutations(list(range(len(frags)))))
        by_call: Dict[int, List[Dict[str, Any]]] = {}
        for n, f in frags:
            by_call.setdefault(n, []).append(f)
        seq = [frags[i][0] for i in order]
        frags = [(n, by_call[n].pop(0)) for n in seq]
    events: List[Dict[str, Any]] = []
    if draw(st.booleans()):
        events.append({"reasoning_content": draw(text) or "thinking"})
    if draw(st.booleans()):
        events.append({"content": draw(text) or "Let me check."})
    group = draw(st.integers(1, 3))  # fragments per chunk
    for i in range(0, len(frags), group):
        events.append({"tool_calls": [f for _, f in frags[i:i + group]]})
    if draw(st.integers(0, 4)) == 0:
        events.append({"content": "after"})
    out = []
    for d in events:
        out.append(b"data: " + json.dumps({"id": "x", "choices": [{"index": 0, "delta": d, "finish_reason": None}]}).encode() + b"\n\n")
    finish = draw(st.sampled_from(["tool_calls", "stop", "length", None]))
    if finish:
        out.append(b"data: " + json.dumps({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}).encode() + b"\n\n")
    if draw(st.booleans()):
        out.append(b'data: {"id":"x","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4}}\n\n')
    if draw(st.booleans()):
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


PROFILES = st.sampled_from(THINK_MODE_PROVIDERS + ("glm", "qwen"))
RESPONSE_IDS = st.sampled_from([RID, "resp_", "plain-id", 'resp_q"uo\\te', "resp_é\u2028"])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    body=bodies(),
    provider=PROFILES,
    tool_map=st.sampled_from([None, TOOL_MAP]),
    response_id=RESPONSE_IDS,
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
    fail_at=st.one_of(st.none(), st.integers(0, 8)),
    finish=st.booleans(),
    keepalive=st.booleans(),
)
def test_generated_streams_same_bytes_any_split(
    rust_engine: str, body: bytes, provider: str, tool_map: Optional[bytes], response_id: str,
    cuts: List[int], fail_at: Optional[int], finish: bool, keepalive: bool,
) -> None:
    splits = sorted({c % (len(body) + 1) for c in cuts})
    base = dict(provider=provider, tool_map=tool_map, response_id=response_id, finish=finish)
    python_whole = summary(*run("python", body, **base))  # type: ignore[arg-type]
    rust_whole = summary(*run("rust", body, **base))  # type: ignore[arg-type]
    assert_same(rust_whole, python_whole, "whole body")
    rust_split = summary(*run("rust", body, splits=splits, **base))  # type: ignore[arg-type]
    assert_same(rust_split, python_whole, f"rust split at {splits}")
    if fail_at is not None or keepalive:
        extra = dict(splits=splits, fail_at=fail_at, keepalive=keepalive)
        rust = summary(*run("rust", body, **extra, **base))  # type: ignore[arg-type]
        python = summary(*run("python", body, **extra, **base))  # type: ignore[arg-type]
        assert_same(rust, python, f"fail() after feed {fail_at}, keepalive {keepalive}, at {splits}")


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    body=tool_bodies(),
    provider=PROFILES,
    tool_map=st.sampled_from([None, TOOL_MAP, TOOL_MAP]),
    cuts=st.lists(st.integers(0, 10**6), max_size=8),
)
def test_generated_tool_call_streams_same_bytes_any_split(
    rust_engine: str, body: bytes, provider: str, tool_map: Optional[bytes], cuts: List[int],
) -> None:
    splits = sorted({c % (len(body) + 1) for c in cuts})
    python_whole = summary(*run("python", body, provider, tool_map=tool_map))
    assert_same(summary(*run("rust", body, provider, tool_map=tool_map)), python_whole, "whole body")
    assert_same(summary(*run("rust", body, provider, splits, tool_map=tool_map)), python_whole, f"rust split at {splits}")


# --------------------------------------------------------------------------- non-streaming


@st.composite
def completions(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 20)) == 0:
        return draw(odd)
    body: Dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion"}
    put(body, "model", draw(maybe(st.one_of(st.just("up-model"), odd), 0.3)))
    if draw(st.integers(0, 15)) == 0:
        body["error"] = draw(errors())
    choices: List[Any] = []
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2]))):
        if draw(st.integers(0, 20)) == 0:
            choices.append(draw(odd))
            continue
        message: Dict[str, Any] = {"role": "assistant"}
        for key, p in (("reasoning_content", 0.6), ("reasoning", 0.85), ("content", 0.2), ("refusal", 0.9)):
            put(message, key, draw(maybe(st.one_of(text, text, odd), p)))
        if draw(st.integers(0, 5)) == 0:
            message["content"] = [draw(st.one_of(st.fixed_dictionaries({"type": st.just("text"), "text": st.one_of(text, odd)}), odd)) for _ in range(draw(st.integers(0, 3)))]
        if draw(st.integers(0, 2)) == 0:
            calls: List[Any] = []
            for _ in range(draw(st.integers(0, 3))):
                if draw(st.integers(0, 10)) == 0:
                    calls.append(draw(odd))
                    continue
                call: Dict[str, Any] = {"type": "function"}
                put(call, "id", draw(maybe(st.one_of(st.sampled_from(["call_1", "call_2", ""]), odd), 0.2)))
                put(call, "function", draw(maybe(st.one_of(st.fixed_dictionaries({
                    "name": st.one_of(st.sampled_from(["shell", "apply_patch", "ns__tool", ""]), odd),
                    "arguments": st.one_of(arguments, odd)}), odd), 0.1)))
                calls.append(call)
            message["tool_calls"] = draw(st.one_of(st.just(calls), st.just(calls), odd))
        choice: Dict[str, Any] = {}
        put(choice, "index", draw(maybe(st.one_of(st.just(0), st.just(1), odd), 0.3)))
        put(choice, "message", draw(maybe(st.one_of(st.just(message), st.just(message), odd), 0.05)))
        put(choice, "finish_reason", draw(maybe(st.one_of(st.sampled_from(["stop", "length", "tool_calls", "content_filter", "network_error", ""]), odd), 0.2)))
        choices.append(choice)
    put(body, "choices", draw(maybe(st.one_of(st.just(choices), st.just(choices), odd), 0.05)))
    if draw(st.booleans()):
        body["usage"] = draw(usages())
    return body


def convert(engine: str, body: bytes, provider: str, model: Optional[str], tool_map: Optional[bytes]) -> Any:
    try:
        out = ccp.convert_response(body, provider, model=model, response_id=RID, created_at=CREATED,
                                   engine=engine, tool_map=tool_map)
    except ConversionError:
        return "ConversionError"
    return bytes(out), out.degraded


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=completions(),
    provider=PROFILES,
    model=st.sampled_from([None, "given-model"]),
    tool_map=st.sampled_from([None, TOOL_MAP]),
    ascii_json=st.booleans(),
)
def test_generated_completions_same_bytes(
    rust_engine: str, data: Any, provider: str, model: Optional[str], tool_map: Optional[bytes], ascii_json: bool,
) -> None:
    body = json.dumps(data, ensure_ascii=ascii_json).encode()
    assert convert("rust", body, provider, model, tool_map) == convert("python", body, provider, model, tool_map)


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'{"choices":[]}', b'{"a":1e400}', b'{"a":"\\ud800"}',
                                  b"[" * 200 + b"]" * 200, b'{"choices":[{"index":1,"message":{}}]}', b"\xff"])
def test_bad_completions_raise_in_both_engines(rust_engine: str, body: bytes) -> None:
    for engine in ("rust", "python"):
        with pytest.raises(ConversionError):
            ccp.convert_response(body, "openai", response_id=RID, created_at=CREATED, engine=engine)
