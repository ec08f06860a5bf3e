"""Non-streaming Chat Completions response → Responses object (engine contract §5).

The completed chat message is restated as one stream chunk and run through the stream translator,
so streaming and non-streaming replies follow exactly the same rules (think tags, tool kinds,
usage, finish reasons) and the Rust engine can do the same.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

from ..errors import ConversionError
from ..providers import Profile
from .jsonw import dumps, loads
from .stream import Translator

__all__ = ["convert_response"]

_DELTA_KEYS = ("reasoning_content", "reasoning", "content", "refusal")


def _as_chunk(data: dict) -> dict:
    """The single stream chunk equivalent to a whole chat.completion object."""
    error = data.get("error")
    if type(error) is dict or type(error) is str:
        return {"error": error}
    choices = data.get("choices")
    choice = None
    if type(choices) is list:
        for candidate in choices:
            if type(candidate) is dict:
                index = candidate.get("index")
                if index is None or (type(index) is int and index == 0):
                    choice = candidate
                    break
    if choice is None:
        raise ConversionError("upstream response has no choices")
    message = choice.get("message")
    if type(message) is not dict:
        message = {}
    delta: dict = {}
    for key in _DELTA_KEYS:
        if key in message:
            delta[key] = message[key]
    content = delta.get("content")
    if type(content) is list:  # some servers return content parts even here
        delta["content"] = "".join(
            part["text"] for part in content if type(part) is dict and type(part.get("text")) is str
        )
    calls = message.get("tool_calls")
    if type(calls) is list:
        delta["tool_calls"] = [
            {"index": position, "id": call.get("id"), "function": call.get("function")}
            for position, call in enumerate(calls)
            if type(call) is dict
        ]
    finish = choice.get("finish_reason")
    if not (type(finish) is str and finish):
        finish = "stop"  # a whole, non-streamed reply is complete by definition
    chunk: dict = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    usage = data.get("usage")
    if type(usage) is dict:
        chunk["usage"] = usage
    return chunk


def convert_response(
    body: bytes,
    profile: Profile,
    model: Optional[str],
    response_id: str,
    created_at: int,
    tool_map: Optional[bytes] = None,
    echo: Optional[bytes] = None,
) -> Tuple[bytes, List[str]]:
    data = loads(body, "upstream response")
    if type(data) is not dict:
        raise ConversionError("upstream response is not a JSON object")
    if model is None:
        upstream_model = data.get("model")
        model = upstream_model if type(upstream_model) is str else ""
    translator = Translator(profile, model, response_id, created_at, tool_map, echo)
    translator.feed_payload(dumps(_as_chunk(data)))
    translator.end_of_stream()
    terminal = translator.terminal_response
    assert terminal is not None  # end_of_stream always terminates
    return terminal, list(translator.degraded)
