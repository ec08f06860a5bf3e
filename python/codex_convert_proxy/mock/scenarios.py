"""Built-in mock scenarios: what the mock upstream answers when no script turn applies.

A scenario looks at the parsed chat request and returns a reply: a `PlainReply` (status + JSON)
or a `StreamReply` (events in the MOCK_SCRIPT.md vocabulary; the app renders them, or folds
them into one `chat.completion` for a non-stream request).
"""
from __future__ import annotations

import json
import re
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from .chunks import (
    DONE,
    delta_chunk,
    finish_chunk,
    fill_chunk,
    new_completion_id,
    reasoning_chunks,
    role_chunk,
    text_chunks,
    tool_call_chunks,
    usage_chunk,
)

__all__ = [
    "ChatRequest",
    "PlainReply",
    "StreamReply",
    "SCENARIOS",
    "scenario_names",
    "parse_scenario",
    "build_reply",
    "default_conversation",
    "long_stream",
    "APPLY_PATCH_INPUT",
]

APPLY_PATCH_INPUT = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"
SLOW_PACE_MS = 150.0
DEFAULT_LONG_EVENTS = 100


@dataclass
class PlainReply:
    status: int
    json: Any = None
    headers: Dict[str, str] = field(default_factory=dict)
    text: Optional[str] = None  # body text when not JSON


@dataclass
class StreamReply:
    events: List[Any]
    pace_ms: Optional[float] = None  # scenario's own pacing (None: the server default)
    status: int = 200
    headers: Dict[str, str] = field(default_factory=dict)
    # A stream built by a scenario may also be answered without streaming (folded into one
    # chat.completion); a scripted stream is always served as written.
    foldable: bool = True


# --- the request, as the scenarios see it -------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


