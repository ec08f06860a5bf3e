"""The public Python API over both engines: engine selection, return types, defaults."""
from __future__ import annotations

import json
import re
import warnings

import pytest

import codex_convert_proxy as ccp
from codex_convert_proxy import _engines
from conftest import RUST_AVAILABLE


def test_available_engines_lists_rust_first_when_it_loads() -> None:
    expected = ("rust", "python") if RUST_AVAILABLE else ("python",)
    assert ccp.available_engines() == expected


def test_environment_variable_chooses_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ccp.ENV_VAR, "python")
    assert ccp.StreamTranslator("openai", "m").engine == "python"
    monkeypatch.setenv(ccp.ENV_VAR, "PyThOn ")
    assert ccp.StreamTranslator("openai", "m").engine == "python"


def test_explicit_engine_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch, engine: str) -> None:
    monkeypatch.setenv(ccp.ENV_VAR, "python" if engine == "rust" else "rust")
    assert ccp.StreamTranslator("openai", "m", engine=engine).engine == engine


def test_unknown_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="unknown engine 'fortran'"):
        ccp.convert_request(b"{}", "openai", engine="fortran")
    monkeypatch.setenv(ccp.ENV_VAR, "cobol")
    with pytest.raises(ValueError, match="unknown engine 'cobol'"):
        ccp.StreamTranslator("openai", "m")


def test_default_is_rust_when_it_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ccp.ENV_VAR, raising=False)
    if not RUST_AVAILABLE:
        pytest.skip("the extension is not loaded in this run: see the fallback test")
    assert ccp.StreamTranslator("openai", "m").engine == "rust"


def test_without_the_extension_python_is_used_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ccp.ENV_VAR, raising=False)
    # What the engine chooser sees on a platform without the extension (in the blocked run it
    # really is absent; the import error text is pinned so the message can be checked whole).
    monkeypatch.setattr(_engines, "rust_engine", None)
    monkeypatch.setattr(_engines, "RUST_IMPORT_ERROR", "No module named 'codex_convert_proxy._rust'")
    monkeypatch.setattr(_engines, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _engines.resolve_engine() == "python"
        assert _engines.resolve_engine() == "python"
    assert [str(w.message) for w in caught if w.category is RuntimeWarning] == [
        "codex_convert_proxy: Rust engine unavailable (No module named 'codex_convert_proxy._rust'); "
        "using the pure-Python engine"]
    with pytest.raises(ValueError, match="rust engine is not available"):
        _engines.resolve_engine("rust")


def test_convert_request_returns_bytes_with_what_it_learned(engine: str) -> None:
    body = json.dumps({
        "model": "gpt-x", "input": "hi", "stream": True, "store": False,
        "tools": [{"type": "web_search"}, {"type": "custom", "name": "apply_patch", "description": "d"}],
    }).encode()
    req = ccp.convert_request(body, "deepseek", model="deepseek-chat", engine=engine)
    assert isinstance(req, bytes) and isinstance(req, ccp.ChatRequest)
    chat = json.loads(req)
    assert chat["model"] == "deepseek-chat" and chat["messages"] == [{"role": "user", "content": "hi"}]
    assert req.degraded[0] == "tool:web_search"
    assert req.stream is True and req.model == "deepseek-chat"
    assert json.loads(req.tool_map) == {"custom": ["apply_patch"], "namespaces": {}}
    assert json.loads(req.echo)["store"] is False


def test_convert_request_errors_are_conversion_errors(engine: str) -> None:
    with pytest.raises(ccp.ConversionError, match="not valid JSON"):
        ccp.convert_request(b"{nope", "openai", engine=engine)
    assert issubclass(ccp.ConversionError, ValueError)


def test_convert_response_returns_bytes_with_degraded(engine: str) -> None:
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                               "finish_reason": "stop"}], "model": "up"}
    out = ccp.convert_response(json.dumps(completion).encode(), "openai", engine=engine)
    assert isinstance(out, ccp.ResponseBody) and out.degraded == ()
    response = json.loads(out)
    assert response["status"] == "completed" and response["model"] == "up"
    assert re.fullmatch(r"resp_[0-9a-f]{24}", response["id"])
    assert isinstance(response["created_at"], int)


def test_stream_translator_defaults_and_final_response(engine: str) -> None:
    t = ccp.StreamTranslator("openai", "m", engine=engine)
    assert re.fullmatch(r"resp_[0-9a-f]{24}", t.response_id) and isinstance(t.created_at, int)
    assert t.response is None and t.status == "in_progress" and not t.done
    out = t.feed(b'data: {"choices":[{"index":0,"delta":{"content":"hey"},"finish_reason":"stop"}]}\n\n')
    out += t.finish()
    assert t.done and t.status == "completed"
    assert t.response["id"] == t.response_id
    assert t.response["output"][0]["content"][0]["text"] == "hey"
    assert t.terminal_response == json.dumps(t.response, ensure_ascii=False, separators=(",", ":")).encode()
    counts = t.event_counts()
    assert counts["response.completed"] == 1 and sum(counts.values()) == out.count(b"\nevent: ") + 1
