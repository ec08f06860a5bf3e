"""In-memory store behind `previous_response_id`: an LRU with an entry cap, a byte cap and a TTL.

An entry is the whole conversation up to and including one response: the request's input items
(already expanded when that request itself used previous_response_id) and the response's output
items, kept as JSON text (compact, measurable, and not parsed until someone continues from it).
Keys are per backend: one backend's ids never resolve on another.
"""
from __future__ import annotations

import os
import re
import struct
import time
from collections import OrderedDict
from typing import Callable, List, Optional, Tuple

__all__ = ["ConversationStore", "SharedDirStore", "STORE_DIR_ENV"]

STORE_DIR_ENV = "CODEX_CONVERT_PROXY_STORE_DIR"

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


_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_HEADER = struct.Struct("<dQ")  # expires_at (wall clock), length of the input part


class SharedDirStore:
    """The same store for several worker processes (`serve --workers N`): one file per entry
    in a private directory (tmpfs when available), so a follow-up finds its conversation
    whichever worker answers it.

    LRU is approximated by file mtimes (touched on read); expiry is stored in each file. Every
    worker sweeps the directory now and then to apply the TTL and the entry/byte caps.
    """

    _SWEEP_EVERY = 64  # puts between sweeps (and at most this many seconds)

    def __init__(self, directory: str, max_entries: int, max_bytes: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl_seconds
        self._clock = clock
        self._puts = 0
        self._last_sweep = clock()
        self._count = 0
        self.bytes = 0
        os.makedirs(directory, exist_ok=True)

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0 and self.ttl > 0

    def __len__(self) -> int:
        return self._count

    def _path(self, backend: str, response_id: str) -> Optional[str]:
        # Ids come from clients: only plain ones can name a file (no path tricks).
        if not _SAFE_ID.match(response_id):
            return None
        return os.path.join(self.directory, f"{backend}@{response_id}")

    def put(self, backend: str, response_id: str, input_json: bytes, output_json: bytes) -> bool:
        path = self._path(backend, response_id)
        size = len(input_json) + len(output_json)
        if not self.enabled or path is None or size > self.max_bytes:
            return False
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(_HEADER.pack(self._clock() + self.ttl, len(input_json)))
                fh.write(input_json)
                fh.write(output_json)
            now = self._clock()
            os.utime(tmp, (now, now))  # mtime = last use, on our clock
            os.replace(tmp, path)
        except OSError:
            return False
        self._puts += 1
        if self._puts >= self._SWEEP_EVERY or self._clock() - self._last_sweep > self._SWEEP_EVERY:
            self.sweep()
        return True

    def get(self, backend: str, response_id: str) -> Optional[Tuple[bytes, bytes]]:
        path = self._path(backend, response_id)
        if path is None:
            return None
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        if len(data) < _HEADER.size:
            return None
        expires_at, input_len = _HEADER.unpack_from(data)
        if expires_at <= self._clock():
            _unlink(path)
            return None
        try:
            now = self._clock()
            os.utime(path, (now, now))  # most recently used
        except OSError:
            pass
        body = data[_HEADER.size:]
        return body[:input_len], body[input_len:]

    def sweep(self) -> None:
        """Drop expired entries, then the least recently used ones over the caps."""
        self._puts = 0
        now = self._last_sweep = self._clock()
        entries: List[Tuple[float, int, str]] = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if name.endswith(".tmp"):
                continue
            path = os.path.join(self.directory, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            # mtime is the last use, and an entry expires `ttl` after it was written, so one
            # unused for `ttl` is surely expired (stat only: no file is opened here).
            if st.st_mtime + self.ttl <= now:
                _unlink(path)
                continue
            entries.append((st.st_mtime, st.st_size - _HEADER.size, path))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        while entries and (len(entries) > self.max_entries or total > self.max_bytes):
            _, size, path = entries.pop(0)
            _unlink(path)
            total -= size
        self._count = len(entries)
        self.bytes = total


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
