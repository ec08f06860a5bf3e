"""Helpers for stream tests: build upstream chunks, run a translator, read and check its events."""
from __future__ import annotations

import functools
import json
from typing import Any, Dict, Iterable, List, Optional, Sequence

import codex_convert_proxy as ccp

RID = "resp_test"
CREATED = 1700000000

# Codex acts on these error codes; the SDK's ResponseError.code Literal does not list all of them.
CODEX_ERROR_CODES = {"context_length_exceeded", "insufficient_quota", "rate_limit_exceeded", "server_error"}


def chunk(
    delta: Optional[dict] = None,
    finish: Optional[str] = None,
    usage: Optional[dict] = None,
    choices: bool = True,
    **extra: Any,
) -> bytes:
    """One upstream SSE event holding a chat.completion.chunk."""
    body: Dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []
    if usage is not None:
        body["usage"] = usage
    body.update(extra)
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"


def tool_delta(index: Optional[int] = None, id: Optional[str] = None, name: Optional[str] = None,
               arguments: Optional[str] = None) -> dict:
    fragment: Dict[str, Any] = {}
    if index is not None:
        fragment["index"] = index
    if id is not None:
        fragment["id"] = id
        fragment["type"] = "function"
    function: Dict[str, Any] = {}
    if name is not None:
        function["name"] = name
    if arguments is not None:
        function["arguments"] = arguments
    if function:
        fragment["function"] = function
    return {"tool_calls": [fragment]}


PROFILES = ("openai", "deepseek", "glm", "kimi", "minimax", "qwen")
APPLY_PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"
TOOL_MAP = json.dumps(
    {"custom": ["apply_patch"], "namespaces": {"multi_agent_v1__spawn_agent": ["multi_agent_v1", "spawn_agent"]}}
).encode()


def translate(
    engine: str,
    body: bytes,
    provider: str = "openai",
    splits: Optional[Sequence[int]] = None,
    tool_map: Optional[bytes] = None,
    echo: Optional[bytes] = None,
    model: str = "test-model",
    keepalive: bool = False,
) -> "Result":
    """Run one upstream body through a translator, cut at `splits` (offsets), then finish().

    keepalive: call keepalive() after every read but the last (as the server does on silence)."""
    t = ccp.StreamTranslator(provider, model, RID, CREATED, engine=engine, tool_map=tool_map, echo=echo)
    out = t.start()
    last = 0
    for cut in sorted(splits or ()):
        out += t.feed(body[last:cut])
        if keepalive:
            out += t.keepalive()
        last = cut
    out += t.feed(body[last:])
    out += t.finish()
    return Result(out, t)


def split_plans(body: bytes, seed: int = 0) -> Dict[str, List[int]]:
    """Ways to cut one upstream body into network reads: 1-byte reads, 64 KiB reads, and cuts at
    random points (seeded, so a failure names a reproducible plan)."""
    import random

    rng = random.Random(seed)
    size = len(body)
    cuts = sorted(rng.sample(range(1, size), min(size - 1, rng.randint(1, 40)))) if size > 1 else []
    return {
        "whole": [],
        "1-byte reads": list(range(1, size)),
        "64KiB reads": list(range(65536, size, 65536)),
        f"random cuts (seed {seed})": cuts,
    }


def assert_split_invariant(engine: str, body: bytes, seed: int = 0, **kwargs: Any) -> "Result":
    """Re-splitting the same upstream bytes never changes the output; returns the whole-read run."""
    plans = split_plans(body, seed)
    whole = translate(engine, body, splits=plans.pop("whole"), **kwargs)
    for name, cuts in plans.items():
        again = translate(engine, body, splits=cuts, **kwargs)
        assert again.raw == whole.raw, f"output differs when fed as {name}"
        assert again.translator.degraded == whole.translator.degraded, name
    return whole


