"""`codex-convert-proxy mock-upstream` with send-time stamps in the text, for per-event latency.

Usage: `python benches/stamped_mock.py [mock-upstream options...]` (the same options).

It runs the project's mock upstream unchanged except for one wrapper around its ASGI `send`: in
every response body write, each non-empty `"content":"` gets the prefix `@T<19 digits>@`, the
`time.monotonic_ns()` of that write. The text survives the conversion, so the client finds the
stamp in `response.output_text.delta` (through the proxy) or in the chunk's `content` (direct) and
subtracts it from its own arrival time (CLOCK_MONOTONIC is system-wide on Linux, so the clocks of
the two processes agree). All events of one write carry the same stamp: the time they left the mock.
The cost of stamping (one C-level regex substitution per write) is the mock's, not the proxy's.
"""
from __future__ import annotations

import re
import sys
import time
from typing import Any, Awaitable, Callable, Dict

STAMP_PREFIX = b"@T"
# A stamp as the client finds it: `@T` + 19 digits + `@`.
STAMP_DIGITS = 19
_CONTENT = re.compile(rb'"content":"(?=[^"])')


class StampingApp:
    """ASGI wrapper: stamps body writes of SSE responses; everything else passes through."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app
        # Keep the wrapped app's attributes reachable (tests/introspection use `.requests`).
        self.requests = getattr(app, "requests", None)

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        sub = _CONTENT.sub

        async def stamped_send(message: Dict[str, Any]) -> None:
            if message.get("type") == "http.response.body":
                body = message.get("body", b"")
                if body and b'"content":"' in body:
                    stamp = b'"content":"@T%019d@' % time.monotonic_ns()
                    message = dict(message, body=sub(stamp, body))
            await send(message)

        await self.app(scope, receive, stamped_send)


def main(argv: Any = None) -> int:
    from codex_convert_proxy.mock import server as mock_server

    original = mock_server.create_app

    def create_stamping_app(*args: Any, **kwargs: Any) -> Any:
        return StampingApp(original(*args, **kwargs))

    # mock_server.main looks create_app up in its module globals at call time.
    mock_server.create_app = create_stamping_app
    return mock_server.main(argv)


if __name__ == "__main__":
    sys.exit(main())
