"""Chat Completions chunk builders and event rendering for the mock upstream.

A reply stream is a list of *events* in the script vocabulary of MOCK_SCRIPT.md:
a chunk object (dict, sent as ``data: <json>``), a string (sent as ``data: <string>``),
``{"sleep_ms": N}``, ``{"raw": "text"}`` (written as-is) or ``{"cut": True}``.
Built-in scenarios produce the same vocabulary as scripts, so both go through one writer.
"""
from __future__ import annotations

import json
import re
import secrets
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

__all__ = [
    "ID_PLACEHOLDER",
    "DONE",
    "Sleep",
    "CUT",
    "new_completion_id",
    "delta_chunk",
    "role_chunk",
    "finish_chunk",
    "usage_chunk",
    "usage_object",
    "text_chunks",
    "reasoning_chunks",
    "split_words",
    "split_even",
    "tool_call_chunks",
    "fill_chunk",
    "is_control_event",
    "render_events",
    "aggregate_completion",
]

# Chunks that omit "id" get this placeholder at render time; the writer swaps in the stream's real
# id with one bytes.replace per send, so a pre-rendered (cached) stream can be served many times.
ID_PLACEHOLDER = "chatcmpl-{{MOCK_COMPLETION_ID}}"
DONE = "[DONE]"

_CONTROL_KEYS = frozenset({"sleep_ms", "raw", "cut"})
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Sleep:
    """A pause in a rendered stream (seconds)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Sleep({self.seconds})"


class _Cut:
    """Marks where the connection is closed abruptly."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "CUT"


CUT = _Cut()
Op = Union[bytes, Sleep, _Cut]


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


# --- chunk builders ---------------------------------------------------------------------------


def delta_chunk(delta: Dict[str, Any], finish_reason: Optional[str] = None, index: int = 0) -> dict:
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}]}


def role_chunk() -> dict:
    return delta_chunk({"role": "assistant", "content": ""})


def finish_chunk(reason: str = "stop") -> dict:
    return delta_chunk({}, reason)


def usage_object(
    prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, reasoning_tokens: int = 0
) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }


def usage_chunk(
    prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, reasoning_tokens: int = 0
) -> dict:
    """The usage-only chunk (``choices: []``) that follows the finish chunk."""
    return {
        "choices": [],
        "usage": usage_object(prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens),
    }


_WORD_RE = re.compile(r"\S+\s*|\s+")


def split_words(text: str, words_per_piece: int = 2) -> List[str]:
    """Split text like a tokenizer would stream it: a few words per piece, nothing lost."""
    words = _WORD_RE.findall(text)
    return ["".join(words[i : i + words_per_piece]) for i in range(0, len(words), words_per_piece)]


def split_even(text: str, pieces: int) -> List[str]:
    """Split text into `pieces` parts of about equal length (arbitrary cut points, like JSON
    arguments are really streamed)."""
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    out, start = [], 0
    for i in range(pieces):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return [p for p in out if p] or [text]


def text_chunks(text: str, words_per_piece: int = 2) -> List[dict]:
    return [delta_chunk({"content": piece}) for piece in split_words(text, words_per_piece)]


def reasoning_chunks(text: str, field: str = "reasoning_content", words_per_piece: int = 3) -> List[dict]:
    return [delta_chunk({field: piece}) for piece in split_words(text, words_per_piece)]


