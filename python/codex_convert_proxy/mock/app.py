"""The mock upstream as a raw ASGI application (no framework: it is the benchmark's upstream too).

Which reply a chat request gets, first match wins:
1. `x-mock-scenario: NAME` header (or `?scenario=NAME`): that built-in scenario; it does not use
   up a script turn. An unknown name is a 400.
2. a script: its next turn (the last turn repeats).
3. model `mock-NAME` where NAME is a built-in scenario (or `long:N`).
4. an event count (`x-mock-events` header, `?events=`, or `--events`): `long:N`.
5. the server's default scenario (`--scenario`), else the default conversation.

Pacing and batching of stream events: `x-mock-pace-ms` / `?pace_ms=` (per request) > the turn's
`pace_ms` > the scenario's own pace > the server's `pace_ms`. `x-mock-batch` / `?batch=` > the
server's batch > one event per send when paced, else as many events as fit in 64 KiB per send.
`x-mock-event-bytes` / `?event_bytes=` sizes the text events of `long` streams.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl

from .chunks import (
    CUT,
    ID_PLACEHOLDER,
    Sleep,
    aggregate_completion,
    fill_chunk,
    new_completion_id,
    render_events,
)
from .scenarios import (
    ChatRequest,
    PlainReply,
    StreamReply,
    build_reply,
    parse_scenario,
    scenario_names,
)
from .script import ScriptError, check_script, load_script

__all__ = ["MockUpstreamApp", "create_app"]

Scope = Dict[str, Any]
Receive = Callable[[], Awaitable[Dict[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]

MAX_SEND_BYTES = 64 * 1024
_PLACEHOLDER = ID_PLACEHOLDER.encode()
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]
_MODELS = ["mock-model", "mock-reasoning", "mock-tool_call", "mock-apply_patch"]


class MockUpstreamApp:
    """ASGI callable. `requests` holds what `GET /_mock/requests` returns."""

    def __init__(
        self,
        script: Any = None,
        pace_ms: float = 0,
        *,
        scenario: Optional[str] = None,
        events: Optional[int] = None,
        event_bytes: Optional[int] = None,
        batch: Optional[int] = None,
        max_recorded: int = 1000,
    ) -> None:
        self.turns: Optional[List[dict]] = load_script(script) if script is not None else None
        self.next_turn = 0
        self.pace_ms = float(pace_ms or 0)
        if scenario is not None and parse_scenario(scenario) is None:
            raise ValueError(f"unknown mock scenario {scenario!r}; known: {', '.join(scenario_names())}")
        self.scenario = parse_scenario(scenario) if scenario else None
        self.events = events
        self.event_bytes = event_bytes
        self.batch = batch
        self.requests: Deque[dict] = deque(maxlen=max_recorded)

    # --- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        self.requests.clear()
        self.next_turn = 0

    def set_script(self, script: Any) -> None:
        self.turns = check_script(script) if script is not None else None
        self.reset()

    def _take_turn(self) -> Tuple[int, dict]:
        assert self.turns is not None
        index = min(self.next_turn, len(self.turns) - 1)
        self.next_turn += 1
        return index, self.turns[index]

    # --- ASGI ----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.endswith("/chat/completions"):
            if method != "POST":
                await _send_json(send, 405, _error_body("use POST", "invalid_request_error"))
                return
            await self._chat(scope, receive, send)
        elif path == "/health":
            await _send_json(send, 200, {"status": "ok"})
        elif path.endswith("/models") and method == "GET":
            created = int(time.time())
            data = [{"id": m, "object": "model", "created": created, "owned_by": "mock"} for m in _MODELS]
            await _send_json(send, 200, {"object": "list", "data": data})
        elif path == "/_mock/requests" and method == "GET":
            await _send_json(send, 200, list(self.requests))
        elif path == "/_mock/reset" and method == "POST":
            self.reset()
            await _send_json(send, 200, {"status": "reset"})
        elif path == "/_mock/script" and method == "POST":
            await self._load_script(receive, send)
        else:
            await _send_json(send, 404, _error_body(f"no route {method} {path}", "not_found_error"))

    async def _load_script(self, receive: Receive, send: Send) -> None:
        raw = await _read_body(receive)
        try:
            self.set_script(json.loads(raw) if raw.strip() else None)
        except (ValueError, ScriptError) as exc:
            await _send_json(send, 400, _error_body(f"bad script: {exc}", "invalid_request_error"))
            return
        await _send_json(send, 200, {"status": "loaded", "turns": len(self.turns or ())})

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await _read_body(receive)
        headers = _headers(scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append({"path": scope["path"], "headers": headers, "body": body})
        if not isinstance(body, dict):
            await _send_json(send, 400, _error_body("request body must be a JSON object", "invalid_request_error"))
            return

        def knob(name: str) -> Optional[str]:
            return headers.get("x-mock-" + name.replace("_", "-"), query.get(name, query.get("x-mock-" + name)))

        try:
            pace_override = _number(knob("pace_ms"), float)
            batch = _number(knob("batch"), int) or self.batch
            events = _number(knob("events"), int) or self.events
            event_bytes = _number(knob("event_bytes"), int) or self.event_bytes
        except ValueError as exc:
            await _send_json(send, 400, _error_body(str(exc), "invalid_request_error"))
            return

        req = ChatRequest(body, len(raw))
        created = int(time.time())
        chosen = knob("scenario")
        reply: Any
        label: str
        if chosen is not None:
            scenario = parse_scenario(chosen)
            if scenario is None:
                message = f"unknown mock scenario {chosen!r}; known: {', '.join(scenario_names())}"
                await _send_json(send, 400, _error_body(message, "invalid_request_error"))
                return
            reply, label = build_reply(scenario, req, created, events, event_bytes), chosen
        elif self.turns is not None:
            index, turn = self._take_turn()
            reply, label = _turn_reply(turn), f"turn:{index + 1}"
        else:
            scenario = parse_scenario(req.model[5:]) if req.model.startswith("mock-") else None
            if scenario is None and events:
                scenario = ("long", events)
            scenario = scenario or self.scenario
            reply = build_reply(scenario, req, created, events, event_bytes)
            label = "default" if scenario is None else ":".join(str(p) for p in scenario if p is not None)
        extra = [(b"x-mock-reply", label.encode("latin-1", "replace"))]

        if isinstance(reply, PlainReply):
            await _send_plain(send, reply, req.model, created, extra)
            return
        if not req.stream and reply.foldable:
            status, folded, cut = aggregate_completion(reply.events, req.model, created)
            if cut:
                await _send_cut_json(send, receive, folded, extra)
            else:
                await _send_json(send, status, folded, extra)
            return
        pace_ms = pace_override if pace_override is not None else reply.pace_ms
        if pace_ms is None:
            pace_ms = self.pace_ms
        ops = render_events(reply.events, req.model, created)
        await _write_stream(send, receive, ops, reply, pace_ms / 1000.0, batch, extra)


# --- replies -----------------------------------------------------------------------------------


def _turn_reply(turn: dict) -> Any:
    headers = {str(k): str(v) for k, v in (turn.get("headers") or {}).items()}
    if "stream" in turn:
        return StreamReply(
            list(turn["stream"]),
            pace_ms=turn.get("pace_ms"),
            status=turn.get("status", 200),
            headers=headers,
            foldable=False,
        )
    return PlainReply(turn.get("status", 200), turn.get("json"), headers, turn.get("text"))


async def _write_stream(
    send: Send,
    receive: Receive,
    ops: List[Any],
    reply: StreamReply,
    pace_s: float,
    batch: Optional[int],
    extra: List[Tuple[bytes, bytes]],
) -> None:
    """Write the stream: `batch` events per send, `pace_s` between sends; stop when the client goes."""
    completion_id = new_completion_id().encode()
    if not batch or batch < 1:
        batch = 1 if pace_s > 0 else len(ops) + 1  # unpaced: as much per send as MAX_SEND_BYTES allows
    headers = list(_SSE_HEADERS) + _encode_headers(reply.headers) + extra
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    # receive() returns once the client disconnects (or the response completes): checked per send
    # so a long paced stream stops instead of writing into the void.
    gone = asyncio.ensure_future(receive())
    try:
        pending: List[bytes] = []
        count = size = 0
        last = len(ops) - 1
        for i, op in enumerate(ops):
            if type(op) is bytes:
                pending.append(op)
                count += 1
                size += len(op)
                if count < batch and size < MAX_SEND_BYTES and i < last:
                    continue
                data = b"".join(pending).replace(_PLACEHOLDER, completion_id)
                pending.clear()
                count = size = 0
                if i == last:
                    await send({"type": "http.response.body", "body": data, "more_body": False})
                    return
                await send({"type": "http.response.body", "body": data, "more_body": True})
                if gone.done():
                    return
                if pace_s > 0:
                    await asyncio.sleep(pace_s)
                continue
            if pending:
                data = b"".join(pending).replace(_PLACEHOLDER, completion_id)
                pending.clear()
                count = size = 0
                await send({"type": "http.response.body", "body": data, "more_body": True})
            if op is CUT:
                await _abort_connection(receive)
                return
            if isinstance(op, Sleep):
                await asyncio.sleep(op.seconds)
            if gone.done():
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()


async def _send_plain(
    send: Send, reply: PlainReply, model: str, created: int, extra: List[Tuple[bytes, bytes]]
) -> None:
    headers = _encode_headers(reply.headers) + extra
    if reply.text is not None and reply.json is None:
        body = reply.text.encode("utf-8")
        await _send_bytes(send, reply.status, body, b"text/plain; charset=utf-8", headers)
        return
    payload = reply.json
    if reply.status == 200 and isinstance(payload, dict) and "choices" in payload:
        payload = fill_chunk(payload, model, created, obj="chat.completion")
        if payload["id"] == ID_PLACEHOLDER:
            payload["id"] = new_completion_id()
    await _send_json(send, reply.status, payload if payload is not None else {}, headers)


async def _send_cut_json(send: Send, receive: Receive, body: dict, extra: List[Tuple[bytes, bytes]]) -> None:
    """A non-stream reply that dies mid-body: Content-Length promised, half sent, connection closed."""
    data = json.dumps(body or {"choices": [{"message": {"content": "x" * 64}}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())] + extra
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": data[: len(data) // 2], "more_body": True})
    await _abort_connection(receive)


async def _abort_connection(receive: Receive) -> None:
    """Close the connection mid-response, as a dying upstream does.

    Returning without finishing the body makes uvicorn close the socket, but it also logs an
    error. When the server is uvicorn, close its transport directly and wait until it notices, so a
    scripted cut stays quiet; any other server still gets the plain early return.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected"):
        return
    transport.close()
    for _ in range(200):
        if cycle.disconnected:
            return
        await asyncio.sleep(0.005)


