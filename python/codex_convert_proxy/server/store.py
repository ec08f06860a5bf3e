"""In-memory store behind `previous_response_id`: an LRU with an entry cap, a byte cap and a TTL.

An entry is the whole conversation up to and including one response: the request's input items
(already expanded when that request itself used previous_response_id) and the response's output
items, kept as JSON text (compact, measurable, and not parsed until someone continues from it).
Keys are per backend: one backend's ids never resolve on another.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable, Optional, Tuple

__all__ = ["ConversationStore"]

_Key = Tuple[str, str]


class ConversationStore:
    def __init__(self, max_entries: int, max_bytes: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl_seconds
        self._clock = clock
        # key -> (expires_at, input_json, output_json); most recently used last
        self._items: "OrderedDict[_Key, Tuple[float, bytes, bytes]]" = OrderedDict()
        self.bytes = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0 and self.ttl > 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, backend: str, response_id: str, input_json: bytes, output_json: bytes) -> bool:
        """Store a finished response's history. False when it is larger than the byte cap."""
        if not self.enabled:
            return False
        size = len(input_json) + len(output_json)
        if size > self.max_bytes:
            return False
        key = (backend, response_id)
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= len(old[1]) + len(old[2])
        self._items[key] = (self._clock() + self.ttl, input_json, output_json)
        self.bytes += size
        self._evict()
        return True

    def get(self, backend: str, response_id: str) -> Optional[Tuple[bytes, bytes]]:
        """(input_json, output_json) of a stored response, or None (unknown or expired)."""
        key = (backend, response_id)
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._items[key]
            self.bytes -= len(entry[1]) + len(entry[2])
            return None
        self._items.move_to_end(key)
        return entry[1], entry[2]

    def _evict(self) -> None:
        now = self._clock()
        items = self._items
        # Expired entries first (all entries share one TTL, so the oldest-written expire first;
        # LRU order is close to that order, and the loop stops at the first live entry).
        while items:
            key, entry = next(iter(items.items()))
            if entry[0] > now and len(items) <= self.max_entries and self.bytes <= self.max_bytes:
                break
            del items[key]
            self.bytes -= len(entry[1]) + len(entry[2])