class ChatRequest:
    """The facts about a chat request that the built-in scenarios use."""

    def __init__(self, body: Any, raw_len: int) -> None:
        self.body = body if isinstance(body, dict) else {}
        model = self.body.get("model")
        self.model = model if isinstance(model, str) and model else "mock-model"
        self.stream = self.body.get("stream") is True
        messages = self.body.get("messages")
        self.messages = [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []
        self.prompt_tokens = max(1, raw_len // 4)

    @property
    def last_role(self) -> Optional[str]:
        return self.messages[-1].get("role") if self.messages else None

    @property
    def last_user_text(self) -> str:
        """The last user message's last text part (Codex puts its environment context in earlier
        parts/messages; the prompt comes last)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, list):
                    texts = [_text_of([part]) for part in content]
                    texts = [t for t in texts if t.strip()]
                    return texts[-1] if texts else ""
                return _text_of(content)
        return ""

    def trailing_tool_outputs(self) -> List[str]:
        """Contents of the tool messages at the end of the conversation (parallel calls: several)."""
        outputs = []
        for message in reversed(self.messages):
            if message.get("role") != "tool":
                break
            outputs.append(_text_of(message.get("content")))
        return outputs[::-1]

    def tools(self) -> List[dict]:
        """Offered function tools as {"name", "parameters"} (Chat or Responses shape)."""
        if self.body.get("tool_choice") == "none":
            return []
        tools = self.body.get("tools")
        found = []
        for tool in tools if isinstance(tools, list) else ():
            if not isinstance(tool, dict):
                continue
            fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
            name = fn.get("name")
            if isinstance(name, str) and name:
                params = fn.get("parameters")
                found.append({"name": name, "parameters": params if isinstance(params, dict) else {}})
        return found


# --- text helpers ------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tokens(text: str) -> int:
    return (len(text) + 3) // 4


def extract_command(text: str) -> str:
    """The shell command a user asked to run: `backticked`, else "echo …", else "run …"."""
    m = re.search(r"`([^`\n]+)`", text)
    if m:
        return m.group(1).strip()
    stop = r"(?=\s+and\s|\s+then\s|[.!?;,](?:\s|$)|\n|$)"
    for pattern in (r"\b(echo\b[^\n]*?)" + stop, r"\brun\s+([^\n]+?)" + stop):
        m = re.search(pattern, text, re.IGNORECASE)
        if m and m.group(1).strip():
            return m.group(1).strip().strip("\"'")
    return "echo hello"


def _arguments_for(tool: dict, command: str) -> str:
    """Plausible arguments for a tool, from its JSON schema."""
    props = tool["parameters"].get("properties")
    props = props if isinstance(props, dict) else {}
    required = tool["parameters"].get("required")
    required = [r for r in required if isinstance(r, str)] if isinstance(required, list) else []
    args: Dict[str, Any] = {}
    if tool["name"] == "exec_command" or "cmd" in props:
        args["cmd"] = command
    elif "command" in props:
        kind = props["command"].get("type") if isinstance(props["command"], dict) else None
        args["command"] = ["bash", "-lc", command] if kind == "array" else command
    elif "input" in props:
        args["input"] = command
    for name in required:
        if name not in args:
            spec = props.get(name) if isinstance(props.get(name), dict) else {}
            kind = spec.get("type")
            args[name] = {"integer": 1, "number": 1, "boolean": False, "array": [], "object": {}}.get(
                kind, "hello"
            )
    return json.dumps(args, ensure_ascii=False)


# --- building blocks ---------------------------------------------------------------------------


def _usage(req: ChatRequest, reasoning: str = "", text: str = "", arguments: str = "") -> dict:
    reasoning_tokens = _tokens(reasoning)
    completion = reasoning_tokens + _tokens(text) + _tokens(arguments) + 1
    # Providers cache whole blocks of the prompt prefix; a long Codex prompt is mostly cached.
    cached = (req.prompt_tokens * 3 // 4) // 64 * 64 if req.prompt_tokens >= 1024 else 0
    return usage_chunk(req.prompt_tokens, completion, cached, reasoning_tokens)


def _text_stream(req: ChatRequest, text: str, reasoning: str = "", finish: str = "stop") -> List[Any]:
    events: List[Any] = [role_chunk()]
    if reasoning:
        events += reasoning_chunks(reasoning)
    events += text_chunks(text)
    events += [finish_chunk(finish), _usage(req, reasoning, text), DONE]
    return events


def _tool_stream(req: ChatRequest, reasoning: str, calls: List[tuple], interleave: bool = False) -> List[Any]:
    events: List[Any] = [role_chunk()]
    if reasoning:
        events += reasoning_chunks(reasoning)
    events += tool_call_chunks(calls, pieces=4, interleave=interleave)
    arguments = "".join(c[2] for c in calls)
    events += [finish_chunk("tool_calls"), _usage(req, reasoning, "", arguments), DONE]
    return events


def _call_id(req: ChatRequest, n: int) -> str:
    # Unique per call, like real providers' ids (Codex matches tool outputs by call_id).
    return "call_" + secrets.token_hex(12)


def _answer_texts(req: ChatRequest) -> tuple:
    said = _clip(req.last_user_text, 120) or "(nothing)"
    reasoning = (
        f"The user wrote: “{said}”. There is nothing to run, so I will answer directly, "
        "briefly and in plain words."
    )
    text = (
        f"Hello from the mock upstream! You said: “{said}”. This answer is streamed in small "
        "chunks, after a short reasoning phase, and ends with a usage chunk."
    )
    return reasoning, text


# --- scenarios -------------------------------------------------------------------------------


def scenario_text(req: ChatRequest) -> StreamReply:
    return StreamReply(_text_stream(req, _answer_texts(req)[1]))


def scenario_reasoning(req: ChatRequest) -> StreamReply:
    reasoning, text = _answer_texts(req)
    return StreamReply(_text_stream(req, text, reasoning))


def scenario_tool_answer(req: ChatRequest) -> StreamReply:
    outputs = req.trailing_tool_outputs()
    quoted = "\n\n".join(_clip_block(o) for o in outputs) or "(empty)"
    plural = "s" if len(outputs) > 1 else ""
    text = f"The tool{plural} returned:\n\n```\n{quoted}\n```\n\nThat is the output, quoted verbatim."
    reasoning = f"The tool call{plural} finished. I will quote the output for the user."
    return StreamReply(_text_stream(req, text, reasoning))


def _clip_block(text: str, limit: int = 2000) -> str:
    text = text.strip("\n")
    return text if len(text) <= limit else text[:limit] + "\n…"


def scenario_tool_call(req: ChatRequest) -> StreamReply:
    tools = req.tools()
    tool = next((t for t in tools if t["name"] == "exec_command"), tools[0] if tools else None)
    tool = tool or {"name": "exec_command", "parameters": {}}
    command = extract_command(req.last_user_text)
    reasoning = f"The user wants me to run `{command}`. I'll call {tool['name']} and report the output."
    call = (_call_id(req, 0), tool["name"], _arguments_for(tool, command))
    return StreamReply(_tool_stream(req, reasoning, [call]))


def scenario_parallel_tool_calls(req: ChatRequest) -> StreamReply:
    calls = [
        (_call_id(req, 0), "exec_command", json.dumps({"cmd": "echo first-call"})),
        (_call_id(req, 1), "exec_command", json.dumps({"cmd": "echo second-call"})),
    ]
    reasoning = "Two independent commands: I'll run both at once."
    return StreamReply(_tool_stream(req, reasoning, calls, interleave=True))


def scenario_apply_patch(req: ChatRequest) -> StreamReply:
    arguments = json.dumps({"input": APPLY_PATCH_INPUT})
    reasoning = "I'll create hello.txt containing `hi` with apply_patch."
    return StreamReply(_tool_stream(req, reasoning, [(_call_id(req, 0), "apply_patch", arguments)]))


def scenario_think_tags(req: ChatRequest) -> StreamReply:
    # MiniMax style: reasoning inline in content, with tags split across chunks.
    pieces = ["<thi", "nk>The user greets me", ". A short", " friendly reply is best.</th", "ink>", "\n\n",
              "Hello! ", "The reasoning above ", "came inside ", "<think> tags."]
    events: List[Any] = [role_chunk()] + [delta_chunk({"content": p}) for p in pieces]
    events += [finish_chunk("stop"), _usage(req, "".join(pieces[:4]), "".join(pieces[5:])), DONE]
    return StreamReply(events)


def _error(status: int, message: str, etype: str, code: Any, headers: Optional[dict] = None) -> PlainReply:
    body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    return PlainReply(status, body, headers or {})


def scenario_error_429(req: ChatRequest) -> PlainReply:
    return _error(
        429,
        "Rate limit reached for requests per minute. Please try again in 1s.",
        "rate_limit_error",
        "rate_limit_exceeded",
        {"Retry-After": "1"},
    )


def scenario_error_500(req: ChatRequest) -> PlainReply:
    return _error(
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    )


CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 65536 tokens. However, you requested 81234 tokens "
    "(77138 in the messages, 4096 in the completion). Please reduce the length of the messages "
    "or completion."
)


def scenario_context_length(req: ChatRequest) -> PlainReply:
    # What most providers do: a 400 before any byte of stream.
    return _error(400, CONTEXT_LENGTH_MESSAGE, "invalid_request_error", "context_length_exceeded")


def scenario_context_length_stream(req: ChatRequest) -> StreamReply:
    # What routers do when the failure happens after the 200: an error chunk inside the stream.
    events = [role_chunk(), {"error": {"message": CONTEXT_LENGTH_MESSAGE, "type": "invalid_request_error",
                                       "code": 400}}]
    return StreamReply(events)


def scenario_cut(req: ChatRequest) -> StreamReply:
    reasoning, text = _answer_texts(req)
    events: List[Any] = [role_chunk()] + reasoning_chunks(reasoning) + text_chunks(text)[:4]
    events.append({"cut": True})
    return StreamReply(events)


def scenario_in_stream_error(req: ChatRequest) -> StreamReply:
    # OpenRouter style: HTTP 200, some output, then an error chunk with a numeric code.
    events: List[Any] = [role_chunk()] + text_chunks("Let me check that for you. One moment")
    events.append(
        {
            "error": {"message": "Upstream provider returned an error: Bad Gateway", "code": 502},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        }
    )
    return StreamReply(events)


def scenario_slow(req: ChatRequest) -> StreamReply:
    reply = scenario_reasoning(req)
    reply.pace_ms = SLOW_PACE_MS
    return reply


def scenario_refusal(req: ChatRequest) -> StreamReply:
    events: List[Any] = [role_chunk()]
    events += [delta_chunk({"refusal": p}) for p in ["I'm sorry, ", "but I can't ", "help with that."]]
    events += [finish_chunk("stop"), _usage(req, "", "I'm sorry, but I can't help with that."), DONE]
    return StreamReply(events)


def scenario_length(req: ChatRequest) -> StreamReply:
    text = "This answer is cut short because it reached the maximum number of output"
    return StreamReply(_text_stream(req, text, finish="length"))


def scenario_no_done(req: ChatRequest) -> StreamReply:
    events = scenario_text(req).events
    return StreamReply(events[:-1])  # finish and usage, then EOF without [DONE]


# --- long streams (benchmarks) ----------------------------------------------------------------

_VOCAB = (
    "the quick brown fox jumps over a lazy dog while streaming tokens arrive one by one from "
    "an upstream model through the proxy into codex which renders every delta as soon as it "
    "can so users see text appear smoothly and nothing waits for the end of answer"
).split()  # 53 words: a prime count, so the stride below never repeats a word back to back
_PROSE = (
    "Streaming tokens arrive one by one from the upstream model; the proxy turns each chat "
    "completion chunk into Responses events without waiting for the end of the answer. "
    "Benchmarks measure events per second, added latency and CPU per thousand events. "
)


def _long_piece(i: int, size: Optional[int]) -> str:
    if size is None:
        word = _VOCAB[(i * 17 + 3) % len(_VOCAB)]
        return word + (". " if i % 13 == 12 else " ")
    start = (i * 37) % len(_PROSE)
    text = _PROSE * (size // len(_PROSE) + 2)
    return text[start : start + size]


_LONG_CACHE: "OrderedDict[tuple, List[bytes]]" = OrderedDict()
_LONG_CACHE_MAX = 16


def long_stream(n: int, model: str, created: int, event_bytes: Optional[int] = None) -> List[bytes]:
    """Pre-rendered events of a long text stream: role, N text deltas, finish, usage, [DONE].

    Cached per (n, model, event_bytes): the benchmark asks for the same stream hundreds of times,
    and rendering 5,000 chunks costs tens of ms. Chunks carry ID_PLACEHOLDER as their id.
    `event_bytes` sizes each text event (`data: …\\n\\n`) to about that many bytes.
    """
    key = (n, model, event_bytes)
    cached = _LONG_CACHE.get(key)
    if cached is not None:
        _LONG_CACHE.move_to_end(key)
        return cached
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def render(chunk: dict) -> bytes:
        return b"data: " + encode(fill_chunk(chunk, model, created)).encode("utf-8") + b"\n\n"

    size = None
    if event_bytes:
        overhead = len(render(delta_chunk({"content": ""})))
        size = max(1, event_bytes - overhead)
    events = [render(role_chunk())]
    events += [render(delta_chunk({"content": _long_piece(i, size)})) for i in range(n)]
    completion = n if size is None else n * max(1, size // 4)
    events += [render(finish_chunk("stop")), render(usage_chunk(64, completion)), b"data: [DONE]\n\n"]
    _LONG_CACHE[key] = events
    if len(_LONG_CACHE) > _LONG_CACHE_MAX:
        _LONG_CACHE.popitem(last=False)
    return events


def long_completion(n: int, req: ChatRequest, created: int, event_bytes: Optional[int] = None) -> dict:
    """The non-stream counterpart of long_stream: one chat.completion holding all N pieces."""
    size = max(1, event_bytes - 160) if event_bytes else None
    text = "".join(_long_piece(i, size) for i in range(n))
    return {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage_chunk(req.prompt_tokens, _tokens(text))["usage"],
    }


# --- selection ---------------------------------------------------------------------------------

Scenario = Callable[[ChatRequest], Any]

SCENARIOS: Dict[str, Scenario] = {
    "text": scenario_text,
    "reasoning": scenario_reasoning,
    "tool_call": scenario_tool_call,
    "parallel_tool_calls": scenario_parallel_tool_calls,
    "apply_patch": scenario_apply_patch,
    "think_tags": scenario_think_tags,
    "error_429": scenario_error_429,
    "error_500": scenario_error_500,
    "cut": scenario_cut,
    "in_stream_error": scenario_in_stream_error,
    "context_length": scenario_context_length,
    "slow": scenario_slow,
    # extras beyond MOCK_SCRIPT.md's list
    "context_length_stream": scenario_context_length_stream,
    "refusal": scenario_refusal,
    "length": scenario_length,
    "no_done": scenario_no_done,
    "tool_answer": scenario_tool_answer,
}


def scenario_names() -> List[str]:
    return list(SCENARIOS) + ["long:N"]


def parse_scenario(name: str) -> Optional[tuple]:
    """("NAME", None) for a built-in, ("long", N or None) for long[:N]; None when unknown."""
    name = name.strip()
    if name == "long":
        return ("long", None)
    if name.startswith("long:"):
        count = name[5:].strip()
        if count.isdigit():
            return ("long", int(count))
        return None
    if name in SCENARIOS:
        return (name, None)
    return None


_RUN_WORDS = re.compile(r"\b(?:run|echo)\b", re.IGNORECASE)


def default_conversation(req: ChatRequest) -> Any:
    """The reply chosen from the request when nothing else picks one (MOCK_SCRIPT.md)."""
    if req.last_role == "tool":
        return scenario_tool_answer(req)
    if req.tools() and _RUN_WORDS.search(req.last_user_text):
        return scenario_tool_call(req)
    return scenario_reasoning(req)


def build_reply(
    scenario: Optional[tuple],
    req: ChatRequest,
    created: int,
    events: Optional[int] = None,
    event_bytes: Optional[int] = None,
) -> Any:
    if scenario is None:
        return default_conversation(req)
    name, count = scenario
    if name == "long":
        n = count if count is not None else (events or DEFAULT_LONG_EVENTS)
        if not req.stream:
            return PlainReply(200, long_completion(n, req, created, event_bytes))
        return StreamReply(list(long_stream(n, req.model, created, event_bytes)))
    return SCENARIOS[name](req)
