"""Inputs of the engine benchmarks: recorded upstream streams and the real Codex requests.

Shared by `test_engine_bench.py` and the profiling helpers; no pytest here.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parent.parent
STREAMS_DIR = REPO / "tests" / "fixtures" / "streams"
# The real Codex CLI 0.169.0 request bodies, committed with the request goldens.
CODEX_DIR = REPO / "tests" / "fixtures" / "request_golden"

STREAMS_ENV = "CCP_BENCH_STREAMS_DIR"  # another directory of bench_*.sse files
CODEX_ENV = "CCP_BENCH_CODEX_DIR"  # another directory of Codex request captures (*.json with "body")

READ_SIZE = 64 * 1024  # one saturated network read
TINY_READ = 16  # "tiny reads" of the SSE decoding group: per-call overhead dominates

# An SSE event ends at a blank line: two line ends in a row (LF, CRLF or CR in any mix).
_EVENT_END = re.compile(rb"(?:\r\n|\r|\n)(?:\r\n|\r|\n)")


@dataclass
class Stream:
    """One recorded upstream Chat Completions SSE body."""

    name: str
    body: bytes
    events: List[bytes] = field(default_factory=list)  # the body cut after each blank line
    # Upstream events: SSE data payloads (`[DONE]` included; comments like `: keep-alive` are
    # feeds of the paced group but not events). The unit of events/s.
    event_count: int = 0

    def reads(self, size: int = READ_SIZE) -> List[bytes]:
        return [self.body[i : i + size] for i in range(0, len(self.body), size)]


def split_events(body: bytes) -> List[bytes]:
    """The body cut right after each event's terminating blank line (the last piece keeps any tail)."""
    pieces: List[bytes] = []
    start = 0
    for match in _EVENT_END.finditer(body):
        pieces.append(body[start : match.end()])
        start = match.end()
    if start < len(body):
        pieces.append(body[start:])
    return [p for p in pieces if p.strip()]


def count_payloads(body: bytes) -> int:
    """Data payloads in an SSE body, as the reference (pure-Python) decoder sees them."""
    from codex_convert_proxy.wire.sse import SseDecoder

    decoder = SseDecoder()
    return len(decoder.feed(body)) + len(decoder.finish())


def streams_dir() -> Path:
    return Path(os.environ.get(STREAMS_ENV) or STREAMS_DIR)


def load_streams(directory: Optional[Path] = None) -> List[Stream]:
    """Every `bench_*.sse` of the fixture directory, sorted by name. Raises if there is none:
    benchmarking nothing must not look like a pass."""
    directory = directory or streams_dir()
    files = sorted(directory.glob("bench_*.sse"))
    if not files:
        raise FileNotFoundError(
            f"no bench_*.sse recorded streams in {directory} (they come with the mock branch; "
            f"or point ${STREAMS_ENV} at a directory of them)"
        )
    streams = []
    for path in files:
        body = path.read_bytes()
        streams.append(Stream(path.stem, body, split_events(body), count_payloads(body)))
    return streams


@dataclass
class CodexRequest:
    name: str
    body: bytes  # the Responses request body as Codex sent it (compact JSON)


def codex_dir() -> Path:
    return Path(os.environ.get(CODEX_ENV) or CODEX_DIR)


def load_codex_requests(directory: Optional[Path] = None) -> List[CodexRequest]:
    """The real Codex requests (`codex-*.json`: request bodies as Codex sent them), as bytes.

    $CCP_BENCH_CODEX_DIR may name another directory: of such bodies, or of captures
    (`request-*.json` holding the body under "body", as in the shared reference material).
    """
    directory = directory or codex_dir()
    out = []
    for path in sorted(directory.glob("codex-*.json")):
        out.append(CodexRequest(path.stem, path.read_bytes()))
    for path in sorted(directory.glob("request-*.json")):
        capture = json.loads(path.read_text("utf-8"))
        body = json.dumps(capture["body"], ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        out.append(CodexRequest(_short_name(path.stem), body))
    if not out:
        raise FileNotFoundError(f"no Codex request bodies in {directory} (set ${CODEX_ENV})")
    return out


def _short_name(stem: str) -> str:
    # "request-2-with-function_call_output" -> "request-2"
    parts = stem.split("-")
    return "-".join(parts[:2]) if len(parts) >= 2 else stem


def crlf(body: bytes) -> bytes:
    """The same stream with CRLF line ends (what some providers and proxies send)."""
    return body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
