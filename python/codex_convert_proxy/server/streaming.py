"""The hot path: relay an upstream Chat Completions SSE stream to the client as Responses SSE.

Per upstream read: one `readany()`, one `translator.feed(chunk)` (bytes in, bytes out; all the
events produced by that read come back as one bytes object), and one ASGI `send` (skipped when
the engine produced nothing). No Python object per event, no log line per event. A side task
writes the translator's keep-alive event (`response.in_progress`) when nothing was sent for
`keepalive_seconds`; the request's
DisconnectGuard cancels this coroutine when the client goes away, and the `finally` closes the
upstream response so its connection is dropped at once.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, List, Optional

import aiohttp

from .asgi import RawHeaders, Send

__all__ = ["KeepAlive", "StreamOutcome", "relay_stream", "relay_passthrough"]

class KeepAlive:
    """After `interval` seconds without output, sends the translator's keep-alive event (a
    `response.in_progress` snapshot: Codex's idle timer ignores SSE comments, and it keeps
    intermediaries from timing out too). `interval` 0 disables it.

    The relay marks `busy` while one of its sends is in flight: the keep-alive event carries the
    next sequence number, so it must not overtake output that was already produced.
    """

    __slots__ = ("send", "make", "interval", "last", "busy", "task", "loop", "sent")

    def __init__(self, send: Send, make: Callable[[], bytes], interval: float) -> None:
        self.send = send
        self.make = make
        self.interval = interval
        self.loop = asyncio.get_running_loop()
        self.last = self.loop.time()
        self.busy = False
        self.sent = 0
        self.task: Optional[asyncio.Task] = (
            self.loop.create_task(self._run()) if interval > 0 else None)

    async def _run(self) -> None:
        interval = self.interval
        while True:
            wait = self.last + interval - self.loop.time()
            if wait > 0 or self.busy:
                await asyncio.sleep(wait if wait > 0 else interval)
                continue
            try:
                body = self.make()
                if not body:  # the stream is over
                    return
                await self.send({"type": "http.response.body", "body": body, "more_body": True})
            except Exception:  # noqa: BLE001 - client gone or engine fault: the relay sees it
                return
            self.sent += 1
            self.last = self.loop.time()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None


class StreamOutcome:
    """How a relayed stream ended (for the log line and metrics)."""

    __slots__ = ("how", "error", "keepalives")

    def __init__(self) -> None:
        self.how = "in_progress"  # done | eof | cut | timeout | engine_error
        self.error: Optional[str] = None
        self.keepalives = 0


async def relay_stream(send: Send, resp: aiohttp.ClientResponse, translator: Any,
                       headers: RawHeaders, keepalive_seconds: float, read_timeout: float,
                       guard: Any, outcome: StreamOutcome,
                       dump: Optional[List[bytes]] = None) -> None:
    """Relay one upstream SSE response through `translator` to the client.

    The response status/headers go out first, then `translator.start()` (response.created and
    in_progress) in the same moment, so the client sees the stream begin as soon as the
    upstream answered. Upstream read errors after this point end the stream in-band (the
    translator emits response.failed / the terminal event); they never raise.
    """
    keepalive: Optional[KeepAlive] = None
    feed = translator.feed
    read = resp.content.readany
    loop = asyncio.get_running_loop()
    tail = b""
    try:  # the finally releases (or, unless finished, closes) the upstream response
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        first = translator.start()
        if dump is not None:
            dump.append(first)
        await send({"type": "http.response.body", "body": first, "more_body": True})
        keepalive = KeepAlive(send, translator.keepalive, keepalive_seconds)
        try:
            while True:
                chunk = await read()
                if not chunk:
                    outcome.how = "eof"
                    break
                try:
                    out = feed(chunk)
                except Exception as exc:  # noqa: BLE001 - engine fault: ends this stream only
                    raise _EngineFault(exc) from exc
                if out:
                    if dump is not None:
                        dump.append(out)
                    keepalive.busy = True
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                    keepalive.busy = False
                    keepalive.last = loop.time()
                if translator.done:
                    outcome.how = "done"
                    break
            if not translator.done:
                tail = _safe(translator.finish, outcome)
        except asyncio.TimeoutError:
            outcome.how = "timeout"
            outcome.error = f"upstream sent nothing for {read_timeout:g} s (read timeout)"
            tail = _safe(lambda: translator.fail("server_error", outcome.error), outcome)
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            # The upstream connection broke. Like EOF: the translator knows whether the stream
            # had reached a finish_reason (then it is complete) or not (then response.failed).
            outcome.how = "cut"
            outcome.error = f"{type(exc).__name__}: {exc}"
            tail = _safe(translator.finish, outcome)
    except _EngineFault as fault:
        outcome.how = "engine_error"
        outcome.error = f"{type(fault.cause).__name__}: {fault.cause}"
        tail = _safe(lambda: translator.fail("server_error", "internal conversion error"), outcome)
    finally:
        if keepalive is not None:
            outcome.keepalives = keepalive.sent
            keepalive.stop()
        if outcome.how == "in_progress":  # cancelled (client gone) or shutting down
            resp.close()
        else:
            resp.release()
    if dump is not None and tail:
        dump.append(tail)
    guard.finished = True
    await send({"type": "http.response.body", "body": tail, "more_body": False})


class _EngineFault(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _safe(call: Any, outcome: StreamOutcome) -> bytes:
    """finish()/fail() output; b"" (the stream just closes) if the engine itself is broken."""
    try:
        return call()
    except Exception as exc:  # noqa: BLE001
        outcome.how = "engine_error"
        outcome.error = f"{type(exc).__name__}: {exc}"
        return b""


async def relay_passthrough(send: Send, resp: aiohttp.ClientResponse, headers: RawHeaders,
                            guard: Any) -> bool:
    """Relay an upstream reply unchanged (status, headers, body bytes as they arrive).
    Returns False when the upstream broke off mid-body (the client connection is then closed
    without a clean end, so the client sees the truncation)."""
    read = resp.content.readany
    complete = False
    try:
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        while True:
            chunk = await read()
            if not chunk:
                complete = True
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError):
        complete = False
    finally:
        if complete:
            resp.release()
        else:
            resp.close()
    if complete:
        guard.finished = True
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    return complete
