"""The relay floor: the proxy's architecture with no conversion at all (REFERENCE.md §10).

Usage: `python benches/relay_floor.py --listen 127.0.0.1:PORT --upstream http://127.0.0.1:MOCK/v1`

A raw ASGI app on uvicorn (uvloop + httptools, like `serve`) that answers `POST /v1/responses` by
posting the request body unchanged to the upstream's `/chat/completions` with one pooled aiohttp
session, then relays the upstream SSE bytes unchanged: one `readany()` -> one ASGI `send` per
upstream read, exactly the proxy's hot loop minus `translator.feed`. Its CPU per event is what any
Python proxy of this design pays before converting anything; e2e.py runs it as the `relay` target
so the proxy's figures can be split into "relay floor" and "everything else". `GET /health` -> 200.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Dict

import aiohttp

_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache")]


class RelayApp:
    def __init__(self, upstream: str) -> None:
        self.url = upstream.rstrip("/") + "/chat/completions"
        self.session: Any = None

    async def _session(self) -> Any:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300),
                auto_decompress=False,
            )
        return self.session

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if self.session is not None:
                        await self.session.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        session = await self._session()
        async with session.post(self.url, data=b"".join(chunks),
                                headers={"content-type": "application/json", "authorization": "Bearer x"}) as resp:
            await send({"type": "http.response.start", "status": resp.status, "headers": _SSE_HEADERS})
            content = resp.content
            while True:
                data = await content.readany()
                if not data:
                    break
                await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(prog="benches/relay_floor.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--upstream", required=True, help="Chat Completions base URL (…/v1)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    import uvicorn

    uvicorn.run(RelayApp(args.upstream), host=host or "127.0.0.1", port=int(port), loop="uvloop",
                http="httptools", log_level="warning", access_log=False, lifespan="on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
