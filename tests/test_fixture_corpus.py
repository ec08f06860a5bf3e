"""The upstream SSE fixture corpus (tests/fixtures/streams): reproducible, complete, well-formed.

The engine tests replay these files and compare with manifest.json; this file checks the corpus
itself, so a broken fixture shows up as a corpus failure rather than as an engine bug.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from codex_convert_proxy.providers import get_profile, profile_names

STREAMS = Path(__file__).resolve().parent / "fixtures" / "streams"
MANIFEST: Dict[str, Any] = json.loads((STREAMS / "manifest.json").read_text("utf-8"))


def _generator():
    spec = importlib.util.spec_from_file_location("generate_streams", STREAMS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def sse_payloads(body: bytes) -> List[str]:
    """A small WHATWG event-stream reader (contract §2), independent of the engines' decoders."""
    text = body.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)
    if lines and lines[-1] == "":
        lines.pop()  # the split after the last line end, not a blank line
    payloads, data = [], []
    for line in lines:
        if line == "":
            if "\n".join(data):
                payloads.append("\n".join(data))
            data = []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
    if "\n".join(data):
        payloads.append("\n".join(data))  # lenient end: a last event without its blank line
    return payloads


def test_files_are_exactly_what_the_generator_writes():
    files, manifest = _generator().build()
    assert (STREAMS / "manifest.json").read_bytes() == manifest, "run tests/fixtures/streams/generate.py"
    for name, data in files.items():
        assert (STREAMS / name).read_bytes() == data, f"{name} is out of date: run generate.py"
    assert sorted(p.name for p in STREAMS.glob("*.sse")) == sorted(files)
    assert sorted(files) == sorted(f"{name}.sse" for name in MANIFEST)


_ITEM_KEYS = {
    "reasoning": ["type", "text"],
    "message": ["type", "text", "refusal"],
    "function_call": ["type", "name", "namespace", "arguments"],
    "custom_tool_call": ["type", "name", "input"],
}
_CODES = {"server_error", "context_length_exceeded", "rate_limit_exceeded", "insufficient_quota"}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_manifest_entry_is_well_formed(name):
    entry = MANIFEST[name]
    known = set(profile_names()) | {a for p in profile_names() for a in get_profile(p).aliases}
    assert entry["provider"] in known
    assert isinstance(entry["model"], str) and entry["model"]
    tool_map = entry["tool_map"]
    if tool_map is not None:
        assert set(tool_map) == {"custom", "namespaces"}
        assert all(isinstance(v, list) and len(v) == 2 for v in tool_map["namespaces"].values())
    expect = entry["expect"]
    assert list(expect) == ["status", "error_code", "incomplete_reason", "output", "usage", "degraded"]
    status = expect["status"]
    assert status in ("completed", "incomplete", "failed")
    assert (expect["error_code"] in _CODES) if status == "failed" else expect["error_code"] is None
    if status == "incomplete":
        assert expect["incomplete_reason"] in ("max_output_tokens", "content_filter")
    else:
        assert expect["incomplete_reason"] is None
    for item in expect["output"]:
        assert list(item) == _ITEM_KEYS[item["type"]], item
    custom = set(tool_map["custom"]) if tool_map else set()
    for item in expect["output"]:
        if item["type"] == "custom_tool_call":
            assert item["name"] in custom
        if item["type"] == "function_call":
            assert item["name"] not in custom
            assert item["arguments"] == "{}" or json.loads(item["arguments"]) is not None
    usage = expect["usage"]
    if usage is not None:
        assert list(usage) == ["input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens"]
        assert all(type(v) is int and v >= 0 for v in usage.values())
        assert usage["cached_tokens"] <= usage["input_tokens"]
    degraded = expect["degraded"]
    assert len(set(degraded)) == len(degraded) and all(re.fullmatch(r"[a-z_]+:[a-z_]+", d) for d in degraded)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_fixture_decodes_to_chat_chunks(name):
    payloads = sse_payloads((STREAMS / f"{name}.sse").read_bytes())
    expect = MANIFEST[name]["expect"]
    malformed = 0
    chunks = []
    for payload in payloads:
        if payload.strip() == "[DONE]":
            continue
        try:
            chunk = json.loads(payload)
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            malformed += 1
            continue
        chunks.append(chunk)
    assert bool(malformed) == ("stream:malformed_chunk" in expect["degraded"])
    assert chunks, "a fixture needs at least one chunk"
    has_done = "[DONE]" in (p.strip() for p in payloads)
    finishes = [c["choices"][0].get("finish_reason") for c in chunks
                if isinstance(c.get("choices"), list) and c["choices"] and isinstance(c["choices"][0], dict)
                and c["choices"][0].get("index", 0) == 0 and c["choices"][0].get("finish_reason")]
    errors = [c for c in chunks if c.get("error") is not None]
    if errors:
        assert expect["status"] == "failed"
    elif not finishes:
        # no finish_reason: [DONE] completes (reported), EOF fails
        assert expect["status"] == ("completed" if has_done else "failed")
        assert ("stream:missing_finish_reason" in expect["degraded"]) == has_done
    else:
        wanted = {"length": "incomplete", "content_filter": "incomplete", "sensitive": "incomplete",
                  "network_error": "failed"}.get(finishes[0], "completed")
        assert expect["status"] == wanted
    if expect["usage"] is None:
        assert not any(isinstance(c.get("usage"), dict) for c in chunks)


