"""Running the mock upstream: the command line (`main`) and an in-process runner for tests."""
from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from typing import Any, List, Optional, Sequence, Tuple

from .app import MockUpstreamApp, create_app
from .scenarios import parse_scenario, scenario_names
from .script import ScriptError

__all__ = ["main", "MockUpstream", "parse_listen", "DEFAULT_LISTEN"]

DEFAULT_LISTEN = "127.0.0.1:8281"


def parse_listen(value: str) -> Tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT, :PORT or PORT (host defaults to 127.0.0.1; port 0 = any free)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen wants HOST:PORT, got {value!r}")
    return host, int(port)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: MockUpstreamApp, log_level: str, *, own_logging: bool = True) -> Any:
    """uvicorn settings. Run inside another program (`own_logging=False`, e.g. the proxy's demo
    mode), the mock leaves logging to that program instead of adding uvicorn's handlers."""
    import uvicorn

    extra: dict = {} if own_logging else {"log_config": None}
    return uvicorn.Config(
        app,
        log_level=log_level,
        **extra,
        access_log=False,  # a log line per request would cost more than the reply in benchmarks
        lifespan="off",
        backlog=2048,
        timeout_graceful_shutdown=2,
    )


def _positive(kind: type):
    def parse(text: str) -> Any:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codex-convert-proxy mock-upstream",
        description=(
            "A scripted Chat Completions server (POST /v1/chat/completions, GET /v1/models, "
            "GET /health) for demos, tests and benchmarks. Without --script it answers with a "
            "realistic conversation chosen from the request; header x-mock-scenario or model "
            "mock-NAME picks a built-in scenario: " + ", ".join(scenario_names()) + "."
        ),
    )
    parser.add_argument("--listen", default=DEFAULT_LISTEN, help=f"HOST:PORT (default {DEFAULT_LISTEN})")
    parser.add_argument("--script", help='JSON file {"turns": [...]} served in order to chat requests')
    parser.add_argument("--pace-ms", type=_positive(float), default=0.0, help="pause between sends (ms)")
    parser.add_argument("--batch", type=_positive(int), help="SSE events per send (default: 1 when paced)")
    parser.add_argument("--events", type=_positive(int), help="answer every request with long:N (N deltas)")
    parser.add_argument("--event-bytes", type=_positive(int), help="approximate bytes per long-stream event")
    parser.add_argument("--scenario", help="default built-in scenario for requests that pick none")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="uvicorn log level (default warning)",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """`codex-convert-proxy mock-upstream …`: serve until interrupted. Exit 0, or 2 on bad usage."""
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        parser.error(str(exc))
    if args.scenario is not None and parse_scenario(args.scenario) is None:
        parser.error(f"unknown scenario {args.scenario!r}; known: {', '.join(scenario_names())}")
    try:
        app = create_app(
            args.script,
            args.pace_ms,
            scenario=args.scenario,
            events=args.events,
            event_bytes=args.event_bytes,
            batch=args.batch,
        )
    except ScriptError as exc:
        print(f"mock-upstream: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        print(f"mock-upstream: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    import uvicorn

    url = _url(sock)
    source = f"script {args.script}" if args.script else "built-in scenarios"
    print(f"mock-upstream listening on {url} (Chat Completions base URL {url}/v1; {source})", flush=True)
    try:
        uvicorn.Server(_config(app, args.log_level)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


class MockUpstream:
    """The mock on a free loopback port in a background thread (tests, examples).

    ```python
    with MockUpstream(script={"turns": [...]}) as mock:
        httpx.post(mock.base_url + "/chat/completions", json=...)
        mock.app.requests  # what the mock received
    ```
    """

    def __init__(self, script: Any = None, pace_ms: float = 0, *, host: str = "127.0.0.1",
                 port: int = 0, log_level: str = "warning", **options: Any) -> None:
        self.app = create_app(script, pace_ms, **options)
        self._host, self._port, self._log_level = host, port, log_level
        self._server: Any = None
        self._thread: Optional[threading.Thread] = None
        self._sock: Optional[socket.socket] = None
        self.url = ""

    @property
    def base_url(self) -> str:
        """The Chat Completions base URL (`…/v1`)."""
        return self.url + "/v1"

    @property
    def requests(self) -> List[dict]:
        return list(self.app.requests)

    def start(self, timeout: float = 10.0) -> "MockUpstream":
        import uvicorn

        self._sock = bind_socket(self._host, self._port)
        self.url = _url(self._sock)
        self._server = uvicorn.Server(_config(self.app, self._log_level, own_logging=False))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="mock-upstream", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mock upstream did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> "MockUpstream":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