# --- small helpers -----------------------------------------------------------------------------


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _headers(scope: Scope) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        found[key] = f"{found[key]}, {text}" if key in found else text
    return found


def _number(value: Optional[str], kind: type) -> Any:
    if value is None or value == "":
        return None
    try:
        number = kind(value)
    except ValueError:
        raise ValueError(f"bad mock knob value {value!r}") from None
    if number < 0:
        raise ValueError(f"mock knob values must be >= 0, got {value!r}")
    return number


def _encode_headers(headers: Dict[str, str]) -> List[Tuple[bytes, bytes]]:
    return [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]


def _error_body(message: str, etype: str, code: Any = None) -> dict:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


async def _send_json(send: Send, status: int, body: Any, headers: Optional[list] = None) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await _send_bytes(send, status, data, b"application/json", headers or [])


async def _send_bytes(send: Send, status: int, data: bytes, ctype: bytes, headers: list) -> None:
    has_type = any(name == b"content-type" for name, _ in headers)
    base = [(b"content-length", str(len(data)).encode())]
    if not has_type:
        base.insert(0, (b"content-type", ctype))
    await send({"type": "http.response.start", "status": status, "headers": base + headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})


def create_app(script: Any = None, pace_ms: float = 0, **options: Any) -> MockUpstreamApp:
    """The mock upstream ASGI app. `script`: a path to a JSON script, `{"turns": [...]}` or a list
    of turns; options: scenario, events, event_bytes, batch, max_recorded."""
    return MockUpstreamApp(script, pace_ms, **options)
