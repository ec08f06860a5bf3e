"""Small raw-ASGI helpers: read a bounded request body, send a whole response, watch for the
client going away."""
from __future__ import annotations

import asyncio
import sys
import zlib
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

from .errors import ProxyError

__all__ = ["ClientGone", "DisconnectGuard", "header", "read_body", "send_response"]

Scope = Dict[str, Any]
Receive = Callable[[], Awaitable[Dict[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]
RawHeaders = List[Tuple[bytes, bytes]]


class ClientGone(Exception):
    """The client disconnected before we could answer."""


def header(headers: RawHeaders, name: bytes) -> Optional[bytes]:
    for key, value in headers:
        if key == name:
            return value
    return None


async def read_body(receive: Receive, headers: RawHeaders, limit: int) -> bytes:
    """The whole request body, decoded from gzip/deflate/zstd, at most `limit` bytes.

    Raises ProxyError 413 as soon as the declared or received (or decompressed) size passes
    the limit, without reading the rest.
    """
    declared = header(headers, b"content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _too_large(limit)
        except ValueError:
            raise ProxyError(400, "invalid Content-Length header") from None
    chunks: List[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    encoding = header(headers, b"content-encoding")
    if encoding is not None:
        body = _decode(body, encoding.strip().lower(), limit)
    return body


def _too_large(limit: int) -> ProxyError:
    return ProxyError(413, f"request body is larger than max_body_bytes ({limit} bytes)",
                      "invalid_request_error", "request_too_large", kind="too_large")


def _decode(body: bytes, encoding: bytes, limit: int) -> bytes:
    if encoding in (b"", b"identity"):
        return body
    try:
        if encoding in (b"gzip", b"x-gzip", b"deflate"):
            # wbits 47 reads gzip and zlib; raw deflate (no header) needs -15.
            decoder = zlib.decompressobj(47 if encoding != b"deflate" or body[:1] == b"\x78"
                                         else -15)
            out = decoder.decompress(body, limit + 1)
            if len(out) > limit or decoder.unconsumed_tail:
                raise _too_large(limit)
            return out
        if encoding == b"zstd":
            try:
                import zstandard  # optional dependency
            except ImportError:
                raise ProxyError(415, "zstd request bodies need the 'zstandard' package on the "
                                      "proxy", "invalid_request_error",
                                 "unsupported_content_encoding") from None
            reader = zstandard.ZstdDecompressor().stream_reader(body)
            out = reader.read(limit + 1)
            if len(out) > limit:
                raise _too_large(limit)
            return out
    except ProxyError:
        raise
    except Exception as exc:  # noqa: BLE001 - corrupt input is the client's problem
        raise ProxyError(400, f"cannot decode the {encoding.decode('latin-1')} request body: "
                              f"{exc}") from None
    raise ProxyError(415, f"unsupported Content-Encoding {encoding.decode('latin-1')!r}",
                     "invalid_request_error", "unsupported_content_encoding")


async def send_response(send: Send, status: int, body: bytes, headers: RawHeaders) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class DisconnectGuard:
    """Watches `receive` while a request is being answered; when the client disconnects it
    cancels the task answering it, so the upstream request is abandoned at once.

    Use: `guard.start()` after the request body has been read; set `guard.finished = True`
    right before the last `send` (after that, receive() reports a disconnect that is not one);
    `guard.stop()` in a finally; catch CancelledError and call `guard.absorb()` which re-raises
    unless the cancellation was ours.
    """

    __slots__ = ("receive", "task", "watcher", "finished", "disconnected")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.task: Optional[asyncio.Task] = None
        self.watcher: Optional[asyncio.Task] = None
        self.finished = False
        self.disconnected = False

    def start(self) -> None:
        self.task = asyncio.current_task()
        self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        try:
            while True:
                message = await self.receive()
                if message["type"] == "http.disconnect":
                    break
        except Exception:  # noqa: BLE001 - a server whose receive() fails: treat as gone
            pass
        if not self.finished and self.task is not None:
            self.disconnected = True
            self.task.cancel()

    def stop(self) -> None:
        if self.watcher is not None and not self.watcher.done():
            self.watcher.cancel()

    def absorb(self, exc: BaseException) -> None:
        """Called with a CancelledError: swallow it if we caused it, else re-raise."""
        if not self.disconnected:
            raise exc
        task = self.task
        if task is not None and sys.version_info >= (3, 11):
            task.uncancel()
