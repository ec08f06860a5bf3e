"""Engine benchmarks: the Rust engine and the pure-Python engine side by side (issue 5).

Groups (each case runs once per engine; the summary prints the rust/python ratio):
- saturated: a whole recorded upstream stream fed in 64 KiB reads (a fast provider, a full buffer);
- paced: the same stream fed one SSE event per `feed` (what real token streams look like);
- request: conversion of the real Codex requests (~40-50 KB, full history and tools);
- sse: SSE decoding alone over all recorded streams with CRLF line ends, in 16-byte and 64 KiB reads.

Run: `pytest benches/` (add `--quick` for a CI smoke run). See benches/README.md.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import pytest

import codex_convert_proxy as ccp
from benchdata import READ_SIZE, TINY_READ, crlf, load_codex_requests, load_streams

RID = "resp_bench0000000000000000"
CREATED = 1700000000
MODEL = "bench-model"

STREAMS = load_streams()
STREAM_IDS = [s.name for s in STREAMS]
REQUESTS = load_codex_requests()
REQUEST_IDS = [r.name for r in REQUESTS]

_OUTPUTS: Dict[Tuple[str, str, str], bytes] = {}


def _translate(engine: str, provider: str, pieces: List[bytes]) -> Callable[[], bytes]:
    """One round: a fresh translator over the whole stream, as the proxy runs it per request."""
    make = ccp.StreamTranslator

    def round_() -> bytes:
        t = make(provider, MODEL, RID, CREATED, engine)
        out = [t.start()]
        feed = t.feed
        for piece in pieces:
            out.append(feed(piece))
        out.append(t.finish())
        return b"".join(out)

    return round_


def _output(engine: str, provider: str, stream_name: str, pieces: List[bytes]) -> bytes:
    key = (engine, provider, stream_name)
    if key not in _OUTPUTS:
        _OUTPUTS[key] = _translate(engine, provider, pieces)()
    return _OUTPUTS[key]


def _identical(engine: str, provider: str, stream_name: str, pieces: List[bytes]) -> bool:
    """Both engines must do the same work for the ratio to mean anything: compare their bytes."""
    if engine != "rust":
        return True
    return _output("rust", provider, stream_name, pieces) == _output("python", provider, stream_name, pieces)


@pytest.mark.parametrize("stream", STREAMS, ids=STREAM_IDS)
def test_saturated(measure, engine_ready, provider, stream) -> None:
    reads = stream.reads(READ_SIZE)
    same = _identical(engine_ready, provider, stream.name, reads)
    out = _output(engine_ready, provider, stream.name, reads)
    assert b"response.completed" in out or b"response.incomplete" in out, out[-300:]
    measure("saturated", stream.name, engine_ready, _translate(engine_ready, provider, reads),
            stream.event_count, len(stream.body), outputs_identical=same, output_bytes=len(out),
            feeds=len(reads))


@pytest.mark.parametrize("stream", STREAMS, ids=STREAM_IDS)
def test_paced(measure, engine_ready, provider, stream) -> None:
    events = stream.events
    measure("paced", stream.name, engine_ready, _translate(engine_ready, provider, events),
            stream.event_count, len(stream.body), feeds=len(events))


@pytest.mark.parametrize("request_", REQUESTS, ids=REQUEST_IDS)
def test_request_conversion(measure, engine_ready, provider, request_) -> None:
    convert = ccp.convert_request
    body = request_.body

    def round_() -> bytes:
        return convert(body, provider, engine=engine_ready)

    chat = round_()
    assert chat.startswith(b"{") and b'"messages"' in chat
    measure("request", request_.name, engine_ready, round_, 1, len(body), unit="requests")


def _sse_decoder(engine: str):
    if engine == "rust":
        from codex_convert_proxy import _rust  # type: ignore[attr-defined]

        return _rust.SseDecoder
    from codex_convert_proxy.wire.sse import SseDecoder

    return SseDecoder


_SSE_BODY = crlf(b"".join(s.body for s in STREAMS))
_SSE_EVENTS = sum(s.event_count for s in STREAMS)


@pytest.mark.parametrize("read_size", [TINY_READ, READ_SIZE], ids=[f"crlf_{TINY_READ}B", "crlf_64KiB"])
def test_sse_decoding(measure, engine_ready, read_size) -> None:
    decoder_class = _sse_decoder(engine_ready)
    reads = [_SSE_BODY[i : i + read_size] for i in range(0, len(_SSE_BODY), read_size)]

    def round_() -> int:
        d = decoder_class()
        feed = d.feed
        n = 0
        for piece in reads:
            n += len(feed(piece))
        return n + len(d.finish())

    assert round_() == _SSE_EVENTS
    case = f"crlf_{TINY_READ}B" if read_size == TINY_READ else "crlf_64KiB"
    measure("sse", case, engine_ready, round_, _SSE_EVENTS, len(_SSE_BODY), feeds=len(reads))
