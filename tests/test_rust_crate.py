"""The Rust core on its own: `cargo test` (no Python, no PyO3) and clippy with warnings as errors.

These run the crate's own unit tests and golden replays from the same test command as the rest,
so nobody can forget them. They need cargo (the build needs it anyway).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(1200)


def _cargo(*args: str) -> subprocess.CompletedProcess:
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    if not Path(cargo).exists():
        if IN_CI:
            pytest.fail("cargo is not installed")
        pytest.skip("cargo is not installed")
    env = dict(os.environ, CARGO_TERM_COLOR="never")
    return subprocess.run(
        [cargo, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1100
    )


def _check(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"


def test_cargo_test_without_python() -> None:
    result = _cargo("test", "--quiet")
    _check(result)
    assert " passed" in result.stdout and " 0 failed" in result.stdout


def test_clippy_core_is_clean() -> None:
    _check(_cargo("clippy", "--quiet", "--all-targets", "--", "-D", "warnings"))


def test_clippy_with_pyo3_boundary_is_clean() -> None:
    _check(_cargo("clippy", "--quiet", "--all-targets", "--features", "python", "--", "-D", "warnings"))


def test_rustfmt_is_clean() -> None:
    _check(_cargo("fmt", "--check"))
