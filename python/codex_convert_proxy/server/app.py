"""The proxy application: a thin Starlette router over a raw ASGI proxy handler.

`create_app` builds a Starlette `Router` (not the full `Starlette` app, whose error and exception
middlewares wrap every `send`): `GET /health` and `GET /metrics` are ordinary Starlette
endpoints; every other path goes to `ProxyApp`, which handles `POST /v1/responses` and
`/responses` (also under a backend's path_prefix) by conversion and passes other `/v1/*` requests
through. That path is plain ASGI — no middleware, no Request/Response objects — and responses are
written with `send` directly (REFERENCE §10: each layer costs per send).

Every request is answered and logged exactly once: errors before the first byte become a real
status with an OpenAI-style JSON body; an exception in one request never reaches another one,
and never reaches the client as a traceback.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import time
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.routing import Router as StarletteRouter

import codex_convert_proxy as ccp

from .asgi import (ClientGone, DisconnectGuard, RawHeaders, Receive, Scope, Send,
                   read_body, send_response)
from .auth import SECRET_HEADERS, ClientAuth
from .config import Backend, Config, parse_config
from .errors import ProxyError, from_upstream, retry_after_seconds
from .log import LOGGER_NAME, BodyDumper, setup_logging
from .metrics import METRICS_DIR_ENV, Metrics, SnapshotSync
from .routing import RESPONSES, UNSUPPORTED, Router, request_model  # backend routing
from .store import STORE_DIR_ENV, ConversationStore, SharedDirStore
from .streaming import StreamOutcome, relay_passthrough, relay_stream
from .upstream import PER_REQUEST_DECOMPRESS, AttemptStats, Upstream

__all__ = ["ProxyApp", "asgi_app", "create_app", "app_from_env", "CONFIG_ENV"]

CONFIG_ENV = "CODEX_CONVERT_PROXY_CONFIG_JSON"  # how `serve --workers N` hands workers the config

_JSON = [(b"content-type", b"application/json")]
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
# The converted request's echo (engine contract §4) ends with the request's own `store` field,
# so this tells `"store": false` without parsing the request again.
_ECHO_STORE_FALSE = b'"store":false}'
_METRIC_CODE = re.compile(r"^[a-z0-9_]{1,40}$")
_HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate",
                         b"proxy-authorization", b"te", b"trailer", b"transfer-encoding",
                         b"upgrade", b"host", b"content-length"})
# Pass-through replies keep their body bytes, so Content-Length stays valid; when aiohttp had
# to decompress (old versions), length and encoding no longer describe the relayed bytes.
_PASS_RESPONSE_DROP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"trailer",
                                 b"upgrade", b"proxy-authenticate", b"set-cookie"})
_PASS_RESPONSE_DROP_DECODED = _PASS_RESPONSE_DROP | {b"content-encoding", b"content-length"}


class RequestLog:
    """What the request log line says; filled in as the request goes."""

    __slots__ = ("method", "path", "route", "backend", "status", "response_id", "stream",
                 "started", "ttfb", "events", "degraded", "outcome", "retries", "detail",
                 "keepalives")

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.route = "other"
        self.backend = "-"
        self.status = 0
        self.response_id = "-"
        self.stream: Optional[bool] = None
        self.started = time.monotonic()
        self.ttfb: Optional[float] = None
        self.events = 0
        self.degraded: Tuple[str, ...] = ()
        self.outcome = "-"
        self.retries = 0
        self.detail: Optional[str] = None
        self.keepalives = 0


class ProxyApp:
    """ASGI app: `await app(scope, receive, send)`. One instance per worker process."""

    def __init__(self, config: Config, *, engine: Optional[str] = None) -> None:
        self.config = config
        self.engine = engine or config.engine  # None: the package default (rust when built)
        ccp._engines.resolve_engine(self.engine)  # fail now, not on the first request
        self.log = logging.getLogger(LOGGER_NAME)
        self.metrics = Metrics()
        store_dir = os.environ.get(STORE_DIR_ENV)  # set by `serve --workers N`
        self.store: Any = (SharedDirStore if store_dir else ConversationStore)(
            *((store_dir,) if store_dir else ()), config.conversation_max_entries,
            config.conversation_max_bytes, config.conversation_ttl_seconds)
        self.auth = ClientAuth(config.client_api_keys)
        self.router = Router(config.backends)
        self.upstreams: Dict[str, Upstream] = {
            b.name: Upstream(b, config.retries, self.metrics, config.trust_env)
            for b in config.backends}
        self.dumper: Optional[BodyDumper] = None
        if config.log_body:
            secrets = [b.api_key for b in config.backends if b.api_key]
            secrets += list(config.client_api_keys)
            self.dumper = BodyDumper(config.log_dir or "logs", secrets)
        metrics_dir = os.environ.get(METRICS_DIR_ENV)
        self.sync = SnapshotSync(self.metrics, metrics_dir) if metrics_dir else None

    # ------------------------------------------------------------------ ASGI entry point
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # websocket and others: not served (returning without accepting closes them)

    def startup(self) -> None:
        if self.sync is not None:
            self.sync.start()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.close()
        if self.sync is not None:
            self.sync.stop()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        rl = RequestLog(method, path)
        guard = DisconnectGuard(receive)
        try:
            try:
                await self._proxy(scope, receive, send, rl, guard)
            except asyncio.CancelledError as exc:
                guard.absorb(exc)  # re-raises unless the client went away
                rl.outcome = "client_disconnect"
                rl.status = rl.status or 499
                if rl.route == RESPONSES:
                    self.metrics.inc("ccp_client_disconnects_total", (rl.backend,))
            except ClientGone:
                rl.outcome = "client_disconnect"
                rl.status = 499
            except ProxyError as err:
                await self._send_error(send, rl, err, guard)
            except Exception as exc:  # noqa: BLE001 - one request's bug stays in that request
                self.log.exception("internal error on %s %s", method, path)
                if rl.status == 0:
                    await self._send_error(send, rl, ProxyError(
                        500, f"internal proxy error ({type(exc).__name__})", "server_error",
                        "internal_error", kind="internal"), guard)
                else:
                    rl.outcome = "internal_error"
        finally:
            guard.stop()
            self._finish(rl)

    async def _send_error(self, send: Send, rl: RequestLog, err: ProxyError,
                          guard: DisconnectGuard) -> None:
        rl.status = err.status
        rl.outcome = err.kind
        rl.detail = err.message
        guard.finished = True
        headers = err.headers()
        if err.status == 413:
            headers.append((b"connection", b"close"))  # the rest of the body was not read
        await send_response(send, err.status, err.body(), headers)

    def _finish(self, rl: RequestLog) -> None:
        duration = time.monotonic() - rl.started
        self.metrics.inc("ccp_requests_total", (rl.backend, rl.route, str(rl.status)))
        for feature in rl.degraded:
            self.metrics.inc("ccp_degraded_total", (feature,))
        path = rl.path if rl.path.isprintable() and " " not in rl.path else json.dumps(rl.path)
        parts = [f"{rl.method} {path} status={rl.status} backend={rl.backend} "
                 f"route={rl.route} id={rl.response_id} ms={duration * 1000:.0f}"]
        if rl.stream is not None:
            parts.append(f"stream={int(rl.stream)}")
        if rl.ttfb is not None:
            parts.append(f"ttfb_ms={rl.ttfb * 1000:.0f}")
        if rl.events:
            parts.append(f"events={rl.events}")
        if rl.retries:
            parts.append(f"retries={rl.retries}")
        if rl.keepalives:
            parts.append(f"keepalives={rl.keepalives}")
        parts.append(f"outcome={rl.outcome}")
        if rl.degraded:
            parts.append("degraded=" + ",".join(rl.degraded))
        if rl.detail:
            parts.append(f"detail={json.dumps(rl.detail[:500], ensure_ascii=False)}")
        level = logging.WARNING if rl.status >= 500 or rl.outcome in (
            "engine_error", "internal_error") else logging.INFO
        self.log.log(level, " ".join(parts))

    def render_metrics(self) -> bytes:
        """Prometheus text: this worker's live numbers plus the other workers' snapshots."""
        self.metrics.set("ccp_conversation_store_entries", len(self.store))
        self.metrics.set("ccp_conversation_store_bytes", self.store.bytes)
        others: List[Any] = []
        if self.sync is not None:
            self.sync.write()
            others = self.sync.others()
        return self.metrics.render(others)

    # ------------------------------------------------------------------ proxied requests
    async def _proxy(self, scope: Scope, receive: Receive, send: Send, rl: RequestLog,
                     guard: DisconnectGuard) -> None:
        route = self.router.route(rl.path)
        if route is None:
            raise ProxyError(404, f"Invalid URL ({rl.method} {rl.path})", "invalid_request_error",
                             "unknown_url", kind="not_found")
        rl.route = route.kind
        headers: RawHeaders = scope["headers"]
        if not self.auth.allows(headers):
            raise ProxyError(401, "Incorrect API key provided: the proxy requires one of its "
                                  "client_api_keys (Authorization: Bearer KEY)",
                             "invalid_request_error", "invalid_api_key", kind="auth")
        if route.kind == UNSUPPORTED:
            raise ProxyError(404, "stored responses cannot be retrieved, cancelled or deleted "
                                  "through this proxy (its upstream speaks Chat Completions)",
                             "invalid_request_error", "unsupported_endpoint", kind="not_found")
        if route.kind == RESPONSES and rl.method != "POST":
            raise ProxyError(405, f"{rl.method} is not allowed on {rl.path}; use POST",
                             "invalid_request_error", "method_not_allowed", kind="method")

        body = await read_body(receive, headers, self.config.max_body_bytes)
        guard.start()  # from here on a client disconnect cancels this task

        backend = route.backend
        if backend is None:
            model = request_model(body) if self.router.needs_model and body else None
            backend = self.router.select(headers, model)
        rl.backend = backend.name
        upstream = self.upstreams[backend.name]
        if route.kind != RESPONSES:
            return await self._passthrough(scope, send, body, backend, upstream, route.rest, rl,
                                           guard)
        # A stream may run for minutes: hand the body over instead of keeping a reference here,
        # so that _responses can let it go once the upstream has it (a Codex request is ~40 KB).
        handed = [body]
        del body
        await self._responses(send, handed, backend, upstream, rl, guard)

    async def _responses(self, send: Send, handed: List[bytes], backend: Backend,
                         upstream: Upstream, rl: RequestLog, guard: DisconnectGuard) -> None:
        body = handed.pop()
        store = self.store
        if b'"previous_response_id"' in body:
            body = self._expand_previous(body, backend)
        try:
            req = ccp.convert_request(body, backend.provider, model=backend.model,
                                      engine=self.engine)
        except ccp.ConversionError as exc:
            raise ProxyError(400, str(exc), "invalid_request_error", None,
                             kind="bad_request") from None
        want_store = store.enabled and not req.echo.endswith(_ECHO_STORE_FALSE)
        rl.stream = req.stream
        rl.degraded = tuple(req.degraded)
        chat_body: bytes = req
        if backend.extra_body:
            chat_body = _merge_extra_body(chat_body, backend.extra_body)

        response_id = ccp.new_response_id()
        created_at = int(time.time())
        rl.response_id = response_id
        dump = self.dumper
        if dump is not None:
            dump.write(response_id, "request.json", body)
            dump.write(response_id, "upstream-request.json", chat_body)

        translator = None
        if req.stream:  # before the upstream call: an engine fault must not strand a response
            translator = ccp.StreamTranslator(backend.provider, req.model, response_id,
                                              created_at, self.engine, tool_map=req.tool_map,
                                              echo=req.echo)
        stats = AttemptStats()
        try:
            resp = await upstream.send("POST", upstream.chat_url, chat_body,
                                       upstream.chat_headers(req.stream), stream=req.stream,
                                       stats=stats)
        finally:
            rl.ttfb = stats.ttfb
            rl.retries = stats.retries
        upstream_started = time.monotonic() - (stats.ttfb or 0.0)

        extra = [(b"x-ccp-backend", backend.name.encode())]
        if translator is not None:
            content_type = resp.headers.get("Content-Type", "")
            if content_type.startswith("application/json"):
                # Some gateways answer a stream request with a JSON error and status 200.
                raw = await _read_all(resp)
                raise _error_in_ok_body(raw, backend.name)
            headers = _SSE_HEADERS + extra
            if req.degraded:
                headers = headers + [(b"x-ccp-degraded", ",".join(req.degraded).encode())]
            # The upstream has the request now; only a stored conversation needs it again.
            kept = body if want_store else b""
            del body, chat_body, req
            outcome = StreamOutcome()
            rl.status = 200
            chunks: Optional[List[bytes]] = [] if dump is not None else None
            self.metrics.inc("ccp_active_streams")
            try:
                await relay_stream(send, resp, translator, headers, self.config.keepalive_seconds,
                                   backend.timeouts.read, guard, outcome, chunks)
            finally:
                self.metrics.inc("ccp_active_streams", (), -1)
                rl.keepalives = outcome.keepalives
                self.metrics.observe("ccp_upstream_duration_seconds",
                                     time.monotonic() - upstream_started, (backend.name,))
                if outcome.how != "in_progress":  # not cancelled: the translator has its story
                    self._stream_done(translator, outcome, rl, backend)
                if dump is not None and chunks:
                    dump.write(response_id, "response.sse", b"".join(chunks))
            if want_store and translator.status in ("completed", "incomplete"):
                response = translator.response or {}
                self._remember(backend, response_id, kept, response.get("output", []))
            return

        # Non-streaming.
        try:
            raw = await _read_all(resp)
        except asyncio.TimeoutError:
            raise ProxyError(504, f"upstream '{backend.name}' did not finish within "
                                  f"{backend.timeouts.total:g} s", "server_error",
                             "upstream_timeout", kind="timeout") from None
        except aiohttp.ClientError as exc:
            raise ProxyError(502, f"upstream '{backend.name}' broke off its reply: {exc}",
                             "server_error", "upstream_error", kind="upstream_5xx") from None
        finally:
            self.metrics.observe("ccp_upstream_duration_seconds",
                                 time.monotonic() - upstream_started, (backend.name,))
        if b'"error"' in raw[:4096] and b'"choices"' not in raw:
            raise _error_in_ok_body(raw, backend.name)
        try:
            out = ccp.convert_response(raw, backend.provider, model=req.model,
                                       response_id=response_id, created_at=created_at,
                                       engine=self.engine, tool_map=req.tool_map, echo=req.echo)
        except ccp.ConversionError as exc:
            raise ProxyError(502, f"upstream '{backend.name}' returned a reply that is not a "
                                  f"chat completion: {exc}", "server_error", "upstream_error",
                             kind="upstream_5xx") from None
        rl.degraded = _unique(rl.degraded + tuple(out.degraded))
        headers = _JSON + extra
        if rl.degraded:
            headers.append((b"x-ccp-degraded", ",".join(rl.degraded).encode()))
        if dump is not None:
            dump.write(response_id, "response.json", bytes(out))
        rl.status = 200
        rl.outcome = "completed"
        guard.finished = True
        await send_response(send, 200, out, headers)
        if want_store:
            try:
                response = json.loads(out)
            except ValueError:
                response = {}
            if response.get("status") in ("completed", "incomplete"):
                rl.outcome = response["status"]
                self._remember(backend, response_id, body, response.get("output", []))
            elif response.get("status"):
                rl.outcome = str(response["status"])

    def _stream_done(self, translator: Any, outcome: StreamOutcome, rl: RequestLog,
                     backend: Backend) -> None:
        counts = translator.event_counts()
        rl.events = sum(counts.values())
        for event_type, count in counts.items():
            self.metrics.inc("ccp_events_total", (event_type,), count)
        rl.degraded = _unique(rl.degraded + tuple(translator.degraded))
        status = translator.status
        rl.outcome = status if outcome.how in ("done", "eof") else f"{status}:{outcome.how}"
        if outcome.error:
            rl.detail = outcome.error
        if status == "failed":
            response = translator.response or {}
            error = response.get("error") or {}
            code = str(error.get("code") or "server_error")
            # The code comes from the upstream: keep the label set small and clean.
            label = code if _METRIC_CODE.match(code) else "other"
            self.metrics.inc("ccp_stream_failures_total", (backend.name, label))
            if not rl.detail:
                rl.detail = f"{code}: {error.get('message', '')}"

    # ------------------------------------------------------------------ previous_response_id
    def _expand_previous(self, body: bytes, backend: Backend) -> bytes:
        """Prepend the stored conversation to the request's input (the body to convert)."""
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ProxyError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ProxyError(400, "request body must be a JSON object")
        previous = data.get("previous_response_id")
        if previous is None:
            return body
        if not isinstance(previous, str) or not previous:
            raise ProxyError(400, "previous_response_id must be a non-empty string",
                             param="previous_response_id")
        entry = self.store.get(backend.name, previous)
        if entry is None:
            raise ProxyError(400, f"Previous response with id '{previous}' not found.",
                             "invalid_request_error", "previous_response_not_found",
                             "previous_response_id", kind="bad_request")
        history = _input_items(json.loads(entry[0])) + json.loads(entry[1])
        data["input"] = history + _input_items(data)
        del data["previous_response_id"]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _remember(self, backend: Backend, response_id: str, request_body: bytes,
                  output: Any) -> None:
        """Keep what a follow-up with previous_response_id needs: the request body (its input,
        already expanded) and the output items, as JSON text."""
        output_json = json.dumps(output, ensure_ascii=False,
                                 separators=(",", ":")).encode("utf-8")
        if not self.store.put(backend.name, response_id, request_body, output_json):
            self.log.warning("response %s not stored for previous_response_id: %d bytes is "
                             "over conversation_max_bytes", response_id,
                             len(request_body) + len(output_json))

    # ------------------------------------------------------------------ pass-through
    async def _passthrough(self, scope: Scope, send: Send, body: bytes, backend: Backend,
                           upstream: Upstream, rest: str, rl: RequestLog,
                           guard: DisconnectGuard) -> None:
        url = backend.passthrough_url(rest)
        query = scope.get("query_string") or b""
        if query:
            url += "?" + query.decode("latin-1")
        headers: Dict[str, str] = {}
        for name, value in scope["headers"]:
            if name in _HOP_BY_HOP or name in SECRET_HEADERS:
                continue  # the client's credentials never go upstream
            headers[name.decode("latin-1")] = value.decode("latin-1")
        headers["user-agent"] = headers.get("user-agent", "codex-convert-proxy")
        for key, value in upstream.auth_headers.items():
            headers[key.lower()] = value
        for key, value in upstream.extra_headers.items():
            headers[key.lower()] = value
        if backend.model and body and rest.endswith("completions"):
            body = _override_model(body, backend.model)
        stream = b'"stream":true' in body.replace(b" ", b"") if body else False
        stats = AttemptStats()
        try:
            resp = await upstream.send(rl.method, url, body or None, headers, stream=True,
                                       raise_for_status=False, auto_decompress=False,
                                       stats=stats)
        finally:
            rl.ttfb = stats.ttfb
            rl.retries = stats.retries
        rl.stream = stream
        rl.status = resp.status
        drop = _PASS_RESPONSE_DROP if PER_REQUEST_DECOMPRESS else _PASS_RESPONSE_DROP_DECODED
        out_headers = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                       for k, v in resp.headers.items()
                       if k.lower().encode("latin-1") not in drop]
        out_headers.append((b"x-ccp-backend", backend.name.encode()))
        complete = await relay_passthrough(send, resp, out_headers, guard)
        rl.outcome = "relayed" if complete else "upstream_cut"