class Result:
    def __init__(self, raw: bytes, translator: ccp.StreamTranslator) -> None:
        self.raw = raw
        self.translator = translator
        self.events = parse_events(raw)

    @property
    def types(self) -> List[str]:
        return [e["type"] for e in self.events]

    @property
    def terminal(self) -> Dict[str, Any]:
        return self.events[-1]

    @property
    def response(self) -> Dict[str, Any]:
        return self.events[-1]["response"]

    @property
    def output(self) -> List[Dict[str, Any]]:
        return self.response["output"]

    def of(self, kind: str) -> List[Dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


def parse_events(raw: bytes) -> List[Dict[str, Any]]:
    """Split Responses SSE output into event dicts, checking the framing on the way."""
    events = []
    text = raw.decode("utf-8")
    assert text == "" or text.endswith("\n\n"), "output must end on an event boundary"
    for block in text.split("\n\n")[:-1]:
        lines = block.split("\n")
        assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), block
        event = json.loads(lines[1][len("data: "):])
        assert event["type"] == lines[0][len("event: "):]
        events.append(event)
    return events


TERMINAL_STATUS = {"response.completed": "completed", "response.incomplete": "incomplete", "response.failed": "failed"}
ITEM_PREFIX = {"reasoning": "rs", "message": "msg", "function_call": "fc", "custom_tool_call": "ctc"}
RESPONSE_KEYS_HEAD = ["id", "object", "created_at", "status", "model", "output"]
RESPONSE_KEYS_TAIL = ["error", "incomplete_details", "usage"]
USAGE_KEYS = ["input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens"]

# Field order after "type" and "sequence_number", per event type (engine contract §3.2).
EVENT_FIELDS = {
    "response.created": ["response"],
    "response.in_progress": ["response"],
    "response.completed": ["response"],
    "response.incomplete": ["response"],
    "response.failed": ["response"],
    "response.output_item.added": ["output_index", "item"],
    "response.output_item.done": ["output_index", "item"],
    "response.content_part.added": ["item_id", "output_index", "content_index", "part"],
    "response.content_part.done": ["item_id", "output_index", "content_index", "part"],
    "response.output_text.delta": ["item_id", "output_index", "content_index", "delta", "logprobs"],
    "response.output_text.done": ["item_id", "output_index", "content_index", "text", "logprobs"],
    "response.refusal.delta": ["item_id", "output_index", "content_index", "delta"],
    "response.refusal.done": ["item_id", "output_index", "content_index", "refusal"],
    "response.reasoning_summary_part.added": ["item_id", "output_index", "summary_index", "part"],
    "response.reasoning_summary_part.done": ["item_id", "output_index", "summary_index", "part"],
    "response.reasoning_summary_text.delta": ["item_id", "output_index", "summary_index", "delta"],
    "response.reasoning_summary_text.done": ["item_id", "output_index", "summary_index", "text"],
    "response.function_call_arguments.delta": ["item_id", "output_index", "delta"],
    "response.function_call_arguments.done": ["item_id", "output_index", "arguments"],
    "response.custom_tool_call_input.delta": ["item_id", "output_index", "delta"],
    "response.custom_tool_call_input.done": ["item_id", "output_index", "input"],
}
# Item key order (engine contract §3.2).
ITEM_KEYS = {
    "reasoning": ["id", "type", "summary"],
    "message": ["id", "type", "status", "content", "role"],
    "function_call": ["id", "type", "status", "arguments", "call_id", "name"],
    "custom_tool_call": ["id", "type", "status", "call_id", "name", "input"],
}
# Which item type each item-level event belongs to.
EVENT_ITEM_TYPE = {
    "response.content_part": "message",
    "response.output_text": "message",
    "response.refusal": "message",
    "response.reasoning_summary_part": "reasoning",
    "response.reasoning_summary_text": "reasoning",
    "response.function_call_arguments": "function_call",
    "response.custom_tool_call_input": "custom_tool_call",
}


class _Item:
    """What the event stream has said so far about one output item."""

    def __init__(self, item: Dict[str, Any]) -> None:
        self.added = item
        self.kind = item["type"]
        self.done: Optional[Dict[str, Any]] = None
        self.parts: List[Dict[str, Any]] = []  # message: finished content parts
        self.part: Optional[Dict[str, Any]] = None  # message: the open part {"type", "text", "text_done"}
        self.summary_state = "none"  # reasoning: none -> open -> text_done -> part_done
        self.text: List[str] = []  # reasoning summary / call arguments / custom input deltas
        self.payload_done: Optional[str] = None  # arguments.done / input.done value


