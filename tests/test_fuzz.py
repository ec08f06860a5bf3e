"""Fuzzing both engines: bad upstream bytes never break a stream, bad bodies only raise ConversionError.

Streams: random bytes, SSE-shaped token soup and mutated fixture streams (byte flips, truncations,
duplicated/removed/swapped lines, lines spliced in from other fixtures, huge lines, deep JSON
nesting, lone surrogate escapes, NaN/Infinity, numbers like 1e400, invalid UTF-8), fed in random
reads. `feed`/`finish` must never raise (bad data is skipped or fails in-band), the output must keep
every invariant of streamkit.check_invariants (exactly one terminal event, sequence numbers, no
empty deltas, item lifecycles), and cutting the same bytes differently must not change a byte.
Bodies: `convert_request`/`convert_response` on garbage return a result or raise
`ccp.ConversionError`, nothing else. Hangs fail through pytest-timeout's thread method, which also
stops native (Rust) code that never returns to the interpreter.
"""
from __future__ import annotations

import json
from typing import Any, Callable, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codex_convert_proxy as ccp
from codex_convert_proxy.engine.jsonw import loads as strict_loads
from streamkit import DONE, PROFILES, TOOL_MAP, check_invariants, chunk, random_cuts, translate
from test_fixtures import MANIFEST, fixture_args, fixture_body