def tool_call_chunks(
    calls: Sequence[Tuple[str, str, str]], pieces: int = 4, interleave: bool = False
) -> List[dict]:
    """Tool-call deltas as OpenAI streams them.

    `calls` are (call_id, name, arguments JSON text). The first fragment of each call carries
    `index`, `id`, `type` and `function.name` with empty arguments; the arguments follow split over
    `pieces` fragments that carry only `index` and `function.arguments`. With `interleave`, the
    calls' fragments alternate (parallel calls), otherwise each call is streamed in turn.
    """
    per_call: List[List[dict]] = []
    for index, (call_id, name, arguments) in enumerate(calls):
        frags = [
            {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
        ]
        for part in split_even(arguments, pieces):
            frags.append({"index": index, "function": {"arguments": part}})
        per_call.append(frags)
    ordered: List[dict] = []
    if interleave:
        for step in range(max(len(f) for f in per_call)):
            ordered.extend(f[step] for f in per_call if step < len(f))
    else:
        for frags in per_call:
            ordered.extend(frags)
    return [delta_chunk({"tool_calls": [frag]}) for frag in ordered]


# --- rendering --------------------------------------------------------------------------------


def is_control_event(ev: Any) -> bool:
    return isinstance(ev, dict) and bool(ev) and _CONTROL_KEYS.issuperset(ev)


def fill_chunk(chunk: dict, model: str, created: int, obj: str = "chat.completion.chunk") -> dict:
    """The chunk with `id`, `object`, `created`, `model` first, filled in where missing."""
    filled = {
        "id": chunk.get("id", ID_PLACEHOLDER),
        "object": chunk.get("object", obj),
        "created": chunk.get("created", created),
        "model": chunk.get("model", model),
    }
    for key, value in chunk.items():
        if key not in filled:
            filled[key] = value
    return filled


def render_events(events: Iterable[Any], model: str, created: int) -> List[Op]:
    """Events (script vocabulary, or already-rendered bytes) → writer operations."""
    ops: List[Op] = []
    for ev in events:
        if isinstance(ev, (bytes, bytearray)):
            ops.append(bytes(ev))
        elif isinstance(ev, str):
            ops.append(b"data: " + ev.encode("utf-8") + b"\n\n")
        elif is_control_event(ev):
            if ev.get("cut"):
                ops.append(CUT)
            if "raw" in ev:
                ops.append(str(ev["raw"]).encode("utf-8"))
            if "sleep_ms" in ev:
                ops.append(Sleep(float(ev["sleep_ms"]) / 1000.0))
        elif isinstance(ev, dict):
            ops.append(b"data: " + _dumps(fill_chunk(ev, model, created)).encode("utf-8") + b"\n\n")
        else:
            raise ValueError(f"unsupported stream event: {ev!r}")
    return ops


# --- non-stream replies -----------------------------------------------------------------------


def aggregate_completion(events: Sequence[Any], model: str, created: int) -> Tuple[int, dict, bool]:
    """Fold a built-in reply stream into what the same upstream answers without streaming.

    Returns (status, JSON body, cut). An error chunk becomes that error, with its numeric code as
    the status when it is one (else 502); a cut becomes `cut=True` (the connection dies mid-body).
    """
    reasoning: List[str] = []
    content: List[str] = []
    refusal: List[str] = []
    calls: Dict[int, dict] = {}
    finish_reason: Optional[str] = None
    usage: Optional[dict] = None
    for ev in events:
        if is_control_event(ev):
            if ev.get("cut"):
                return 200, {}, True
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("error") is not None:
            code = ev["error"].get("code") if isinstance(ev["error"], dict) else None
            status = code if isinstance(code, int) and 400 <= code <= 599 else 502
            return status, {"error": ev["error"]}, False
        if isinstance(ev.get("usage"), dict):
            usage = ev["usage"]
        for choice in ev.get("choices") or ():
            delta = choice.get("delta") or {}
            for field in ("reasoning_content", "reasoning"):
                if isinstance(delta.get(field), str):
                    reasoning.append(delta[field])
            if isinstance(delta.get("content"), str):
                content.append(delta["content"])
            if isinstance(delta.get("refusal"), str):
                refusal.append(delta["refusal"])
            for frag in delta.get("tool_calls") or ():
                call = calls.setdefault(
                    frag.get("index", len(calls)),
                    {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
                )
                if frag.get("id"):
                    call["id"] = frag["id"]
                fn = frag.get("function") or {}
                if fn.get("name"):
                    call["function"]["name"] = fn["name"]
                call["function"]["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason") and finish_reason is None:
                finish_reason = choice["finish_reason"]
    message: Dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if refusal:
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    body = {
        "id": new_completion_id(),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason or "stop"}],
    }
    if usage is not None:
        body["usage"] = usage
    return 200, body, False