def _check_response(response: Dict[str, Any], status: str) -> None:
    keys = list(response)
    assert keys[: len(RESPONSE_KEYS_HEAD)] == RESPONSE_KEYS_HEAD, keys
    assert keys[-len(RESPONSE_KEYS_TAIL):] == RESPONSE_KEYS_TAIL, keys
    assert response["object"] == "response" and response["status"] == status
    assert isinstance(response["id"], str) and type(response["created_at"]) is int
    usage = response["usage"]
    if usage is not None:
        assert list(usage) == USAGE_KEYS, usage
        assert list(usage["input_tokens_details"]) == ["cached_tokens", "cache_write_tokens"]
        assert list(usage["output_tokens_details"]) == ["reasoning_tokens"]
        counts = [usage["input_tokens"], usage["output_tokens"], usage["total_tokens"],
                  usage["input_tokens_details"]["cached_tokens"],
                  usage["input_tokens_details"]["cache_write_tokens"],
                  usage["output_tokens_details"]["reasoning_tokens"]]
        for n in counts:
            assert type(n) is int and 0 <= n, usage
        for n in counts[:2] + counts[3:]:
            assert n <= 2**53, usage  # clamped (§3.8); the total may be their sum


def check_invariants(events: List[Dict[str, Any]]) -> None:
    """The REFERENCE §3 / contract §3 rules every stream must keep, whatever the upstream sent.

    A model checker over the event list: framing, sequence numbers, exactly one terminal event,
    the lifecycle of every item (added → parts/deltas → done, nothing for an item not open), the
    done texts equal to the concatenated deltas, the final output equal to the items done, key
    order, id shapes and the Responses-shaped usage.
    """
    assert len(events) >= 3, "a stream has at least created, in_progress and a terminal event"
    for number, e in enumerate(events):
        assert list(e)[:2] == ["type", "sequence_number"] and e["sequence_number"] == number, e
        assert list(e)[2:] == EVENT_FIELDS[e["type"]], e
        if "delta" in e:
            assert isinstance(e["delta"], str) and e["delta"] != "", e
        if "logprobs" in e:
            assert e["logprobs"] == []
        if "summary_index" in e:
            assert e["summary_index"] == 0
    assert events[0]["type"] == "response.created" and events[1]["type"] == "response.in_progress"
    terminals = [e for e in events if e["type"] in TERMINAL_STATUS]
    assert len(terminals) == 1 and terminals[0] is events[-1], "exactly one terminal event, last"
    first = events[0]["response"]
    for e in events[:2]:
        _check_response(e["response"], "in_progress")
        assert e["response"]["output"] == [] and e["response"]["error"] is None
        assert e["response"]["incomplete_details"] is None and e["response"]["usage"] is None
    assert events[1]["response"] == first
    rid = first["id"]
    suffix = rid[5:] if rid.startswith("resp_") else rid

    items: List[_Item] = []
    for e in events[2:-1]:
        kind = e["type"]
        if kind == "response.in_progress":
            # keepalive() (contract §3.5): the same in-progress snapshot again, output [].
            assert e["response"] == first, "a keep-alive in_progress must repeat the start snapshot"
            continue
        assert kind not in ("response.created", "response.queued"), f"{kind} in the middle of a stream"
        if kind == "response.output_item.added":
            item = e["item"]
            assert e["output_index"] == len(items), "output_index must count up from 0"
            assert list(item) in (ITEM_KEYS[item["type"]], ITEM_KEYS[item["type"]] + ["namespace"]), item
            assert item["id"] == f"{ITEM_PREFIX[item['type']]}_{suffix}_{e['output_index']}", item
            if item["type"] == "reasoning":
                assert item["summary"] == []
            elif item["type"] == "message":
                assert item["status"] == "in_progress" and item["content"] == [] and item["role"] == "assistant"
            else:
                assert item["status"] == "in_progress"
                assert item.get("arguments", "") == "" and item.get("input", "") == ""
                assert isinstance(item["call_id"], str) and item["call_id"], item
                assert isinstance(item["name"], str) and item["name"], item
            open_text = [i for i in items if i.done is None and i.kind in ("reasoning", "message")]
            assert not open_text, "a new item opened while a reasoning/message item is open"
            items.append(_Item(item))
            continue
        index = e["output_index"]
        assert 0 <= index < len(items), f"{kind} for an item never added"
        it = items[index]
        assert it.done is None, f"{kind} for an item already done"
        if kind == "response.output_item.done":
            _close_item(it, e["item"])
            continue
        assert e["item_id"] == it.added["id"]
        family, _, step = kind.rpartition(".")
        assert EVENT_ITEM_TYPE[family] == it.kind, f"{kind} on a {it.kind} item"
        if it.kind == "message":
            _message_event(it, family, step, e)
        elif it.kind == "reasoning":
            _reasoning_event(it, family, step, e)
        else:
            assert it.payload_done is None, f"{kind} after the payload was done"
            if step == "delta":
                it.text.append(e["delta"])
            else:
                it.payload_done = e["arguments"] if it.kind == "function_call" else e["input"]
                assert it.payload_done == "".join(it.text), "done payload != concatenated deltas"

    terminal = events[-1]
    status = TERMINAL_STATUS[terminal["type"]]
    final = terminal["response"]
    _check_response(final, status)
    for key in ("id", "created_at", "model"):
        assert final[key] == first[key]
    # Everything between output and error is the echo: the same in every response object.
    assert list(final)[6:-3] == list(first)[6:-3]
    assert all(final[k] == first[k] for k in list(first)[6:-3])
    assert final["output"] == [it.done for it in items if it.done is not None]
    if status == "failed":
        error = final["error"]
        assert list(error) == ["code", "message"], error
        assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str)
        assert final["incomplete_details"] is None
    else:
        assert final["error"] is None
        assert all(it.done is not None for it in items), "completed/incomplete with an item still open"
        if status == "incomplete":
            assert final["incomplete_details"] in ({"reason": "max_output_tokens"}, {"reason": "content_filter"})
        else:
            assert final["incomplete_details"] is None


