"""The PyO3 boundary (engine contract §7): presence in CI, errors, panics, stubs, threads."""
from __future__ import annotations

import ast
import importlib
import threading
from pathlib import Path

import pytest

from conftest import BLOCK_RUST, IN_CI, RUST_AVAILABLE, RUST_IMPORT_ERROR
from codex_convert_proxy.errors import ConversionError


def test_rust_extension_loads_unless_blocked() -> None:
    """In CI a missing extension fails the run instead of silently testing python only."""
    if BLOCK_RUST:
        assert not RUST_AVAILABLE
        with pytest.raises(ImportError):
            importlib.import_module("codex_convert_proxy._rust")
        return
    if not RUST_AVAILABLE and not IN_CI:
        pytest.skip(f"extension not built ({RUST_IMPORT_ERROR}); with CI=true this fails")
    assert RUST_AVAILABLE, f"codex_convert_proxy._rust did not load: {RUST_IMPORT_ERROR}"


@pytest.fixture(scope="module")
def rust(rust_engine: str):
    return importlib.import_module("codex_convert_proxy._rust")


def test_build_info(rust) -> None:
    info = rust.build_info()
    assert set(info) == {"debug", "version"}
    assert isinstance(info["debug"], bool)
    assert info["version"] == "0.2.0"


def test_panic_becomes_conversion_error(rust) -> None:
    with pytest.raises(ConversionError, match=r"^internal engine error: boom 42$"):
        rust._panic_for_tests("boom 42")
    # the module keeps working afterwards
    assert rust.SseDecoder().feed(b"data: x\n\n") == [b"x"]


def test_engine_error_becomes_conversion_error(rust) -> None:
    with pytest.raises(ConversionError) as caught:
        rust.convert_request(b"{", "openai")
    assert not str(caught.value).startswith("internal engine error")
    assert str(caught.value)


def test_wrong_argument_types_are_type_errors(rust) -> None:
    with pytest.raises(TypeError):
        rust.SseDecoder().feed("data: x\n\n")
    with pytest.raises(TypeError):
        rust.StreamTranslator("openai", "m", "resp_1", "not-an-int")


def test_decoder_usable_from_another_thread(rust) -> None:
    """pyclasses are not `unsendable`: an object made on one thread works on another."""
    decoder = rust.SseDecoder()
    assert decoder.feed(b"data: a") == []
    results = []
    worker = threading.Thread(target=lambda: results.append(decoder.feed(b"\n\n")))
    worker.start()
    worker.join(timeout=10)
    assert results == [[b"a"]]


def _stub_api(path: Path) -> dict:
    """Names the .pyi declares: top-level functions/classes, and each class's members."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    api: dict = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            api[node.name] = None
        elif isinstance(node, ast.ClassDef):
            api[node.name] = {
                item.name
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name != "__init__"
            }
    return api


def test_stub_matches_module(rust) -> None:
    stub = Path(rust.__file__).with_name("_rust.pyi")
    api = _stub_api(stub)
    exported = {name for name in dir(rust) if not name.startswith("__")}
    assert set(api) == exported
    for name, members in api.items():
        if members is not None:
            actual = {m for m in dir(getattr(rust, name)) if not m.startswith("__")}
            assert members == actual, name
