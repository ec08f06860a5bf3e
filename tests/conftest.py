"""Shared test set-up: the engines under test and the SSE decoder of each.

``CCP_BLOCK_RUST=1`` hides the Rust extension before anything imports the package, so the whole
suite proves the pure-Python engine works with the extension absent. In CI (``CI=true``) a missing
extension is a test failure (tests/test_rust_module.py), never a silent python-only run.
"""
from __future__ import annotations

import os
import sys
from typing import Optional, Tuple

import pytest
from hypothesis import settings

BLOCK_RUST = os.environ.get("CCP_BLOCK_RUST") == "1"
IN_CI = os.environ.get("CI", "").lower() == "true"

if BLOCK_RUST:
    # A None entry makes every `import codex_convert_proxy._rust` raise ImportError, exactly as
    # when the wheel was built without the extension.
    sys.modules["codex_convert_proxy._rust"] = None  # type: ignore[assignment]


def _load_rust() -> Tuple[bool, Optional[str]]:
    try:
        import codex_convert_proxy._rust  # noqa: F401
    except ImportError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return True, None


RUST_AVAILABLE, RUST_IMPORT_ERROR = _load_rust()
# "rust" first, as the package's own preference order.
ENGINES: Tuple[str, ...] = (("rust",) if RUST_AVAILABLE else ()) + ("python",)

# The machine is small and shared: example timing is noise, not a failure.
settings.register_profile("ccp", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ccp"))


@pytest.fixture(scope="session", params=ENGINES, ids=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    """Each available engine in turn: ``"rust"`` (when the extension loads) and ``"python"``."""
    return request.param


def sse_decoder_class(engine: str) -> type:
    """The SseDecoder class of an engine. Rust payloads are UTF-8 ``bytes``, Python's ``str``."""
    if engine == "rust":
        from codex_convert_proxy._rust import SseDecoder
    elif engine == "python":
        from codex_convert_proxy.wire.sse import SseDecoder
    else:
        raise ValueError(f"unknown engine {engine!r}")
    return SseDecoder


@pytest.fixture(scope="session")
def sse_decoder(engine: str) -> type:
    """The SseDecoder class of the engine under test."""
    return sse_decoder_class(engine)


@pytest.fixture(scope="session")
def rust_engine() -> str:
    """For tests that compare the engines: they need the extension (absent only when blocked or
    not built; CI turns an absent extension into a failure of its own)."""
    if BLOCK_RUST:
        pytest.skip("rust extension blocked by CCP_BLOCK_RUST=1")
    if not RUST_AVAILABLE:
        pytest.skip(f"rust extension not loaded ({RUST_IMPORT_ERROR})")
    return "rust"
