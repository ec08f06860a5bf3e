"""Wire formats: server-sent-events decoding (engine contract §2)."""
from __future__ import annotations

from .sse import SseDecoder

__all__ = ["SseDecoder"]
