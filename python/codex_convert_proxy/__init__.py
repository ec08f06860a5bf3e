"""codex-convert-proxy: run Responses API clients (Codex CLI, the OpenAI SDKs) on Chat Completions providers.

The conversion engine has two implementations with byte-identical output: the Rust extension
(`codex_convert_proxy._rust`, the fast path) and a pure-Python twin (`codex_convert_proxy.engine`).
This module is the public API over both; see docs/engine-contract.md for the exact rules.
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Any, Callable, Dict, Optional, Tuple

from ._engines import ENV_VAR, available_engines, resolve_engine, rust_engine
from .errors import ConversionError
from .providers import get_profile, profile_names

__version__ = "0.2.0"

__all__ = [
    "ENV_VAR",
    "ChatRequest",
    "ConversionError",
    "ResponseBody",
    "StreamTranslator",
    "available_engines",
    "convert_request",
    "convert_response",
    "new_response_id",
    "profile_names",
]


def new_response_id() -> str:
    return "resp_" + secrets.token_hex(12)


class ChatRequest(bytes):
    """The Chat Completions request body (bytes), with what the conversion learned on the way.

    degraded: features dropped or degraded (e.g. "tool:web_search"); tool_map and echo: pass them
    to StreamTranslator / convert_response; stream: whether the client asked for SSE; model: the
    model sent upstream.
    """

    degraded: Tuple[str, ...]
    tool_map: bytes
    echo: bytes
    stream: bool
    model: str


class ResponseBody(bytes):
    """A Responses API response object (bytes), with the features the conversion degraded."""

    degraded: Tuple[str, ...]


def convert_request(
    body: bytes, provider: str, *, model: Optional[str] = None, engine: Optional[str] = None
) -> ChatRequest:
    """Responses request JSON → Chat Completions request JSON. Raises ConversionError."""
    if resolve_engine(engine) == "rust":
        chat, degraded, tool_map, echo, stream, model_out = rust_engine.convert_request(
            bytes(body), provider, model
        )
    else:
        from .engine.request import convert_request as convert

        chat, degraded, tool_map, echo, stream, model_out = convert(bytes(body), get_profile(provider), model)
    result = ChatRequest(chat)
    result.degraded = tuple(degraded)
    result.tool_map = bytes(tool_map)
    result.echo = bytes(echo)
    result.stream = bool(stream)
    result.model = model_out
    return result


def convert_response(
    body: bytes,
    provider: str,
    *,
    model: Optional[str] = None,
    response_id: Optional[str] = None,
    created_at: Optional[int] = None,
    engine: Optional[str] = None,
    tool_map: Optional[bytes] = None,
    echo: Optional[bytes] = None,
) -> ResponseBody:
    """A non-streaming chat.completion JSON → Responses object JSON. Raises ConversionError."""
    rid = response_id or new_response_id()
    created = int(time.time()) if created_at is None else int(created_at)
    if resolve_engine(engine) == "rust":
        out, degraded = rust_engine.convert_response(bytes(body), provider, model, rid, created, tool_map, echo)
    else:
        from .engine.response import convert_response as convert

        out, degraded = convert(bytes(body), get_profile(provider), model, rid, created, tool_map, echo)
    result = ResponseBody(out)
    result.degraded = tuple(degraded)
    return result


class StreamTranslator:
    """Translate one upstream Chat Completions SSE body into Responses API SSE, as it streams.

    `feed(bytes) -> bytes` takes any slice of the upstream body (one network read) and returns the
    Responses SSE bytes it completes; `finish()` marks the upstream EOF and returns the closing
    events with exactly one terminal event (`response.completed`, `.incomplete` or `.failed`).
    Bad upstream data never raises: it is skipped and reported in `degraded`, or fails the stream
    in-band with `response.failed`.
    """

    start: Callable[[], bytes]  # response.created + response.in_progress (once)
    feed: Callable[[bytes], bytes]
    finish: Callable[[], bytes]
    fail: Callable[[str, str], bytes]  # a server-side failure: response.failed unless done
    keepalive: Callable[[], bytes]  # a response.in_progress event for long upstream silences
    event_counts: Callable[[], Dict[str, int]]

    def __init__(
        self,
        provider: str,
        model: str,
        response_id: Optional[str] = None,
        created_at: Optional[int] = None,
        engine: Optional[str] = None,
        *,
        tool_map: Optional[bytes] = None,
        echo: Optional[bytes] = None,
    ) -> None:
        self.engine = resolve_engine(engine)
        self.provider = provider
        self.model = model
        self.response_id = response_id or new_response_id()
        self.created_at = int(time.time()) if created_at is None else int(created_at)
        if self.engine == "rust":
            impl: Any = rust_engine.StreamTranslator(
                provider, model, self.response_id, self.created_at, tool_map, echo
            )
        else:
            from .engine.stream import Translator

            impl = Translator(get_profile(provider), model, self.response_id, self.created_at, tool_map, echo)
        self._impl = impl
        self._response: Optional[Dict[str, Any]] = None
        # The hot path goes straight to the engine: no wrapper frame per network read.
        self.start = impl.start
        self.feed = impl.feed
        self.finish = impl.finish
        self.fail = impl.fail
        self.keepalive = impl.keepalive
        self.event_counts = impl.event_counts

    @property
    def done(self) -> bool:
        return bool(self._impl.done)

    @property
    def status(self) -> str:
        return str(self._impl.status)

    @property
    def degraded(self) -> Tuple[str, ...]:
        return tuple(self._impl.degraded)

    @property
    def response(self) -> Optional[Dict[str, Any]]:
        """The Response object sent in the terminal event (None before the end)."""
        if self._response is None:
            raw = self._impl.terminal_response
            if raw is not None:
                self._response = json.loads(raw)
        return self._response

    @property
    def terminal_response(self) -> Optional[bytes]:
        raw = self._impl.terminal_response
        return None if raw is None else bytes(raw)