# ---------------------------------------------------------------------- helpers


async def _read_all(resp: aiohttp.ClientResponse) -> bytes:
    try:
        return await resp.read()
    finally:
        resp.release()


def _error_in_ok_body(raw: bytes, backend: str) -> ProxyError:
    """An HTTP 200 whose body is an error object (or not a chat completion at all)."""
    err = from_upstream(502, raw, None, backend)
    if err.code == "context_length_exceeded":
        err.status = 400
        err.type = "invalid_request_error"
    elif err.code in ("rate_limit_exceeded", "insufficient_quota"):
        seconds = retry_after_seconds(None, err.message)
        err.status, err.type = 429, "rate_limit_error" if err.code == "rate_limit_exceeded" \
            else "insufficient_quota"
        err.retry_after = str(max(1, math.ceil(seconds))) if seconds else "1"
    err.message = err.message.replace("HTTP 502", "HTTP 200 with an error body", 1)
    return err


def _input_items(data: Dict[str, Any]) -> List[Any]:
    value = data.get("input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return list(value)
    raise ProxyError(400, "input must be a string or a list of items", param="input")


def _merge_extra_body(chat_body: bytes, extra: Dict[str, Any]) -> bytes:
    data = json.loads(chat_body)
    data.update(extra)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _override_model(body: bytes, model: str) -> bytes:
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not isinstance(data, dict) or "model" not in data:
        return body
    data["model"] = model
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _unique(names: Tuple[str, ...]) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(names))


