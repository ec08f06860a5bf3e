"""Which engine runs: the Rust extension when it loads, the pure-Python twin otherwise."""
from __future__ import annotations

import os
import warnings
from typing import Optional, Tuple

ENV_VAR = "CODEX_CONVERT_PROXY_ENGINE"

try:
    from . import _rust as rust_engine  # type: ignore[attr-defined]

    RUST_IMPORT_ERROR: Optional[str] = None
except ImportError as exc:  # no wheel for this platform, a source checkout, or blocked on purpose
    rust_engine = None
    RUST_IMPORT_ERROR = str(exc) or type(exc).__name__

_warned = False


def available_engines() -> Tuple[str, ...]:
    return ("rust", "python") if rust_engine is not None else ("python",)


def resolve_engine(engine: Optional[str] = None) -> str:
    """`engine`, else $CODEX_CONVERT_PROXY_ENGINE, else rust when it loads, else python."""
    global _warned
    choice = engine or os.environ.get(ENV_VAR) or ""
    choice = choice.strip().lower()
    if choice == "python":
        return "python"
    if choice == "rust":
        if rust_engine is None:
            raise ValueError(f"the rust engine is not available: {RUST_IMPORT_ERROR}")
        return "rust"
    if choice:
        raise ValueError(f"unknown engine {choice!r}: expected 'rust' or 'python'")
    if rust_engine is not None:
        return "rust"
    if not _warned:
        _warned = True
        warnings.warn(
            f"codex_convert_proxy: Rust engine unavailable ({RUST_IMPORT_ERROR}); "
            "using the pure-Python engine",
            RuntimeWarning,
            stacklevel=3,
        )
    return "python"