def _message_event(it: _Item, family: str, step: str, e: Dict[str, Any]) -> None:
    kind = e["type"]
    if kind == "response.content_part.added":
        assert it.part is None, "a content part opened while another is open"
        assert e["content_index"] == len(it.parts)
        part = e["part"]
        assert part in ({"type": "output_text", "text": "", "annotations": []}, {"type": "refusal", "refusal": ""}), part
        assert list(part) == (["type", "text", "annotations"] if part["type"] == "output_text" else ["type", "refusal"])
        if it.parts:
            assert it.parts[-1]["type"] != part["type"], "same-kind parts must not be split"
        it.part = {"type": part["type"], "text": [], "text_done": None}
        return
    part = it.part
    assert part is not None, f"{kind} without an open content part"
    assert e["content_index"] == len(it.parts)
    if kind == "response.content_part.done":
        assert part["text_done"] is not None, "content_part.done before the text/refusal done"
        text = part["text_done"]
        if part["type"] == "output_text":
            expected = {"type": "output_text", "text": text, "annotations": []}
        else:
            expected = {"type": "refusal", "refusal": text}
        assert e["part"] == expected and list(e["part"]) == list(expected)
        it.parts.append(expected)
        it.part = None
        return
    expected_family = "response.output_text" if part["type"] == "output_text" else "response.refusal"
    assert family == expected_family, f"{kind} in a {part['type']} part"
    assert part["text_done"] is None, f"{kind} after the part's done"
    if step == "delta":
        part["text"].append(e["delta"])
    else:
        text = e["text"] if part["type"] == "output_text" else e["refusal"]
        assert text == "".join(part["text"]) and text != "", "done text != concatenated deltas"
        part["text_done"] = text


def _reasoning_event(it: _Item, family: str, step: str, e: Dict[str, Any]) -> None:
    kind = e["type"]
    state = it.summary_state
    if kind == "response.reasoning_summary_part.added":
        assert state == "none" and e["part"] == {"type": "summary_text", "text": ""}
        it.summary_state = "open"
    elif kind == "response.reasoning_summary_text.delta":
        assert state == "open"
        it.text.append(e["delta"])
    elif kind == "response.reasoning_summary_text.done":
        assert state == "open" and e["text"] == "".join(it.text) and e["text"] != ""
        it.summary_state = "text_done"
    else:  # summary_part.done
        assert state == "text_done" and e["part"] == {"type": "summary_text", "text": "".join(it.text)}
        assert list(e["part"]) == ["type", "text"]
        it.summary_state = "part_done"


