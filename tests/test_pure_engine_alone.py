"""The pure-Python engine must stand alone: the whole suite again, with the extension hidden.

`CCP_BLOCK_RUST=1` makes `import codex_convert_proxy._rust` fail (tests/conftest.py), as on a
platform without a wheel. The inner run skips this test (it is the inner run) and the Codex
end-to-end scenarios (they already run on both engines in the outer run).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BLOCK_RUST

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(1800)
def test_suite_passes_with_the_extension_absent() -> None:
    if BLOCK_RUST:
        pytest.skip("this is the inner, extension-less run")
    env = dict(os.environ, CCP_BLOCK_RUST="1")
    env.pop("CODEX_CONVERT_PROXY_ENGINE", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         "--ignore=tests/e2e", "--ignore=tests/test_rust_crate.py", "tests"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1700,
    )
    tail = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout, tail