FUZZ = settings(max_examples=300, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
SMALL = sorted(n for n in MANIFEST if not MANIFEST[n].get("bench"))
LINES_OF = {name: fixture_body(name).splitlines(keepends=True) for name in SMALL}


def survive(engine: str, body: bytes, cuts: List[int], **kwargs: Any) -> Any:
    """Translate `body` cut at `cuts`: it must not raise, must keep every invariant, and must give
    the same bytes as one read of the whole body."""
    r = translate(engine, body, splits=cuts, **kwargs)
    check_invariants(r.events)
    assert r.translator.done and r.translator.response == r.response
    if cuts:
        assert translate(engine, body, **kwargs).raw == r.raw, "output depends on read boundaries"
    return r


# --------------------------------------------------------------------------- streams

_SSE_TOKENS = [
    b"data:", b"data: ", b"data", b"event: x", b": c", b"\n", b"\n", b"\r", b"\r\n", b"\n\n", b"{", b"}", b"[", b"]",
    b",", b":", b'"choices"', b'"delta"', b'"content"', b'"reasoning_content"', b'"tool_calls"', b'"function"',
    b'"name"', b'"arguments"', b'"index"', b'"id"', b'"finish_reason"', b'"stop"', b'"length"', b'"usage"',
    b'"error"', b'"x"', b'"<think>"', b"0", b"1", b"-1", b"1e400", b"NaN", b"null", b"true", b"[DONE]",
    b"\xef\xbb\xbf", b"\xff", b"\xe6\x97", b"\xa5", b"\xf0\x9f\x98", b"\xe2\x80\xa8", b'"\\ud800"', b'"\\u0000"',
    b'{"choices":[{"index":0,"delta":{"content":"t"},"finish_reason":null}]}',
    b'{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{"}}]}}]}',
    b'{"choices":[{"finish_reason":"tool_calls","delta":{}}]}',
]
sse_soup = st.lists(st.sampled_from(_SSE_TOKENS), max_size=80).map(b"".join)


@pytest.mark.timeout(180, method="thread")
@FUZZ
@given(data=st.data(), body=st.one_of(st.binary(max_size=2048), sse_soup), provider=st.sampled_from(PROFILES))
def test_random_bytes_never_break_the_stream(engine, data, body, provider):
    survive(engine, body, data.draw(random_cuts(body)), provider=provider, tool_map=TOOL_MAP)


def _deep(depth: int) -> bytes:
    """A chunk that is fine except for one member nested `depth` levels deep in total."""
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return b'data: {"choices":[{"index":0,"delta":{"content":"deep"}}],"x":' + inner + b"}\n\n"


# Whole SSE events that a fuzzer might not reach by flipping bytes.
NASTY_EVENTS = [
    _deep(128), _deep(5000), b"data: " + b"[" * 200000 + b"\n\n", b"data: " + b'{"a":' * 50000 + b"\n\n",
    b'data: {"choices":[{"index":0,"delta":{"content":"\\ud800"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"\\udc00x"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"a\\ud83d"}}]}\n\n',
    b'data: {"usage":{"prompt_tokens":NaN}}\n\n', b"data: Infinity\n\n", b"data: -Infinity\n\n",
    b'data: {"usage":{"prompt_tokens":1e400,"completion_tokens":2}}\n\n',
    b'data: {"usage":{"prompt_tokens":1e300,"completion_tokens":-1e300,"total_tokens":1e-400}}\n\n',
    b'data: {"usage":{"prompt_tokens":18446744073709551616,"completion_tokens":99999999999999999999999}}\n\n',
    b'data: {"choices":[{"index":1e400,"delta":{"content":"n"}}]}\n\n',
    b'data: {"choices":[{"index":0.0,"delta":{"content":"f"}}]}\n\n',
    b'data: {"choices":[{"index":-0,"delta":{"content":"z"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1e30,"id":"q","function":{"name":"f"}}]}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"\xff\xfe bad utf8 \xe6\x97"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"' + "\u2028\u2029\x7f".encode() + b'"}}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"' + b"x" * 300000 + b'"}}]}\n\n',
    b"data: " + b"y" * 300000 + b"\n\n",
    b'data: {"error":{"message":' + b'"' + b"m" * 100000 + b'","code":{"nested":[1]}}}\n\n',
    b'data: {"error":null,"choices":[{"index":0,"delta":{"content":"e"}}]}\n\n',
    b"data: {}\n\n", b"data: []\n\n", b'data: ""\n\n', b"data: 0\n\n", b"data: \n\n", b"data:[DONE]x\n\n",
    b'data: {"choices":[{"index":0,"delta":{"content":"dup","content":"dup2"}}]}\n\n',
]


def _line_ops(draw: Callable[..., Any], lines: List[bytes], other: List[bytes]) -> List[bytes]:
    op = draw(st.sampled_from(["dup", "drop", "swap", "splice", "nasty", "done", "move_done"]))
    at = draw(st.integers(0, len(lines)))
    if op == "dup" and lines:
        i = min(at, len(lines) - 1)
        return lines[:i] + [lines[i]] + lines[i:]
    if op == "drop" and lines:
        return lines[:at] + lines[at + 1:]
    if op == "swap" and len(lines) > 1:
        i, j = sorted((min(at, len(lines) - 1), draw(st.integers(0, len(lines) - 1))))
        lines = list(lines)
        lines[i], lines[j] = lines[j], lines[i]
        return lines
    if op == "splice" and other:
        return lines[:at] + [draw(st.sampled_from(other))] + lines[at:]
    if op == "nasty":
        return lines[:at] + [b"\n", draw(st.sampled_from(NASTY_EVENTS))] + lines[at:]
    if op == "done":
        return lines[:at] + [b"\n", DONE] + lines[at:]
    return [line for line in lines if b"[DONE]" not in line] + ([DONE] if at % 2 else [])


@st.composite
def mutated_fixtures(draw: Callable[..., Any]) -> Any:
    name = draw(st.sampled_from(SMALL))
    lines = list(LINES_OF[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["lines", "lines", "flip", "truncate", "insert_bytes", "newlines"]))
        if kind == "lines":
            lines = _line_ops(draw, lines, LINES_OF[draw(st.sampled_from(SMALL))])
            continue
        body = b"".join(lines)
        if kind == "flip" and body:
            flips = draw(st.lists(st.tuples(st.integers(0, len(body) - 1), st.integers(1, 255)), min_size=1, max_size=8))
            data = bytearray(body)
            for position, mask in flips:
                data[position] ^= mask
            body = bytes(data)
        elif kind == "truncate":
            body = body[: draw(st.integers(0, len(body)))]
        elif kind == "insert_bytes":
            at = draw(st.integers(0, len(body)))
            body = body[:at] + draw(st.one_of(st.binary(min_size=1, max_size=16), st.sampled_from(_SSE_TOKENS))) + body[at:]
        elif kind == "newlines":
            body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", draw(st.sampled_from([b"\r", b"\r\n"])))
        lines = body.splitlines(keepends=True)
    return name, b"".join(lines)


@pytest.mark.timeout(240, method="thread")
@FUZZ
@given(data=st.data(), case=mutated_fixtures())
def test_mutated_fixture_streams_never_break(engine, data, case):
    name, body = case
    survive(engine, body, data.draw(random_cuts(body)), **fixture_args(name))


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("event", NASTY_EVENTS, ids=[f"nasty{i}" for i in range(len(NASTY_EVENTS))])
def test_each_nasty_event_between_good_chunks(engine, event):
    """A bad event is skipped or fails the stream in-band; the good chunks around it still count."""
    body = chunk({"content": "before "}) + event + chunk({"content": "after"}) + chunk({}, "stop") + DONE
    r = survive(engine, body, [7, len(body) // 2, len(body) - 3])
    if r.response["status"] != "failed":
        text = "".join(p.get("text", "") for item in r.output if item["type"] == "message" for p in item["content"])
        assert text.startswith("before ") and text.endswith("after")


# Exact outcomes for payloads that JSON §1 rejects: skipped and reported, the stream goes on.
REJECTED = {
    "nesting 128": _deep(128),
    "nesting 200000": b"data: " + b"[" * 200000 + b"]" * 200000 + b"\n\n",
    "lone high surrogate": b'data: {"choices":[{"index":0,"delta":{"content":"\\ud800"}}]}\n\n',
    "lone low surrogate": b'data: {"choices":[{"index":0,"delta":{"content":"\\udc00"}}]}\n\n',
    "high surrogate then letter": b'data: {"choices":[{"index":0,"delta":{"content":"\\ud800\\u0041"}}]}\n\n',
    "NaN": b'data: {"choices":[{"index":0,"delta":{"content":"n"}}],"usage":{"prompt_tokens":NaN}}\n\n',
    "Infinity": b'data: {"choices":[{"index":0,"delta":{"content":"i"}}],"usage":{"prompt_tokens":Infinity}}\n\n',
    "-Infinity": b'data: {"choices":[{"index":0,"delta":{"content":"i"}}],"x":-Infinity}\n\n',
    "1e400": b'data: {"choices":[{"index":0,"delta":{"content":"big"}}],"usage":{"prompt_tokens":1e400}}\n\n',
    "-1e400": b'data: {"choices":[{"index":0,"delta":{"content":"big"}}],"x":-1e400}\n\n',
    "1.7976931348623159e308": b'data: {"choices":[{"index":0,"delta":{"content":"big"}}],"x":1.7976931348623159e308}\n\n',
    "trailing garbage": b'data: {"choices":[{"index":0,"delta":{"content":"t"}}]} x\n\n',
}


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("label", sorted(REJECTED))
def test_payloads_json_rules_reject_are_skipped_and_reported(engine, label):
    body = chunk({"content": "ok"}) + REJECTED[label] + chunk({}, "stop") + DONE
    r = survive(engine, body, [len(body) // 3])
    assert r.response["status"] == "completed"
    assert [p["text"] for p in r.output[0]["content"]] == ["ok"]
    assert r.translator.degraded == ("stream:malformed_chunk",)


ACCEPTED = {
    # Exactly at the limit: 127 levels (serde_json's default recursion limit is 128 open containers).
    "nesting 127": (_deep(127), "deep"),
    "surrogate pair": (b'data: {"choices":[{"index":0,"delta":{"content":"\\ud83d\\ude00"}}]}\n\n', "\U0001f600"),
    "1e-400 underflows to 0.0": (b'data: {"choices":[{"index":0,"delta":{"content":"u"}}],"x":1e-400}\n\n', "u"),
    "integer beyond u64": (b'data: {"choices":[{"index":0,"delta":{"content":"w"}}],"x":123456789012345678901234567890}\n\n', "w"),
    "largest double": (b'data: {"choices":[{"index":0,"delta":{"content":"m"}}],"x":1.7976931348623157e308}\n\n', "m"),
    "escaped NUL": (b'data: {"choices":[{"index":0,"delta":{"content":"\\u0000"}}]}\n\n', "\x00"),
    # SSE decoding replaces invalid UTF-8 before JSON sees it (contract §2): not a malformed chunk.
    "invalid utf-8 inside a string": (b'data: {"choices":[{"index":0,"delta":{"content":"\xff\xe6\x97!"}}]}\n\n',
                                      "\ufffd\ufffd!"),
}


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("label", sorted(ACCEPTED))
def test_payloads_json_rules_accept_go_through(engine, label):
    event, text = ACCEPTED[label]
    r = survive(engine, event + chunk({}, "stop") + DONE, [3])
    assert r.translator.degraded == ()
    assert r.output[0]["content"][0]["text"] == text


@pytest.mark.timeout(120, method="thread")
def test_huge_line_in_small_reads_stays_linear(engine):
    # 8 MiB of content in one SSE line, fed in 1 KiB reads: a decoder that rescans its buffer on
    # every read would take minutes here (the timeout is the bound).
    text = "abcdefgh" * (1 << 20)
    body = chunk({"content": text}) + chunk({}, "stop") + DONE
    r = translate(engine, body, splits=range(1024, len(body), 1024))
    assert r.output[0]["content"][0]["text"] == text
    assert [e["delta"] for e in r.of("response.output_text.delta")] == [text]


@pytest.mark.timeout(120, method="thread")
def test_many_tiny_events_in_one_read(engine):
    body = b"".join(chunk({"content": f"{i % 10}"}) for i in range(20000)) + chunk({}, "stop") + DONE
    r = translate(engine, body)
    assert len(r.of("response.output_text.delta")) == 20000
    check_invariants(r.events)


# --------------------------------------------------------------------------- bodies

_KEYS = ["model", "input", "instructions", "tools", "tool_choice", "type", "role", "content", "text", "name",
         "call_id", "arguments", "output", "input_text", "output_text", "input_image", "image_url", "reasoning",
         "effort", "summary", "format", "max_output_tokens", "stream", "temperature", "top_p", "parallel_tool_calls",
         "namespace", "function", "custom", "message", "function_call", "function_call_output", "custom_tool_call",
         "choices", "delta", "finish_reason", "usage", "error", "code", "index", "id", "tool_calls", "refusal",
         "reasoning_content", "prompt_tokens", "completion_tokens", "metadata", "store", "previous_response_id"]
_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(_KEYS + ["user", "assistant", "developer", "system", "tool", "auto", "none", "required", "high",
                             "json_schema", "stop", "length", "deepseek-chat", ""]),
    st.text(max_size=10),
)
json_values = st.recursive(
    _json_leaf,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.sampled_from(_KEYS), children, max_size=6)),
    max_leaves=40,
)

CODEX_LIKE_REQUEST = {
    "model": "gpt-5.5", "stream": True, "store": False, "tool_choice": "auto", "parallel_tool_calls": True,
    "reasoning": {"effort": "high", "summary": "auto"}, "include": ["reasoning.encrypted_content"],
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"},
                                                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "run ls"}],
         "content": None, "encrypted_content": None},
        {"type": "function_call", "id": "fc_1", "status": "completed", "call_id": "call_1", "name": "exec_command",
         "arguments": '{"cmd":"ls"}'},
        {"type": "function_call_output", "call_id": "call_1",
         "output": [{"type": "input_text", "text": "a.txt"}, {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
        {"type": "custom_tool_call", "id": "ctc_1", "status": "completed", "call_id": "call_2", "name": "apply_patch",
         "input": "*** Begin Patch\n*** End Patch"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": "ok"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
    ],
    "tools": [
        {"type": "function", "name": "exec_command", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
        {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
        {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}]},
        {"type": "web_search"},
    ],
    "text": {"verbosity": "low"},
}
CHAT_COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "model": "m",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "<think>hm</think>ok", "reasoning_content": "r",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "apply_patch", "arguments": '{"input":"p"}'}}]}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 1}},
}