def _close_item(it: _Item, item: Dict[str, Any]) -> None:
    added = it.added
    assert item["id"] == added["id"] and item["type"] == added["type"]
    assert list(item) == list(added), "done item keys differ from the added item's"
    if it.kind == "reasoning":
        assert it.summary_state == "part_done", "reasoning done before its summary part"
        assert item["summary"] == [{"type": "summary_text", "text": "".join(it.text)}]
    elif it.kind == "message":
        assert it.part is None, "message done with a content part still open"
        assert it.parts, "a message item without content"
        assert item["content"] == it.parts and item["role"] == "assistant"
        assert item["status"] in ("completed", "incomplete")
    else:
        assert it.payload_done is not None, "call done before its arguments/input done"
        assert item["status"] in ("completed", "incomplete")
        assert item["call_id"] == added["call_id"] and item["name"] == added["name"]
        assert item.get("namespace") == added.get("namespace")
        payload = item["arguments"] if it.kind == "function_call" else item["input"]
        assert payload == it.payload_done
        if it.kind == "function_call":
            assert payload != "", "function call arguments are never empty ({} at least)"
    it.done = item


# Fields we send that the SDK models do not declare (they land in `model_extra`), and why.
# custom_tool_call.status: Codex itself replays custom_tool_call items with a status
# (../shared/codex/request-3-*.json); the SDK's ResponseCustomToolCall has no such field.
SDK_UNDECLARED_OK = {("ResponseCustomToolCall", "status")}
# Fields the SDK's parse helpers add (set to None) to output items; we never send them.
SDK_PARSE_FIELDS = ("parsed", "parsed_arguments")
TERMINAL_TYPES = ("response.completed", "response.incomplete", "response.failed")


class SdkRun:
    """What the openai SDK made of one event stream.

    final: the Response of the terminal event as the SDK's stream accumulator returned it;
    snapshot: the accumulator's running snapshot, built from output_item.added plus the text and
    argument deltas (what a client rendering deltas has seen).
    """

    def __init__(self, final: Any, snapshot: Any) -> None:
        self.final = final
        self.snapshot = snapshot


def _strict_copy(raw: Dict[str, Any], upstream_codes: Iterable[str]) -> Dict[str, Any]:
    """The event as the SDK's Literal types accept it: an error code Codex needs (or that the
    upstream sent and the contract keeps) becomes "server_error" for the strict validation only."""
    error = (raw.get("response") or {}).get("error")
    if error is not None and (error.get("code") in CODEX_ERROR_CODES or error.get("code") in set(upstream_codes)):
        raw = json.loads(json.dumps(raw))
        raw["response"]["error"]["code"] = "server_error"
    return raw


def undeclared_fields(model: Any, path: str = "") -> List[str]:
    """Paths of values the SDK kept as extras (fields its models do not declare)."""
    from pydantic import BaseModel

    found: List[str] = []
    if isinstance(model, BaseModel):
        for key in model.model_extra or {}:
            if (type(model).__name__, key) not in SDK_UNDECLARED_OK:
                found.append(f"{path}.{key} ({type(model).__name__})")
        for key in type(model).model_fields:
            found += undeclared_fields(getattr(model, key), f"{path}.{key}")
    elif isinstance(model, (list, tuple)):
        for position, value in enumerate(model):
            found += undeclared_fields(value, f"{path}[{position}]")
    return found


@functools.lru_cache(maxsize=None)
def _adapter(name: str) -> Any:
    """A pydantic TypeAdapter over an openai.types.responses type (built once: it is slow)."""
    import openai.types.responses as types
    from pydantic import TypeAdapter

    return TypeAdapter(getattr(types, name))


def run_sdk(events: Iterable[Dict[str, Any]], upstream_codes: Iterable[str] = ()) -> SdkRun:
    """Validate every event against the SDK's ResponseStreamEvent union (no undeclared fields
    either) and feed it to the SDK's own stream accumulator."""
    from openai import omit
    from openai.lib.streaming.responses._responses import ResponseStreamState

    adapter = _adapter("ResponseStreamEvent")
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for raw in events:
        parsed = adapter.validate_python(_strict_copy(raw, upstream_codes))
        extra = undeclared_fields(parsed)
        assert not extra, f"{raw['type']}: fields the SDK does not declare: {extra}"
        for produced in state.handle_event(parsed):
            if produced.type in TERMINAL_TYPES:
                final = produced.response
    # The accumulator keeps its snapshot private; read it to compare deltas with done items.
    snapshot = getattr(state, "_ResponseStreamState__current_snapshot")
    return SdkRun(final, snapshot)


