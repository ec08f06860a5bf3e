"""The fixture corpus (tests/fixtures/streams) through both engines, checked against manifest.json.

Each upstream body is translated with its manifest provider, model and tool_map; the terminal
status, error code, incomplete reason, output items, usage and degraded names must be what the
manifest (written from docs/engine-contract.md §3) says, every stream must keep the invariants of
streamkit.check_invariants, and the output must not depend on how the bytes were cut into reads.
"""
from __future__ import annotations

import json
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from streamkit import assert_split_invariant, check_invariants, translate

STREAMS = Path(__file__).resolve().parent / "fixtures" / "streams"
MANIFEST: Dict[str, Any] = json.loads((STREAMS / "manifest.json").read_text("utf-8"))
NAMES = sorted(MANIFEST)


def fixture_body(name: str) -> bytes:
    return (STREAMS / f"{name}.sse").read_bytes()


def fixture_args(name: str) -> Dict[str, Any]:
    """translate() keyword arguments for a manifest entry."""
    entry = MANIFEST[name]
    tool_map = entry["tool_map"]
    return {
        "provider": entry["provider"],
        "model": entry["model"],
        "tool_map": None if tool_map is None else json.dumps(tool_map).encode(),
    }


def summarize_item(item: Dict[str, Any]) -> Dict[str, Any]:
    """An output item in the manifest's id-free shape (tests/fixtures/README.md)."""
    kind = item["type"]
    if kind == "reasoning":
        return {"type": kind, "text": "".join(p["text"] for p in item["summary"])}
    if kind == "message":
        texts = [p["text"] for p in item["content"] if p["type"] == "output_text"]
        refusals = [p["refusal"] for p in item["content"] if p["type"] == "refusal"]
        return {"type": kind, "text": "".join(texts), "refusal": "".join(refusals) if refusals else None}
    if kind == "function_call":
        return {"type": kind, "name": item["name"], "namespace": item.get("namespace"), "arguments": item["arguments"]}
    if kind == "custom_tool_call":
        return {"type": kind, "name": item["name"], "input": item["input"]}
    raise AssertionError(f"unexpected output item type {kind!r}")


def summarize_usage(usage: Optional[Dict[str, Any]]) -> Optional[Dict[str, int]]:
    if usage is None:
        return None
    return {
        "input_tokens": usage["input_tokens"],
        "cached_tokens": usage["input_tokens_details"]["cached_tokens"],
        "output_tokens": usage["output_tokens"],
        "reasoning_tokens": usage["output_tokens_details"]["reasoning_tokens"],
        "total_tokens": usage["total_tokens"],
    }


def test_corpus_is_present():
    assert len(NAMES) >= 40, "tests/fixtures/streams/manifest.json is missing or nearly empty"
    assert all((STREAMS / f"{name}.sse").is_file() for name in NAMES)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", NAMES)
def test_fixture_translates_as_the_manifest_says(engine, name):
    expect = MANIFEST[name]["expect"]
    r = translate(engine, fixture_body(name), **fixture_args(name))
    check_invariants(r.events)
    response = r.response
    terminal_type = {"completed": "response.completed", "incomplete": "response.incomplete",
                     "failed": "response.failed"}[expect["status"]]
    assert r.types[-1] == terminal_type
    assert response["status"] == expect["status"]
    assert (response["error"] or {}).get("code") == expect["error_code"]
    assert (response["incomplete_details"] or {}).get("reason") == expect["incomplete_reason"]
    assert [summarize_item(item) for item in response["output"]] == expect["output"]
    assert summarize_usage(response["usage"]) == expect["usage"]
    assert list(r.translator.degraded) == expect["degraded"]
    # The translator's own view agrees with what it sent.
    t = r.translator
    assert t.done and t.status == expect["status"] and t.response == response
    assert json.loads(t.terminal_response) == response
    assert t.event_counts() == dict(Counter(r.types))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", NAMES)
def test_fixture_output_does_not_depend_on_read_boundaries(engine, name):
    # 1-byte reads, 64 KiB reads and random cuts (seeded by the name) all give the same bytes.
    assert_split_invariant(engine, fixture_body(name), seed=zlib.crc32(name.encode()), **fixture_args(name))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", NAMES)
def test_fixture_output_does_not_depend_on_event_boundaries(engine, name):
    # One feed per upstream SSE event (the paced, real-network case): the same bytes again.
    body = fixture_body(name)
    cuts = _event_ends(body)
    assert cuts, "no event boundary found"
    paced = translate(engine, body, splits=cuts, **fixture_args(name))
    assert paced.raw == translate(engine, body, **fixture_args(name)).raw


def _event_ends(body: bytes) -> List[int]:
    """Offsets just after each blank line (LF, CRLF or CR framing)."""
    ends = []
    for sep in (b"\r\n\r\n", b"\n\n", b"\r\r"):
        at = body.find(sep)
        while at != -1:
            ends.append(at + len(sep))
            at = body.find(sep, at + 1)
    return sorted(set(e for e in ends if e < len(body)))