def _mutated_json_bytes(seed: dict) -> Any:
    text = json.dumps(seed).encode()

    @st.composite
    def build(draw: Callable[..., Any]) -> bytes:
        data = bytearray(text)
        for _ in range(draw(st.integers(1, 6))):
            kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
            at = draw(st.integers(0, max(0, len(data) - 1)))
            if kind == "flip" and data:
                data[at] ^= draw(st.integers(1, 255))
            elif kind == "truncate":
                del data[at:]
            elif kind == "insert":
                data[at:at] = draw(st.sampled_from([b"{", b"[", b'"', b"\\", b"null", b"1e400", b"NaN", b'"\\ud800"', b"\xff", b",", b"}"]))
            elif data:
                del data[at:at + draw(st.integers(1, 20))]
        return bytes(data)

    return build()


def _paths(value: Any, prefix: tuple = ()) -> List[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for position, child in enumerate(value):
            found += _paths(child, prefix + (position,))
    return found


def _structurally_mutated(seed: dict) -> Any:
    """The seed with a few subtrees replaced by random JSON values, or deleted: valid JSON that
    reaches deep into the converter instead of failing at the parser."""
    paths = _paths(seed)[1:]

    @st.composite
    def build(draw: Callable[..., Any]) -> bytes:
        value = json.loads(json.dumps(seed))
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.sampled_from(paths))
            parent = value
            try:
                for key in path[:-1]:
                    parent = parent[key]
                if draw(st.booleans()) and isinstance(parent, dict):
                    parent.pop(path[-1], None)
                else:
                    parent[path[-1]] = draw(json_values)
            except (KeyError, IndexError, TypeError):
                continue  # an earlier mutation removed or replaced this path
        return json.dumps(value).encode()

    return build()