def validate_with_sdk(events: Iterable[Dict[str, Any]], upstream_codes: Iterable[str] = ()) -> Any:
    """Validate every event against the openai SDK types and run the SDK's stream accumulator.

    Returns the response the SDK accumulator built. Error codes that Codex needs but the SDK's
    Literal does not list are checked against CODEX_ERROR_CODES and swapped for "server_error"
    for the strict validation only (likewise `upstream_codes`: upstream string codes that the
    contract §3.6 keeps).
    """
    return run_sdk(events, upstream_codes).final


def sdk_dump(model: Any) -> Dict[str, Any]:
    """An SDK model as the dict we sent: fields it was given, minus its own parse helpers."""
    data = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return _drop_parse_fields(data)


def _drop_parse_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_parse_fields(v) for k, v in value.items() if not (k in SDK_PARSE_FIELDS and v is None)}
    if isinstance(value, list):
        return [_drop_parse_fields(v) for v in value]
    return value


def check_sdk_agrees(events: List[Dict[str, Any]], upstream_codes: Iterable[str] = ()) -> SdkRun:
    """The SDK accepts the stream and ends where we ended: its final response.output equals our
    terminal output item by item, and what its accumulator built from the deltas matches the
    done items (the text a client displayed is the text it keeps)."""
    run = run_sdk(events, upstream_codes)
    terminal = events[-1]["response"]
    assert run.final is not None, "the SDK accumulator saw no terminal event"
    assert run.final.id == terminal["id"] and run.final.status == terminal["status"]
    assert [sdk_dump(item) for item in run.final.output] == terminal["output"]
    done = {e["output_index"]: e["item"] for e in events if e["type"] == "response.output_item.done"}
    assert len(run.snapshot.output) == len([e for e in events if e["type"] == "response.output_item.added"])
    for index, item in done.items():
        built = run.snapshot.output[index]
        assert built.id == item["id"] and built.type == item["type"]
        if item["type"] == "message":
            texts = [p.text for p in built.content if p.type == "output_text"]
            assert texts == [p["text"] for p in item["content"] if p["type"] == "output_text"]
        elif item["type"] == "function_call":
            assert built.arguments == item["arguments"]
    return run


def validate_response_with_sdk(response: Dict[str, Any], upstream_codes: Iterable[str] = ()) -> Any:
    """A whole (non-streaming) Response object, validated as `openai.types.responses.Response`."""
    wrapped = _strict_copy({"response": response}, upstream_codes)["response"]
    parsed = _adapter("Response").validate_python(wrapped)
    extra = undeclared_fields(parsed)
    assert not extra, f"fields the SDK does not declare: {extra}"
    assert [sdk_dump(item) for item in parsed.output] == response["output"]
    return parsed


# --------------------------------------------------------------------------- generated streams
# Hypothesis strategies for upstream Chat Completions SSE bodies: realistic chunk shapes mixed
# with the quirks of REFERENCE §6/§9 (think tags split anywhere, id-less and index-less tool
# fragments, cumulative arguments, wrong value types, extra choices, usage-only chunks, in-stream
# errors, malformed payloads, comments, CR/CRLF line ends, multi-line data, missing [DONE]).


class GeneratedStream:
    def __init__(self, body: bytes, provider: str, tool_map: Optional[bytes], upstream_codes: frozenset) -> None:
        self.body = body
        self.provider = provider
        self.tool_map = tool_map
        self.upstream_codes = upstream_codes  # string error codes the upstream sent (kept, §3.6)

    def __repr__(self) -> str:
        return f"GeneratedStream(provider={self.provider!r}, tool_map={self.tool_map!r}, body={self.body!r})"


