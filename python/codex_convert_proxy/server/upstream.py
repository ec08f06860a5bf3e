"""Upstream HTTP: one pooled aiohttp ClientSession per backend, timeouts, and retries that happen
only before the first byte reaches the client.

Timeouts: `connect` bounds TCP/TLS connect (and waiting for a pooled connection); `read` is an
idle timeout (the longest silence allowed, including the wait for response headers) and is the
only bound on a stream, which may legitimately run for many minutes; `total` bounds a
non-streaming exchange.
"""
from __future__ import annotations

import asyncio
import inspect
import random
import time
from typing import Dict, List, Optional, Tuple

import aiohttp

from .config import Backend, Retries
from .errors import ProxyError, from_upstream, retry_after_seconds
from .metrics import Metrics

__all__ = ["Upstream", "USER_AGENT", "read_error_body"]

USER_AGENT = "codex-convert-proxy/0.2"
_ERROR_BODY_LIMIT = 1 << 20  # an error body larger than this is cut (it is only a message)
_MAX_BACKOFF = 10.0
_RETRY_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524, 529})

# aiohttp >= 3.10 tells connect timeouts from read timeouts; older versions raise the base class.
_ConnectTimeout = getattr(aiohttp, "ConnectionTimeoutError", None)
_CertificateError = getattr(aiohttp, "ClientConnectorCertificateError", None)
# Per-request `auto_decompress` (newer aiohttp): pass-through relays compressed bodies as they
# are. Without it, bodies are decompressed and the relay drops Content-Encoding.
PER_REQUEST_DECOMPRESS = "auto_decompress" in inspect.signature(
    aiohttp.ClientSession._request).parameters