def _request_or_conversion_error(engine: str, body: bytes, provider: str) -> None:
    try:
        req = ccp.convert_request(body, provider, engine=engine)
    except ccp.ConversionError as exc:
        assert str(exc), "a ConversionError needs a message"
        return
    chat = strict_loads(bytes(req))
    assert isinstance(chat, dict) and isinstance(chat.get("messages"), list) and isinstance(chat.get("model"), str)
    assert isinstance(strict_loads(req.tool_map), dict) and isinstance(strict_loads(req.echo), dict)
    assert isinstance(req.stream, bool) and isinstance(req.degraded, tuple)


def _response_or_conversion_error(engine: str, body: bytes, provider: str) -> None:
    try:
        out = ccp.convert_response(body, provider, response_id="resp_f", created_at=1, engine=engine, tool_map=TOOL_MAP)
    except ccp.ConversionError as exc:
        assert str(exc), "a ConversionError needs a message"
        return
    response = strict_loads(bytes(out))
    assert response["object"] == "response" and response["status"] in ("completed", "incomplete", "failed")
    assert isinstance(out.degraded, tuple)


@pytest.mark.timeout(240, method="thread")
@FUZZ
@given(body=st.one_of(st.binary(max_size=512), json_values.map(lambda v: json.dumps(v).encode()),
                      st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=8).map(lambda v: json.dumps(v).encode()),
                      _mutated_json_bytes(CODEX_LIKE_REQUEST), _structurally_mutated(CODEX_LIKE_REQUEST),
                      _structurally_mutated(CODEX_LIKE_REQUEST)),
       provider=st.sampled_from(PROFILES + ("unknown-provider",)))