def _strategies() -> Any:
    from hypothesis import strategies as st

    pieces = st.sampled_from([
        "a", "b c", " ", "\n", "\n\n", "<", ">", "/", "think", "<think>", "</think>", "<thought>",
        "</thought>", "<thi", "nk>", "</th", "ought>", "é", "😀", "日本", "\u2028", "\x00", "\x7f",
        '"', "\\", "{", "}", "\t",
    ])
    text = st.one_of(st.lists(pieces, max_size=6).map("".join), st.text(max_size=6))
    odd = st.one_of(st.none(), st.integers(-3, 3), st.lists(st.integers(), max_size=2), st.booleans())
    maybe_text = st.one_of(text, text, text, odd)
    arguments = st.one_of(
        st.sampled_from(['{', '"cmd"', ':', '"ls"', '}', '{"cmd":"ls"}', '{"input":"*** Begin Patch\\n*** End Patch"}',
                         '{"patch":"x"}', '"raw"', "", "[1]"]),
        text,
    )
    function = st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.sampled_from(["exec_command", "apply_patch", "multi_agent_v1__spawn_agent", "", "f"]), odd),
        "arguments": st.one_of(arguments, arguments, odd),
    })
    fragment = st.fixed_dictionaries({}, optional={
        "index": st.one_of(st.integers(0, 2), st.integers(0, 2), odd),
        "id": st.one_of(st.sampled_from(["call_a", "call_b", "call_c", ""]), odd),
        "type": st.just("function"),
        "function": st.one_of(function, function, odd),
    })
    delta = st.fixed_dictionaries({}, optional={
        "role": st.just("assistant"),
        "reasoning_content": maybe_text,
        "reasoning": maybe_text,
        "content": maybe_text,
        "refusal": st.one_of(st.none(), text),
        "tool_calls": st.one_of(st.lists(fragment, min_size=1, max_size=3), odd),
    })
    finish = st.sampled_from([None] * 8 + ["stop", "length", "tool_calls", "content_filter", "sensitive",
                                           "network_error", "", "function_call"])
    count = st.one_of(st.integers(-5, 2**60), st.integers(0, 500), st.floats(0, 1e6, allow_nan=False),
                      st.sampled_from(["12", "", "x1", None]))
    usage = st.fixed_dictionaries({}, optional={
        "prompt_tokens": count, "completion_tokens": count, "total_tokens": count, "input_tokens": count,
        "output_tokens": count, "prompt_cache_hit_tokens": count, "cached_tokens": count,
        "prompt_tokens_details": st.one_of(st.fixed_dictionaries({}, optional={"cached_tokens": count, "cache_write_tokens": count}), odd),
        "completion_tokens_details": st.one_of(st.fixed_dictionaries({}, optional={"reasoning_tokens": count}), odd),
    })
    choice = st.fixed_dictionaries(
        {"delta": st.one_of(delta, delta, delta, odd), "finish_reason": finish},
        optional={"index": st.sampled_from([0, 0, 0, 1, None]), "usage": st.one_of(usage, odd)},  # Kimi: usage on the choice
    )
    error = st.one_of(
        text,
        st.fixed_dictionaries({}, optional={
            "message": st.one_of(text, st.sampled_from(["maximum context length exceeded", "Rate limit reached", "quota"]), odd),
            "code": st.one_of(st.sampled_from([502, 429, "rate_limit_exceeded", "context_length_exceeded", "bad_gateway", ""]), odd),
            "type": st.one_of(st.sampled_from(["invalid_request_error", "rate_limit_error", "server_error"]), odd),
        }),
    )
    plain = st.lists(pieces, min_size=1, max_size=6).map("".join)
    names = st.sampled_from(["exec_command", "apply_patch", "multi_agent_v1__spawn_agent", "f"])
    # A realistic call: the first fragment names it (id optional), later ones carry arguments only.
    call_start = st.builds(
        lambda index, ident, name, args: {k: v for k, v in (("index", index), ("id", ident)) if v is not None}
        | {"type": "function", "function": {"name": name, "arguments": args}},
        st.sampled_from([0, 1, 2, None]), st.sampled_from(["call_a", "call_b", None]), names, arguments,
    )
    call_more = st.builds(
        lambda index, args: ({} if index is None else {"index": index}) | {"function": {"arguments": args}},
        st.sampled_from([0, 1, 2, None]), arguments,
    )
    simple_delta = st.one_of(
        st.fixed_dictionaries({"content": plain}), st.fixed_dictionaries({"content": plain}),
        st.fixed_dictionaries({"reasoning_content": plain}), st.fixed_dictionaries({"reasoning": plain}),
        st.fixed_dictionaries({"content": st.just(""), "reasoning_content": plain}),
        st.fixed_dictionaries({"refusal": plain}),
        st.fixed_dictionaries({"tool_calls": st.lists(fragment, min_size=1, max_size=2)}),
        st.fixed_dictionaries({"tool_calls": st.lists(call_start, min_size=1, max_size=2)}),
        st.fixed_dictionaries({"tool_calls": st.lists(call_more, min_size=1, max_size=2)}),
        st.fixed_dictionaries({"tool_calls": st.lists(call_more, min_size=1, max_size=2)}),
    )
    simple_chunk = st.builds(
        lambda delta, index: {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                              "choices": [{"index": index, "delta": delta, "finish_reason": None}]},
        simple_delta, st.sampled_from([0, 0, 0, 0, 1]),
    )
    chunk_obj = st.fixed_dictionaries(
        {"id": st.just("chatcmpl-1"), "object": st.just("chat.completion.chunk"), "choices": st.one_of(
            st.lists(choice, min_size=1, max_size=2), st.just([]), odd)},
        optional={"usage": st.one_of(usage, odd)},
    )
    return st, text, st.one_of(simple_chunk, simple_chunk, simple_chunk, chunk_obj), usage, error, finish


