"""Conformance with the openai SDK: what a strict Responses client accepts and ends up with.

Every event of every fixture stream and of hypothesis-generated streams validates against the SDK's
`ResponseStreamEvent` union (pydantic TypeAdapter, no undeclared fields), and the SDK's own stream
accumulator ends on the response we sent (streamkit.check_sdk_agrees). Non-streaming results of
`ccp.convert_response` validate as `openai.types.responses.Response` and equal, byte for byte, the
terminal response of the equivalent stream (engine contract §4b: one rule set for both paths).
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codex_convert_proxy as ccp
from streamkit import (
    CREATED,
    DONE,
    RID,
    TOOL_MAP,
    chat_streams,
    check_invariants,
    check_sdk_agrees,
    chunk,
    random_cuts,
    translate,
    validate_response_with_sdk,
)
from test_fixtures import MANIFEST, NAMES, fixture_args, fixture_body

GENERATED = settings(max_examples=250, derandomize=True, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", NAMES)
def test_fixture_events_validate_and_accumulate(engine, name):
    r = translate(engine, fixture_body(name), **fixture_args(name))
    run = check_sdk_agrees(r.events)
    assert run.final.status == MANIFEST[name]["expect"]["status"]


@pytest.mark.timeout(180)
@GENERATED
@given(stream=chat_streams())
def test_generated_streams_validate_and_accumulate(engine, stream):
    r = translate(engine, stream.body, provider=stream.provider, tool_map=stream.tool_map)
    check_invariants(r.events)
    check_sdk_agrees(r.events, stream.upstream_codes)


@pytest.mark.timeout(180)
@GENERATED
@given(data=st.data(), stream=chat_streams())
def test_keepalives_between_reads_validate_and_accumulate(engine, data, stream):
    # The server's keep-alive (a repeated response.in_progress) may fall between any two reads.
    cuts = data.draw(random_cuts(stream.body))
    r = translate(engine, stream.body, provider=stream.provider, tool_map=stream.tool_map, splits=cuts, keepalive=True)
    assert r.types.count("response.in_progress") >= 1 + min(1, len(cuts))
    check_invariants(r.events)
    check_sdk_agrees(r.events, stream.upstream_codes)
    without = translate(engine, stream.body, provider=stream.provider, tool_map=stream.tool_map)
    assert [e for e in r.events if e["type"] != "response.in_progress"][-1]["response"] == without.response


# --------------------------------------------------------------------------- non-streaming


def _converted(engine: str, completion: Dict[str, Any], provider: str = "openai",
               tool_map: Optional[bytes] = None) -> ccp.ResponseBody:
    body = json.dumps(completion, ensure_ascii=False).encode()
    return ccp.convert_response(body, provider, model="test-model", response_id=RID, created_at=CREATED,
                                engine=engine, tool_map=tool_map)


def _completion(message: Dict[str, Any], finish: Optional[str], usage: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    completion: Dict[str, Any] = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "upstream-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if usage is not None:
        completion["usage"] = usage
    return completion


def _ambiguous(pieces: List[str]) -> bool:
    """Whether streaming these argument pieces would trip the duplicate/cumulative rule (§3.4)."""
    acc = ""
    for piece in pieces:
        if piece == acc or (len(piece) > len(acc) > 0 and piece.startswith(acc)):
            return True
        acc += piece
    return False


def _split(text: str, cuts: List[int]) -> List[str]:
    points = sorted({c for c in cuts if 0 < c < len(text)})
    return [text[a:b] for a, b in zip([0] + points, points + [len(text)])] if text else []


def _stream_of(message: Dict[str, Any], finish: Optional[str], usage: Optional[Dict[str, Any]],
               cuts: List[int]) -> bytes:
    """The upstream stream carrying the same content as `message`, each string cut at `cuts`."""
    parts = [chunk({"role": "assistant"})]
    for key in ("reasoning_content", "reasoning", "content", "refusal"):
        value = message.get(key)
        if isinstance(value, list):
            value = "".join(p["text"] for p in value if isinstance(p, dict) and isinstance(p.get("text"), str))
        if isinstance(value, str):
            parts += [chunk({key: piece}) for piece in _split(value, cuts)]
    for position, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        pieces = _split(function.get("arguments", ""), cuts)
        if _ambiguous(pieces):
            pieces = [function["arguments"]]
        first: Dict[str, Any] = {"index": position, "type": "function", "function": {"name": function["name"]}}
        if "id" in call:
            first["id"] = call["id"]
        if pieces:
            first["function"]["arguments"] = pieces[0]
        parts.append(chunk({"tool_calls": [first]}))
        parts += [chunk({"tool_calls": [{"index": position, "function": {"arguments": p}}]}) for p in pieces[1:]]
    parts.append(chunk({}, finish or "stop"))
    if usage is not None:
        parts.append(chunk(usage=usage, choices=False))
    return b"".join(parts) + DONE


_text = st.lists(st.sampled_from(list("ab <>/\n") + ["<think>", "</think>", "é", "😀", "\u2028", '"', "\\"]),
                 max_size=12).map("".join)
_piece_text = st.lists(st.sampled_from(["ab", " ", "\n", "<think>", "</think>", "<thought>", "é", "😀", "\u2028", '"', "x"]),
                       max_size=5).map("".join)
_args = st.one_of(
    st.sampled_from(["", "{}", '{"cmd":"ls -la"}', '{"input":"*** Begin Patch\\n*** End Patch"}', '{"a":{"b":[1,2]}}',
                     '{"patch":"raw"}', "not json", "aaaa"]),
    st.dictionaries(st.sampled_from(["cmd", "input", "q"]), _text, max_size=2).map(json.dumps),
)
_call = st.fixed_dictionaries(
    {"type": st.just("function"),
     "function": st.fixed_dictionaries({"name": st.sampled_from(["exec_command", "apply_patch", "multi_agent_v1__spawn_agent", "view_image"]),
                                        "arguments": _args})},
)
_message = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": st.one_of(st.none(), _piece_text, _text,
                                                        st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": _text}), max_size=2))},
    optional={"reasoning_content": st.one_of(st.none(), _piece_text), "refusal": st.one_of(st.none(), _text),
              "tool_calls": st.lists(_call, max_size=3)},
)
_usage = st.one_of(st.none(), st.fixed_dictionaries(
    {"prompt_tokens": st.integers(0, 10**6), "completion_tokens": st.integers(0, 10**5)},
    optional={"total_tokens": st.integers(0, 10**6),
              "prompt_tokens_details": st.fixed_dictionaries({"cached_tokens": st.integers(0, 1000)}),
              "completion_tokens_details": st.fixed_dictionaries({"reasoning_tokens": st.integers(0, 1000)}),
              "prompt_cache_hit_tokens": st.integers(0, 1000)},
))


@pytest.mark.timeout(180)
@GENERATED
@given(
    message=_message,
    finish=st.sampled_from([None, "stop", "tool_calls", "length", "content_filter"]),
    usage=_usage,
    provider=st.sampled_from(["openai", "deepseek", "minimax", "qwen", "glm"]),
    tool_map=st.sampled_from([None, TOOL_MAP]),
    ids=st.booleans(),
    cuts=st.lists(st.integers(1, 12), max_size=4),
)
def test_non_streaming_result_validates_and_equals_the_streamed_one(engine, message, finish, usage, provider,
                                                                    tool_map, ids, cuts):
    for position, call in enumerate(message.get("tool_calls") or []):
        if ids:
            call["id"] = f"call_up_{position}"  # unique: a repeated id would merge two calls in both paths
    converted = _converted(engine, _completion(message, finish, usage), provider, tool_map)
    response = json.loads(converted)
    validate_response_with_sdk(response)
    streamed = translate(engine, _stream_of(message, finish, usage, cuts), provider=provider, tool_map=tool_map)
    check_invariants(streamed.events)
    assert streamed.translator.terminal_response == bytes(converted)
    assert tuple(converted.degraded) == streamed.translator.degraded


def _completion_from_output(name: str) -> Optional[Dict[str, Any]]:
    """A chat.completion with the content of a fixture's final output, or None when one chat
    message cannot say it (several reasoning/message items, a failure, parts out of order)."""
    expect = MANIFEST[name]["expect"]
    if expect["status"] == "failed":
        return None
    items = expect["output"]
    kinds = [i["type"] for i in items]
    calls = [i for i in items if i["type"] in ("function_call", "custom_tool_call")]
    head = kinds[: len(kinds) - len(calls)]
    if head not in ([], ["reasoning"], ["message"], ["reasoning", "message"]) or kinds[len(head):] != [c["type"] for c in calls]:
        return None
    message: Dict[str, Any] = {"role": "assistant", "content": None}
    for item in items[: len(head)]:
        if item["type"] == "reasoning":
            message["reasoning_content"] = item["text"]
        else:
            message["content"] = item["text"] or None
            if item["refusal"] is not None:
                message["refusal"] = item["refusal"]
    tool_map = MANIFEST[name]["tool_map"] or {"custom": [], "namespaces": {}}
    flat = {tuple(pair): flat_name for flat_name, pair in tool_map["namespaces"].items()}
    tool_calls = []
    for position, call in enumerate(calls):
        if call["type"] == "custom_tool_call":
            function = {"name": call["name"], "arguments": json.dumps({"input": call["input"]})}
        else:
            upstream_name = flat.get((call["namespace"], call["name"]), call["name"])
            function = {"name": upstream_name, "arguments": call["arguments"]}
        tool_calls.append({"id": f"call_fixture_{position}", "type": "function", "function": function})
    if tool_calls:
        message["tool_calls"] = tool_calls
    usage = expect["usage"]
    chat_usage = None
    if usage is not None:
        chat_usage = {
            "prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
            "prompt_tokens_details": {"cached_tokens": usage["cached_tokens"]},
            "completion_tokens_details": {"reasoning_tokens": usage["reasoning_tokens"]},
        }
    finish = {None: "stop", "max_output_tokens": "length", "content_filter": "content_filter"}[expect["incomplete_reason"]]
    return _completion(message, finish, chat_usage)


REPRESENTABLE = [n for n in NAMES if _completion_from_output(n) is not None]


def test_most_fixtures_have_a_non_streaming_twin():
    assert len(REPRESENTABLE) >= len(NAMES) // 2, REPRESENTABLE


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", REPRESENTABLE)
def test_non_streaming_twin_of_a_fixture_agrees_with_its_stream(engine, name):
    args = fixture_args(name)
    streamed = translate(engine, fixture_body(name), **args)
    converted = ccp.convert_response(
        json.dumps(_completion_from_output(name)).encode(), args["provider"], model=args["model"],
        response_id=RID, created_at=CREATED, engine=engine, tool_map=args["tool_map"],
    )
    response = json.loads(converted)
    validate_response_with_sdk(response)
    ours = streamed.response
    for key in ("status", "incomplete_details", "usage", "error", "model"):
        assert response[key] == ours[key], key
    # Same items, same ids; only call ids differ (the twin names its own).
    strip = lambda items: [{k: v for k, v in i.items() if k != "call_id"} for i in items]  # noqa: E731
    assert strip(response["output"]) == strip(ours["output"])


def test_content_null_tool_call_reply(engine):
    message = {"role": "assistant", "content": None,
               "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'}}]}
    response = json.loads(_converted(engine, _completion(message, "tool_calls", {"prompt_tokens": 5, "completion_tokens": 2})))
    parsed = validate_response_with_sdk(response)
    assert [i.type for i in parsed.output] == ["function_call"]
    assert parsed.output[0].call_id == "call_1" and parsed.output[0].arguments == '{"cmd":"ls"}'
    assert parsed.usage.input_tokens == 5 and parsed.usage.total_tokens == 7


def test_non_streaming_error_body_is_a_failed_response(engine):
    completion = {"error": {"message": "This model's maximum context length is 8192 tokens", "code": 400}}
    response = json.loads(_converted(engine, completion))
    validate_response_with_sdk(response)
    assert response["status"] == "failed" and response["error"]["code"] == "context_length_exceeded"