def test_convert_request_on_garbage_raises_only_conversion_error(engine, body, provider):
    _request_or_conversion_error(engine, body, provider)


@pytest.mark.timeout(240, method="thread")
@FUZZ
@given(body=st.one_of(st.binary(max_size=512), json_values.map(lambda v: json.dumps(v).encode()),
                      st.dictionaries(st.sampled_from(_KEYS), json_values, max_size=8).map(lambda v: json.dumps(v).encode()),
                      _mutated_json_bytes(CHAT_COMPLETION), _structurally_mutated(CHAT_COMPLETION),
                      _structurally_mutated(CHAT_COMPLETION)),
       provider=st.sampled_from(PROFILES))
def test_convert_response_on_garbage_raises_only_conversion_error(engine, body, provider):
    _response_or_conversion_error(engine, body, provider)


CLASSIC_BAD_BODIES = [
    b"", b"\xff\xfe", b"null", b"[]", b"{", b'"text"', b"NaN", b"1e400", b"[" * 100000, b"{" * 3 + b"}" * 3,
    b'{"model":"m","input":"\\ud800"}', b'{"model":"m","input":' + b"[" * 128 + b"]" * 128 + b"}",
    b"\xef\xbb\xbf{}",
]


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("body", CLASSIC_BAD_BODIES, ids=lambda b: repr(b[:24]))
def test_classic_bad_request_bodies_raise_conversion_error(engine, body):
    with pytest.raises(ccp.ConversionError):
        ccp.convert_request(body, "openai", engine=engine)


@pytest.mark.timeout(60, method="thread")
@pytest.mark.parametrize("body", CLASSIC_BAD_BODIES, ids=lambda b: repr(b[:24]))
def test_classic_bad_response_bodies_raise_conversion_error(engine, body):
    with pytest.raises(ccp.ConversionError):
        ccp.convert_response(body, "openai", engine=engine)


def test_sanity_the_request_seed_converts(engine):
    # The mutation seed is itself valid: the fuzz above starts from a body that converts.
    req = ccp.convert_request(json.dumps(CODEX_LIKE_REQUEST).encode(), "deepseek", engine=engine)
    assert "tool:web_search" in req.degraded


def test_sanity_the_response_seed_converts(engine):
    response = json.loads(ccp.convert_response(json.dumps(CHAT_COMPLETION).encode(), "minimax", engine=engine,
                                               response_id="resp_s", created_at=1, tool_map=TOOL_MAP))
    assert [i["type"] for i in response["output"]] == ["reasoning", "message", "custom_tool_call"]