def test_framing_variants_are_really_in_the_files():
    read = lambda name: (STREAMS / f"{name}.sse").read_bytes()  # noqa: E731
    assert read("bom_start").startswith(b"\xef\xbb\xbfdata: ")
    crlf = read("crlf_line_endings")
    assert crlf.count(b"\r\n\r\n") >= 8 and crlf.count(b"\n") == crlf.count(b"\r\n")
    assert b"\n" not in read("cr_line_endings") and read("cr_line_endings").count(b"\r\r") >= 4
    u2028 = read("u2028_in_json")
    assert "\u2028".encode() in u2028 and "\u2029".encode() in u2028 and b"\\u2028" in u2028
    escaped = read("escaped_unicode")
    assert escaped.isascii() and b"\\ud83d\\ude00" in escaped
    assert b"\\u003c 1 line" in read("ollama_reasoning_tool_call")
    assert read("keepalive_comments").count(b": OPENROUTER PROCESSING\n\n") == 3
    assert read("deepseek_reasoning_text").startswith(b": keep-alive\n\n")
    assert not read("missing_done").rstrip().endswith(b"[DONE]")
    assert not read("sse_fields_and_multiline_data").endswith(b"\n")
    think = read("minimax_split_tags")
    assert b'"content":"<thi"' in think and b'"content":"nk>\\nThe question"' in think


def test_benchmark_streams_have_their_size():
    chunks = [json.loads(p) for p in sse_payloads((STREAMS / "bench_text_5000.sse").read_bytes()) if p != "[DONE]"]
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([d for d in deltas if d]) == 5000
    assert all(a != b for a, b in zip(deltas, deltas[1:])), "identical consecutive chunks"
    tool_payloads = sse_payloads((STREAMS / "bench_tool_calls.sse").read_bytes())
    assert len([p for p in tool_payloads if '"tool_calls"' in p]) > 1000
    for name in ("bench_text_5000", "bench_reasoning", "bench_tool_calls", "bench_minimax_think"):
        assert MANIFEST[name].get("bench") is True


def test_corpus_covers_the_required_cases():
    required = [
        "deepseek_reasoning_text", "deepseek_reasoning_tool_call", "glm_reasoning_empty_content", "glm_sensitive",
        "glm_network_error", "kimi_cached_tokens", "minimax_think_tags", "minimax_split_tags",
        "minimax_close_tag_only", "minimax_unclosed_think", "qwen_reasoning_text", "vllm_reasoning_tool_call",
        "ollama_reasoning_tool_call", "parallel_tool_calls_interleaved", "cumulative_arguments",
        "arguments_in_final_chunk", "tool_call_no_index", "apply_patch_custom_tool", "namespace_tool_call",
        "refusal", "finish_length", "content_filter", "missing_done", "cut_before_finish",
        "openrouter_error_after_output", "context_length_error", "repeated_finish_reason", "openai_text_usage",
        "empty_delta_chunks", "keepalive_comments", "bom_start", "crlf_line_endings", "u2028_in_json",
        "emoji_cjk", "malformed_chunk_middle",
    ]
    assert not [name for name in required if name not in MANIFEST]
    providers = {MANIFEST[n]["provider"] for n in MANIFEST}
    assert {"deepseek", "glm", "kimi", "minimax", "qwen", "vllm", "ollama", "openrouter", "openai"} <= providers