class Upstream:
    """One backend's connection pool and request policy (one per backend per worker)."""

    def __init__(self, backend: Backend, retries: Retries, metrics: Metrics,
                 trust_env: bool = False) -> None:
        self.backend = backend
        self.name = backend.name
        self.retries = retries
        self.metrics = metrics
        self.trust_env = trust_env
        self.chat_url = backend.chat_url
        t = backend.timeouts
        self.stream_timeout = aiohttp.ClientTimeout(total=None, connect=t.connect,
                                                    sock_connect=t.connect, sock_read=t.read)
        self.plain_timeout = aiohttp.ClientTimeout(total=t.total, connect=t.connect,
                                                   sock_connect=t.connect, sock_read=None)
        # Headers every upstream request carries; the client's credentials are never among them.
        auth: Dict[str, str] = {}
        if backend.api_key:
            auth["Authorization"] = f"Bearer {backend.api_key}"
        self.auth_headers = auth
        self.extra_headers = dict(backend.headers)
        self._session: Optional[aiohttp.ClientSession] = None

    def session(self) -> aiohttp.ClientSession:
        # Created lazily, inside the worker's running event loop (sessions are loop-bound).
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self.backend.max_connections,
                                             limit_per_host=0, ttl_dns_cache=300,
                                             keepalive_timeout=30)
            session = self._session = aiohttp.ClientSession(
                connector=connector, trust_env=self.trust_env, skip_auto_headers=("User-Agent",),
                # Passing cookies between unrelated clients would leak state: never keep them.
                cookie_jar=aiohttp.DummyCookieJar())
        return session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def chat_headers(self, stream: bool) -> Dict[str, str]:
        headers = {"Content-Type": "application/json",
                   "Accept": "text/event-stream" if stream else "application/json",
                   "User-Agent": USER_AGENT}
        headers.update(self.auth_headers)
        headers.update(self.extra_headers)
        return headers

    async def send(self, method: str, url: str, body: Optional[bytes], headers: Dict[str, str], *,
                   stream: bool, raise_for_status: bool = True, auto_decompress: bool = True,
                   stats: Optional["AttemptStats"] = None) -> aiohttp.ClientResponse:
        """Send a request, retrying connect errors, 5xx and short 429s per the retry policy.

        Returns the response (2xx; or any status when `raise_for_status` is false) with its
        body unread. Raises ProxyError for a failure the client should see.
        """
        session = self.session()
        timeout = self.stream_timeout if stream else self.plain_timeout
        policy = self.retries
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                if auto_decompress or not PER_REQUEST_DECOMPRESS:
                    resp = await session.request(method, url, data=body, headers=headers,
                                                 timeout=timeout, allow_redirects=False)
                else:
                    resp = await session.request(method, url, data=body, headers=headers,
                                                 timeout=timeout, allow_redirects=False,
                                                 auto_decompress=False)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure maps to a client error
                error, retryable, reason = self._connection_failure(exc, timeout)
                if retryable and attempt < policy.count:
                    attempt += 1
                    self._count_retry(reason, stats)
                    await asyncio.sleep(self._backoff(attempt))
                    continue
                raise error from None
            if stats is not None:
                stats.ttfb = time.monotonic() - started
            self.metrics.observe("ccp_upstream_ttfb_seconds", time.monotonic() - started,
                                 (self.name,))
            status = resp.status
            if status < 400:
                return resp
            delay = self._retry_delay(resp, attempt)
            if delay is not None:
                await read_error_body(resp)  # drain it so the connection can be reused
                attempt += 1
                self._count_retry(f"http_{status}", stats)
                await asyncio.sleep(delay)
                continue
            if not raise_for_status:
                return resp
            body_bytes = await read_error_body(resp)
            raise from_upstream(status, body_bytes, resp.headers.get("Retry-After"), self.name)

    def _retry_delay(self, resp: aiohttp.ClientResponse, attempt: int) -> Optional[float]:
        """Seconds to wait before retrying this reply, or None when it must not be retried."""
        policy = self.retries
        if attempt >= policy.count:
            return None
        status = resp.status
        if status == 429:
            seconds = retry_after_seconds(resp.headers.get("Retry-After"))
            if seconds is None:
                return self._backoff(attempt + 1)
            if seconds > policy.max_retry_after_seconds:
                return None  # a long wait is the client's decision: pass the 429 on
            return seconds
        if status in _RETRY_STATUSES:
            seconds = retry_after_seconds(resp.headers.get("Retry-After"))
            if seconds is not None and seconds <= policy.max_retry_after_seconds:
                return seconds
            return self._backoff(attempt + 1)
        return None

    def _backoff(self, attempt: int) -> float:
        base = self.retries.backoff_seconds * (2 ** (attempt - 1))
        return min(_MAX_BACKOFF, base * random.uniform(0.5, 1.5))

    def _count_retry(self, reason: str, stats: Optional["AttemptStats"]) -> None:
        self.metrics.inc("ccp_upstream_retries_total", (self.name, reason))
        if stats is not None:
            stats.retries += 1

    def _connection_failure(self, exc: Exception,
                            timeout: aiohttp.ClientTimeout) -> Tuple[ProxyError, bool, str]:
        """(error for the client, retryable?, metrics reason) for a request that got no reply."""
        name = self.name
        if _ConnectTimeout is not None and isinstance(exc, _ConnectTimeout):
            return (ProxyError(502, f"cannot connect to upstream '{name}': connect timed out "
                                    f"after {timeout.connect:g} s", "server_error",
                               "upstream_unreachable", kind="connect"), True, "connect_timeout")
        if isinstance(exc, asyncio.TimeoutError):  # aiohttp's timeouts subclass it
            limit = timeout.sock_read if timeout.sock_read is not None else timeout.total
            return (ProxyError(504, f"upstream '{name}' did not answer within {limit:g} s",
                               "server_error", "upstream_timeout", kind="timeout"),
                    False, "timeout")
        if _CertificateError is not None and isinstance(exc, _CertificateError):
            return (ProxyError(502, f"cannot connect to upstream '{name}': TLS certificate "
                                    f"error: {exc}", "server_error", "upstream_unreachable",
                               kind="connect"), False, "tls")
        if isinstance(exc, aiohttp.ClientConnectorError):
            return (ProxyError(502, f"cannot connect to upstream '{name}': {exc}",
                               "server_error", "upstream_unreachable", kind="connect"),
                    True, "connect_error")
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            # Typically a pooled keep-alive connection the upstream had already closed: nothing
            # was processed, so another attempt is safe.
            return (ProxyError(502, f"upstream '{name}' closed the connection before "
                                    f"answering: {exc}", "server_error", "upstream_error",
                               kind="connect"), True, "disconnected")
        return (ProxyError(502, f"request to upstream '{name}' failed: "
                                f"{type(exc).__name__}: {exc}", "server_error",
                           "upstream_error", kind="connect"), False, "client_error")


class AttemptStats:
    """What one proxied request's upstream exchange cost (for the request log line)."""

    __slots__ = ("ttfb", "retries")

    def __init__(self) -> None:
        self.ttfb: Optional[float] = None
        self.retries = 0


async def read_error_body(resp: aiohttp.ClientResponse) -> bytes:
    """Read at most 1 MiB of an error reply, then let the connection go."""
    try:
        chunks: List[bytes] = []
        size = 0
        while size < _ERROR_BODY_LIMIT:
            chunk = await resp.content.read(_ERROR_BODY_LIMIT - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return b""
    finally:
        resp.release()