def chat_streams(errors: bool = True, max_chunks: int = 12) -> Any:
    """Strategy: a GeneratedStream (upstream SSE body + provider profile + tool_map)."""
    st, text, chunk_obj, usage, error, finish = _strategies()

    def encode(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")

    @st.composite
    def build(draw: Any) -> GeneratedStream:
        provider = draw(st.sampled_from(PROFILES))
        tool_map = draw(st.sampled_from([None, TOOL_MAP]))
        codes = set()
        events: List[bytes] = []
        for _ in range(draw(st.integers(0, max_chunks))):
            kind = draw(st.sampled_from(["chunk"] * 30 + ["usage", "comment", "malformed", "multiline"] + (["error"] if errors else [])))
            if kind == "chunk":
                events.append(b"data: " + encode(draw(chunk_obj)) + b"\n\n")
            elif kind == "multiline":
                # A payload split over two data lines at a token boundary: joined with "\n", still JSON.
                payload = encode(draw(chunk_obj)).replace(b', "', b',\ndata: "', 1)
                events.append(b"data: " + payload + b"\n\n")
            elif kind == "usage":
                events.append(b"data: " + encode({"choices": [], "usage": draw(usage)}) + b"\n\n")
            elif kind == "comment":
                events.append(draw(st.sampled_from([b": keep-alive\n\n", b":\n\n", b"event: ping\nid: 3\n\n", b"data:\n\n", b"retry: 5\n\n"])))
            elif kind == "malformed":
                events.append(draw(st.sampled_from([b"data: {bad\n\n", b"data: [1,2]\n\n", b"data: null\n\n", b'data: "s"\n\n',
                                                    b"data: NaN\n\n", b'data: {"choices":[{"delta":{"content":"\\ud800"}}]}\n\n',
                                                    b'data: {"usage":{"prompt_tokens":1e400}}\n\n', b"data\n\n"])))
            else:
                err = draw(error)
                if isinstance(err, dict) and isinstance(err.get("code"), str):
                    codes.add(err["code"])
                events.append(b"data: " + encode({"error": err}) + b"\n\n")
        end = draw(st.sampled_from(["finish+done"] * 3 + ["finish", "done", "eof", "finish+usage+done", "spaced-done"]))
        if end.startswith("finish"):
            reason = draw(finish.filter(lambda r: r is not None))
            events.append(b"data: " + encode({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}) + b"\n\n")
        if "usage" in end:
            events.append(b"data: " + encode({"choices": [], "usage": draw(usage)}) + b"\n\n")
        if end.endswith("done"):
            events.append(DONE if end != "spaced-done" else b"data:  [DONE] \n\n")
        body = b"".join(events)
        newline = draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]))
        if newline != b"\n":
            body = body.replace(b"\n", newline)
        if draw(st.booleans()) and body.endswith(newline * 2):
            body = body[: -len(newline)]  # no final blank line: the lenient end still dispatches it
        return GeneratedStream(body, provider, tool_map, frozenset(codes))

    return build()


def random_cuts(body: bytes) -> Any:
    """Strategy: sorted cut offsets into `body`."""
    from hypothesis import strategies as st

    if len(body) < 2:
        return st.just([])
    return st.lists(st.integers(1, len(body) - 1), max_size=20, unique=True).map(sorted)
