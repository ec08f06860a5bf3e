"""SSE decoding (engine contract §2), both engines.

Every rule has explicit cases, each checked in one read, split at every byte position, and fed
byte by byte. Hypothesis then checks both engines against a deliberately naive reference model
(decode the whole stream, split it with a regex), re-splitting at arbitrary points, Rust against
Python on random bytes, and lossy UTF-8 decoding against Python's ``errors="replace"``.
"""
from __future__ import annotations

import re
import time
from typing import Iterable, List, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import sse_decoder_class

BOM = b"\xef\xbb\xbf"


def as_text(payloads: list) -> List[str]:
    """Rust payloads are bytes: they must be valid UTF-8 (strict decode) and equal Python's str."""
    return [p.decode("utf-8") if isinstance(p, bytes) else p for p in payloads]


def decode(cls: type, chunks: Iterable[bytes]) -> List[str]:
    decoder = cls()
    out: list = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    out += decoder.finish()
    return as_text(out)


def split_at(data: bytes, cuts: Iterable[int]) -> List[bytes]:
    points = sorted({min(max(c, 0), len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def check(cls: type, stream: bytes, expected: List[str]) -> None:
    """One read, every two-read split, and one byte per read all give `expected`."""
    assert decode(cls, [stream]) == expected
    for i in range(len(stream) + 1):
        assert decode(cls, [stream[:i], stream[i:]]) == expected, f"split at {i}"
    assert decode(cls, [stream[i : i + 1] for i in range(len(stream))]) == expected


_LINE_END = re.compile(r"\r\n|\r|\n")


def reference(stream: bytes) -> List[str]:
    """The WHATWG algorithm written the obvious way, over the whole stream at once."""
    if stream.startswith(BOM):
        stream = stream[3:]
    lines = _LINE_END.split(stream.decode("utf-8", "replace"))
    tail = lines.pop()  # "" when the stream ended with a line end
    if tail:
        lines.append(tail)  # lenient end: an unterminated last line still counts
    lines.append("")  # lenient end: pending data is dispatched
    payloads: List[str] = []
    data: Optional[List[str]] = None
    for line in lines:
        if line == "":
            if data is not None:
                payloads.append("\n".join(data))
            data = None
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if name == "data":
                data = (data or []) + [value]
    return payloads


# --- explicit rules -------------------------------------------------------------------------------

CASES = {
    # line ends
    "lf": (b"data: a\n\ndata: b\n\n", ["a", "b"]),
    "crlf": (b"data: a\r\n\r\ndata: b\r\n\r\n", ["a", "b"]),
    "cr": (b"data: a\r\rdata: b\r\r", ["a", "b"]),
    "mixed-ends": (b"data: a\r\n\rdata: b\n\r\ndata: c\r\n", ["a", "b", "c"]),
    "cr-cr-is-blank-line": (b"data: a\r\rdata: b\n\n", ["a", "b"]),
    "lf-cr-is-two-ends": (b"data: a\n\rdata: b\n\n", ["a", "b"]),
    # BOM
    "bom": (BOM + b"data: x\n\n", ["x"]),
    "bom-only-at-start": (b"data: x\n\n" + BOM + b"data: y\n\n", ["x"]),
    "bom-twice": (BOM + BOM + b"data: x\n\ndata: y\n\n", ["y"]),
    "bom-inside-value-kept": (b"data: " + BOM + b"z\n\n", ["\ufeffz"]),
    "bom-prefix-is-content": (b"\xef\xbbdata: x\n\ndata: y\n\n", ["y"]),
    "bom-alone": (BOM, []),
    "bom-prefix-alone": (b"\xef\xbb", []),
    # comments and fields
    "comment": (b": hi\ndata: a\n: mid\ndata: b\n\n", ["a\nb"]),
    "comment-looks-like-data": (b":data: x\n\n", []),
    "comment-only-stream": (b": keep-alive\n\n: keep-alive\n\n", []),
    "other-fields-ignored": (b"event: e\nid: 7\nretry: 10\nfoo: bar\ndata: a\n\n", ["a"]),
    "field-names-exact": (b"DATA: a\n\n data: b\n\ndata : c\n\ndatax: d\n\n", []),
    "field-without-colon": (b"data\n\n", [""]),
    "field-without-colon-joins": (b"data\ndata: x\ndata\n\n", ["\nx\n"]),
    "other-field-without-colon": (b"event\ndata: a\nid\n\n", ["a"]),
    # value: one leading space dropped
    "no-space": (b"data:x\n\n", ["x"]),
    "two-spaces": (b"data:  x\n\n", [" x"]),
    "tab-kept": (b"data:\tx\n\n", ["\tx"]),
    "trailing-space-kept": (b"data: x \n\n", ["x "]),
    "colons-in-value": (b'data: {"a":"b: c"}\n\n', ['{"a":"b: c"}']),
    # multi-line data, dispatch
    "multi-line": (b"data: a\ndata: b\ndata: c\n\n", ["a\nb\nc"]),
    "empty-data-line-last": (b"data: a\ndata:\n\n", ["a\n"]),
    "empty-data-event": (b"data:\n\n", [""]),
    "blank-lines-alone": (b"\n\n\r\n\r\r", []),
    "event-without-data": (b"event: x\nid: 1\n\n", []),
    "data-survives-blank-free-fields": (b"data: a\nevent: x\ndata: b\n\n\n\n", ["a\nb"]),
    # bytes that are line ends elsewhere but not in SSE
    "unicode-line-separators-kept": ("data: a\u2028b\u2029c\u0085d\n\n".encode(), ["a\u2028b\u2029c\u0085d"]),
    "control-bytes-kept": (b"data: \x00\x0b\x0c\x1c\x1d\x1e\n\n", ["\x00\x0b\x0c\x1c\x1d\x1e"]),
    # UTF-8 split across reads (check() splits at every byte) and lossy decoding
    "utf8": ("data: héllo € 😀\n\n".encode(), ["héllo € 😀"]),
    "invalid-byte": (b"data: a\xffb\n\n", ["a\ufffdb"]),
    "truncated-4-byte": (b"data: a\xf0\x9f\x98b\n\n", ["a\ufffdb"]),
    "surrogate": (b"data: \xed\xa0\x80\n\n", ["\ufffd\ufffd\ufffd"]),
    "overlong": (b"data: \xc0\xaf\xe0\x80\xaf\n\n", ["\ufffd" * 5]),
    "above-max": (b"data: \xf4\x90\x80\x80\n\n", ["\ufffd" * 4]),
    "truncated-at-line-end": (b"data: \xf0\x9f\ndata: \x98\x80\n\n", ["\ufffd\n\ufffd\ufffd"]),
    "invalid-field-name": (b"dat\xffa: x\n\n", []),
    # lenient end
    "unterminated-line": (b"data: a", ["a"]),
    "no-blank-line": (b"data: a\n", ["a"]),
    "no-blank-line-multi": (b"data: a\ndata: b", ["a\nb"]),
    "cr-at-eof": (b"data: a\r", ["a"]),
    "complete-then-partial": (b"data: a\n\ndata: b", ["a", "b"]),
    "empty-stream": (b"", []),
}


@pytest.mark.parametrize("stream,expected", list(CASES.values()), ids=list(CASES))
def test_rule(sse_decoder: type, stream: bytes, expected: List[str]) -> None:
    check(sse_decoder, stream, expected)
    assert reference(stream) == expected  # the model used by the property tests agrees


def test_cr_ending_a_read_then_lf_is_one_line_end(sse_decoder: type) -> None:
    assert decode(sse_decoder, [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == ["a\nb"]
    # empty reads in between change nothing
    assert decode(sse_decoder, [b"data: a\r", b"", b"", b"\ndata: b\n\n"]) == ["a\nb"]
    # a CR followed by something else in the next read is a line end of its own
    assert decode(sse_decoder, [b"data: a\r", b"data: b\r", b"\r"]) == ["a\nb"]


def test_bom_split_across_reads(sse_decoder: type) -> None:
    assert decode(sse_decoder, [b"\xef", b"", b"\xbb", b"\xbf", b"data: x\n\n"]) == ["x"]
    assert decode(sse_decoder, [b"\xef\xbb", b"\xbfdata: x\n\n"]) == ["x"]
    assert decode(sse_decoder, [b"\xef", b"\xbbdata: x\n\ndata: y\n\n"]) == ["y"]


def test_payloads_come_out_as_soon_as_dispatched(sse_decoder: type) -> None:
    decoder = sse_decoder()
    assert decoder.feed(b"data: a\n") == []
    assert as_text(decoder.feed(b"\ndata: b\n\ndata: c")) == ["a", "b"]
    assert decoder.feed(b"\n") == []
    assert as_text(decoder.feed(b"\n")) == ["c"]
    assert decoder.finish() == []
    assert decoder.finish() == []


def test_payload_types(engine: str, sse_decoder: type) -> None:
    payloads = sse_decoder().feed(b"data: \xc3\xa9\xff\n\n")
    if engine == "rust":
        assert payloads == ["é\ufffd".encode()]
    else:
        assert payloads == ["é\ufffd"]


def test_finish_resets_for_a_new_stream(sse_decoder: type) -> None:
    decoder = sse_decoder()
    assert decoder.feed(b"\xef\xbb\xbfdata: a\r") == []
    assert as_text(decoder.finish()) == ["a"]
    # fresh state: a BOM is dropped again, no pending CR swallows the LF, no leftover data
    assert as_text(decoder.feed(b"\xef\xbb\xbf\ndata: b\n\n")) == ["b"]
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.finish() == []
    assert as_text(decoder.feed(b"data: c\n\n")) == ["c"]


def test_feed_accepts_bytes_only_content(sse_decoder: type) -> None:
    decoder = sse_decoder()
    assert decoder.feed(b"") == []
    assert as_text(decoder.feed(b"data: x\n\n")) == ["x"]


# --- linear time --------------------------------------------------------------------------------
# A decoder that rescans or re-copies its growing buffer on every read does ~5*10^11 byte
# operations here (minutes); a linear one does 10^6 calls (about a second in pure Python).
# The bound is generous: it separates the two complexity classes, it does not time the code.

LINEAR_BOUND_SECONDS = 30.0


def test_long_unterminated_line_in_one_byte_reads(sse_decoder: type) -> None:
    decoder = sse_decoder()
    feed = decoder.feed
    started = time.perf_counter()
    assert feed(b"data: ") == []
    emitted = 0
    for _ in range(1_000_000):
        emitted += len(feed(b"x"))
    payloads = as_text(feed(b"\r\n\r\n"))
    elapsed = time.perf_counter() - started
    assert emitted == 0
    assert payloads == ["x" * 1_000_000]
    assert elapsed < LINEAR_BOUND_SECONDS


def test_many_data_lines_in_one_event(sse_decoder: type) -> None:
    decoder = sse_decoder()
    started = time.perf_counter()
    for _ in range(200_000):
        assert not decoder.feed(b"data: xy\n")
    payloads = as_text(decoder.feed(b"\n"))
    elapsed = time.perf_counter() - started
    assert payloads == ["\n".join(["xy"] * 200_000)]
    assert elapsed < LINEAR_BOUND_SECONDS


def test_one_big_read_of_many_events(sse_decoder: type) -> None:
    events = 200_000
    stream = b'data: {"i":1}\n\n' * events
    payloads = as_text(sse_decoder().feed(stream))
    assert len(payloads) == events and payloads[0] == payloads[-1] == '{"i":1}'


# --- properties ---------------------------------------------------------------------------------

_FIELDS = [b"data"] * 6 + [b"event", b"id", b"retry", b"", b"dat", b"DATA", b" data", b":", b": c", BOM + b"data"]
_SEPARATORS = [b"", b":", b":", b": ", b": ", b":  "]
_PIECES = [
    b"", b" ", b"x", b'{"a":1}', b":", b"[DONE]", "é".encode(), "€".encode(), "😀".encode(),
    "\u2028".encode(), b"\xff", b"\xf0\x9f", b"\x9f", b"\xed\xa0\x80", b"\xc0\xaf", BOM, b"\x00",
]
_EOLS = [b"\n", b"\n", b"\r\n", b"\r"]

sse_line = st.builds(
    lambda field, sep, pieces: field + sep + b"".join(pieces),
    st.sampled_from(_FIELDS),
    st.sampled_from(_SEPARATORS),
    st.lists(st.sampled_from(_PIECES), max_size=4),
)
sse_stream = st.builds(
    lambda bom, lines, last_eol: bom
    + b"".join(line + eol for line, eol in lines)
    + last_eol,
    st.sampled_from([b"", b"", BOM, b"\xef\xbb"]),
    st.lists(
        st.tuples(st.one_of(sse_line, st.just(b"")), st.sampled_from(_EOLS)), max_size=12
    ),
    st.sampled_from([b"", b"\n", b"\r", b"data: tail"]),
)
# Raw bytes biased towards the bytes that matter to an SSE decoder.
sse_soup = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"data:", b"x", BOM, b"\xef",
                     b"\xbb", b"\xbf", b"\xff", b"\xe2\x80", b"\xa8", "😀".encode()])
    | st.binary(max_size=3),
    max_size=40,
).map(b"".join)

cuts = st.lists(st.integers(min_value=0, max_value=2_000), max_size=8)


@given(stream=st.one_of(sse_stream, sse_soup), cuts=cuts)
def test_any_split_gives_the_reference_payloads(sse_decoder: type, stream: bytes, cuts: List[int]) -> None:
    whole = decode(sse_decoder, [stream])
    assert whole == reference(stream)
    assert decode(sse_decoder, split_at(stream, cuts)) == whole


@given(stream=st.one_of(sse_soup, st.binary(max_size=200)), cuts_a=cuts, cuts_b=cuts)
def test_rust_equals_python_on_random_bytes(
    rust_engine: str, stream: bytes, cuts_a: List[int], cuts_b: List[int]
) -> None:
    rust = sse_decoder_class("rust")
    python = sse_decoder_class("python")
    assert decode(rust, split_at(stream, cuts_a)) == decode(python, split_at(stream, cuts_b))


def _utf8_tokens() -> List[bytes]:
    """Valid sequences of every length, each of their proper prefixes (truncated sequences), and
    the classic invalid bytes: continuations, overlong leads, surrogates, above U+10FFFF."""
    tokens = [b"a", b"\x80", b"\xbf", b"\xc0", b"\xc1", b"\xc2", b"\xe0", b"\xe0\x80", b"\xe0\x9f",
              b"\xed", b"\xed\xa0", b"\xed\xbf\xbf", b"\xef", b"\xf0", b"\xf0\x80", b"\xf0\x8f",
              b"\xf4", b"\xf4\x90", b"\xf5", b"\xf8\x88\x80\x80\x80", b"\xfe", b"\xff"]
    for char in ["\x7f", "é", "\u07ff", "\u0800", "€", "\ud7ff", "\ue000", "\ufeff", "\uffff",
                 "\U00010000", "😀", "\U0010ffff"]:
        encoded = char.encode("utf-8")
        tokens += [encoded[:n] for n in range(1, len(encoded) + 1)]
    return tokens


utf8_soup = st.one_of(
    st.lists(st.sampled_from(_utf8_tokens()), max_size=30).map(b"".join),
    st.binary(max_size=60),
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@given(value=utf8_soup, cut=st.integers(min_value=0, max_value=70))
def test_lossy_utf8_matches_python_replace(sse_decoder: type, value: bytes, cut: int) -> None:
    """Rust's from_utf8_lossy and Python's errors="replace" both substitute maximal subparts."""
    stream = b"data: " + value + b"\n\n"
    expected = [value.decode("utf-8", "replace")]
    assert decode(sse_decoder, [stream]) == expected
    assert decode(sse_decoder, split_at(stream, [6 + cut])) == expected
