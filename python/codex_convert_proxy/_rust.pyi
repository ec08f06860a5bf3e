"""Type stubs for the Rust engine extension ``codex_convert_proxy._rust`` (engine contract §7).

Every function and method raises ``codex_convert_proxy.errors.ConversionError`` on malformed
input; an internal fault (a Rust panic) raises it too, with a message starting
"internal engine error:".
"""
from typing import Dict, List, Optional, Tuple

class StreamTranslator:
    """Chat Completions SSE bytes in, Responses SSE bytes out (contract §3)."""

    def __init__(
        self,
        provider: str,
        model: str,
        response_id: str,
        created_at: int,
        tool_map: Optional[bytes] = None,
        echo: Optional[bytes] = None,
    ) -> None: ...
    def start(self) -> bytes:
        """``response.created`` and ``response.in_progress`` (once; ``feed`` implies it)."""
    def feed(self, data: bytes) -> bytes:
        """Any slice of the upstream body → the Responses SSE bytes it completes."""
    def finish(self) -> bytes:
        """Upstream EOF → the closing events and exactly one terminal event."""
    def fail(self, code: str, message: str) -> bytes:
        """Emit ``response.failed`` now (open items are not closed)."""
    def keepalive(self) -> bytes:
        """A ``response.in_progress`` event for a long upstream silence (``b""`` once done)."""
    @property
    def status(self) -> str:
        """``in_progress`` | ``completed`` | ``incomplete`` | ``failed``."""
    @property
    def done(self) -> bool:
        """The terminal event has been emitted; further input is ignored."""
    @property
    def terminal_response(self) -> Optional[bytes]:
        """The response JSON of the terminal event, once emitted."""
    @property
    def degraded(self) -> Tuple[str, ...]:
        """Dropped/degraded features reported so far (unique, first-seen order)."""
    def event_counts(self) -> Dict[str, int]:
        """Events emitted so far, by type (non-zero counts only)."""

class SseDecoder:
    """SSE decoding (contract §2). Payloads are UTF-8 ``bytes`` (invalid input replaced by
    U+FFFD); the pure-Python ``wire.sse.SseDecoder`` returns the same payloads as ``str``."""

    def __init__(self) -> None: ...
    def feed(self, data: bytes) -> List[bytes]: ...
    def finish(self) -> List[bytes]:
        """Lenient end of stream; the decoder is then reset for a new stream."""

def convert_request(
    body: bytes, provider: str, model: Optional[str] = None
) -> Tuple[bytes, List[str], bytes, bytes, bool, str]:
    """Responses request JSON → ``(chat_body, degraded, tool_map, echo, stream, model)``."""

def convert_response(
    body: bytes,
    provider: str,
    model: Optional[str],
    response_id: str,
    created_at: int,
    tool_map: Optional[bytes] = None,
    echo: Optional[bytes] = None,
) -> Tuple[bytes, List[str]]:
    """Chat Completions response JSON → ``(responses_body, degraded)``."""

def build_info() -> Dict[str, object]:
    """``{"debug": bool, "version": str}`` (benchmarks refuse a debug build)."""

def _panic_for_tests(message: str) -> None:
    """Test hook: panics inside the engine guard; always raises ConversionError."""
