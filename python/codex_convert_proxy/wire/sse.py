"""Server-sent-events decoding over raw bytes (engine contract §2), pure Python.

WHATWG event-stream rules, reduced to what the engine needs: only ``data`` fields matter, so the
decoder yields one payload per dispatched event and nothing else. The Rust twin is
``rust/src/sse.rs``; both yield the same payloads for the same bytes.

Cost: each ``feed`` scans only its new bytes with C-level ``bytes`` methods (no per-character
loop), and the unterminated tail of a read is kept as a list of pieces joined once its line ends,
so feeding a stream in any number of reads is linear in its length.
"""
from __future__ import annotations

from typing import List, Union

__all__ = ["SseDecoder"]

_BOM = b"\xef\xbb\xbf"
_BOM_DONE = -1


class SseDecoder:
    """Incremental SSE decoder: ``feed`` every network read, ``finish`` at end of stream.

    Each payload is the event's data decoded as UTF-8 with U+FFFD replacement (maximal subparts:
    ``errors="replace"``, the same result as Rust's ``String::from_utf8_lossy``).

    As in WHATWG, an event dispatches when it had at least one ``data`` field, even when the
    joined data is empty (``data:`` then a blank line gives the payload ``""``).
    """

    __slots__ = ("_tail", "_data", "_skip_lf", "_bom")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._tail: List[bytes] = []  # pieces of the line not yet terminated
        self._data: Union[List[bytes], None] = None  # data values of the event; None: no data field
        self._skip_lf = False  # the previous read ended in CR: a leading LF belongs to it
        self._bom = 0  # leading BOM bytes matched so far, or _BOM_DONE once decided

    def feed(self, data: bytes) -> List[str]:
        """Decode one read; return the payloads of the events it completed."""
        if not isinstance(data, bytes):
            data = bytes(data)
        if self._bom != _BOM_DONE:
            data = self._strip_bom(data)
            if not data:
                return []
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 10:
                data = data[1:]
        if b"\r" in data:
            # Normalise line ends to LF; a CR ending this read may pair with an LF in the next.
            self._skip_lf = data[-1] == 13
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = data.split(b"\n")
        if len(lines) == 1:
            if data:
                self._tail.append(data)
            return []
        rest = lines.pop()
        if self._tail:
            self._tail.append(lines[0])
            lines[0] = b"".join(self._tail)
            self._tail = [rest] if rest else []
        elif rest:
            self._tail = [rest]
        return self._process(lines)

    def finish(self) -> List[str]:
        """End of stream (lenient): an unterminated last line is processed as a line and pending
        data is dispatched. The decoder is then reset, ready for a new stream."""
        lines = []
        if self._bom > 0:
            # An incomplete BOM at the very end is just (invalid) line content.
            self._tail.insert(0, _BOM[: self._bom])
        if self._tail:
            lines.append(b"".join(self._tail))
        lines.append(b"")  # dispatch whatever is pending
        out = self._process(lines)
        self._reset()
        return out

    def _strip_bom(self, data: bytes) -> bytes:
        """Match a leading BOM, possibly split across reads; return the bytes left to decode
        (empty while the read was all BOM prefix)."""
        matched = self._bom
        want = _BOM[matched:]
        n = min(len(want), len(data))
        if data[:n] == want[:n]:
            if n == len(want):
                self._bom = _BOM_DONE
                return data[n:]
            self._bom = matched + n
            return b""
        # Not a BOM: the bytes held back so far are ordinary content of the first line.
        self._bom = _BOM_DONE
        return _BOM[:matched] + data

    def _process(self, lines: List[bytes]) -> List[str]:
        """Complete lines (without terminators). Comments and fields other than ``data`` are
        ignored, so only ``data:<value>``, a bare ``data`` line and a blank line matter."""
        out: List[str] = []
        pending = self._data
        for line in lines:
            if not line:
                if pending is not None:
                    # Decoding the joined data at once equals decoding each line: LF always ends
                    # an incomplete sequence, in the lossy decoders of both Python and Rust.
                    if len(pending) == 1:
                        out.append(pending[0].decode("utf-8", "replace"))
                    else:
                        out.append(b"\n".join(pending).decode("utf-8", "replace"))
                    pending = None
            elif line[:5] == b"data:":
                value = line[6:] if line[5:6] == b" " else line[5:]
                if pending is None:
                    pending = [value]
                else:
                    pending.append(value)
            elif line == b"data":
                if pending is None:
                    pending = [b""]
                else:
                    pending.append(b"")
        self._data = pending
        return out