# ---------------------------------------------------------------------- factories


def create_app(config: Config, *, engine: Optional[str] = None) -> StarletteRouter:
    """The ASGI application for uvicorn: Starlette routing in front of the proxy handler."""
    return asgi_app(ProxyApp(config, engine=engine))


def asgi_app(proxy: ProxyApp) -> StarletteRouter:
    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def metrics(request: Request) -> Response:
        return Response(proxy.render_metrics(),
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):  # type: ignore[no-untyped-def]
        proxy.startup()
        try:
            yield
        finally:
            await proxy.aclose()

    router = StarletteRouter(
        routes=[
            Route("/health", health, methods=["GET", "HEAD"]),
            Route("/metrics", metrics, methods=["GET"]),
            # A class instance, not a function: Starlette hands it the raw ASGI call.
            Route("/{path:path}", proxy),
        ],
        lifespan=lifespan,
    )
    router.proxy = proxy  # type: ignore[attr-defined]  # for tests and the CLI
    return router


def app_from_env() -> StarletteRouter:
    """uvicorn factory for worker processes (`serve --workers N`): the CLI put the validated
    config in $CODEX_CONVERT_PROXY_CONFIG_JSON."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start workers with `codex-convert-proxy "
                           "serve --workers N`")
    config = parse_config(json.loads(raw), "<serve --workers>")
    setup_logging(config.log_level, config.log_dir)
    return create_app(config)
