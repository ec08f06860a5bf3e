"""Helpers for stream tests: build upstream chunks, run a translator, read and check its events."""
from __future__ import annotations

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


def translate(
    engine: str,
    body: bytes,
    provider: str = "openai",
    splits: Optional[Sequence[int]] = None,
    tool_map: Optional[bytes] = None,
    echo: Optional[bytes] = None,
    model: str = "test-model",
) -> "Result":
    """Run one upstream body through a translator, cut at `splits` (offsets), then finish()."""
    t = ccp.StreamTranslator(provider, model, RID, CREATED, engine=engine, tool_map=tool_map, echo=echo)
    out = t.start()
    last = 0
    for cut in sorted(splits or ()):
        out += t.feed(body[last:cut])
        last = cut
    out += t.feed(body[last:])
    out += t.finish()
    return Result(out, t)


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


def check_invariants(events: List[Dict[str, Any]]) -> None:
    """The REFERENCE §3 rules every stream must keep, whatever the upstream sent."""
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[1]["type"] == "response.in_progress"
    terminals = [e for e in events if e["type"] in ("response.completed", "response.incomplete", "response.failed")]
    assert len(terminals) == 1 and terminals[0] is events[-1]
    added: Dict[int, Dict[str, Any]] = {}
    done: Dict[int, Dict[str, Any]] = {}
    for e in events:
        if "delta" in e:
            assert isinstance(e["delta"], str) and e["delta"] != "", e
        if e["type"] == "response.output_item.added":
            assert e["output_index"] == len(added), "output_index must count up from 0"
            added[e["output_index"]] = e["item"]
        elif e["type"] == "response.output_item.done":
            assert e["output_index"] in added and e["output_index"] not in done
            assert e["item"]["id"] == added[e["output_index"]]["id"]
            done[e["output_index"]] = e["item"]
        elif "output_index" in e:
            index = e["output_index"]
            assert index in added and index not in done, f"{e['type']} for an item not open"
            if "item_id" in e:
                assert e["item_id"] == added[index]["id"]
    final = events[-1]["response"]
    assert final["output"] == [done[i] for i in sorted(done)]
    if final.get("usage") is not None:
        usage = final["usage"]
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            assert type(usage[key]) is int
        assert type(usage["input_tokens_details"]["cached_tokens"]) is int
        assert type(usage["input_tokens_details"]["cache_write_tokens"]) is int
        assert type(usage["output_tokens_details"]["reasoning_tokens"]) is int


def validate_with_sdk(events: Iterable[Dict[str, Any]]) -> Any:
    """Validate every event against the openai SDK types and run the SDK's stream accumulator.

    Returns the response the SDK accumulator built. Error codes that Codex needs but the SDK's
    Literal does not list are checked against CODEX_ERROR_CODES and swapped for "server_error"
    for the strict validation only.
    """
    from openai import omit
    from openai.lib.streaming.responses._responses import ResponseStreamState
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    adapter = TypeAdapter(ResponseStreamEvent)
    state = ResponseStreamState(input_tools=omit, text_format=omit)
    final = None
    for raw in events:
        event = raw
        error = (raw.get("response") or {}).get("error")
        if error is not None and error.get("code") in CODEX_ERROR_CODES:
            event = json.loads(json.dumps(raw))
            event["response"]["error"]["code"] = "server_error"
        parsed = adapter.validate_python(event)
        for produced in state.handle_event(parsed):
            if produced.type in ("response.completed", "response.incomplete", "response.failed"):
                final = produced.response
    return final
