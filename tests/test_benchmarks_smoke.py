"""The benchmarks must keep running (issue 5): their short modes, run as subprocesses.

Benchmarks are not timed tests: nothing here checks a figure. It checks that each benchmark runs
to the end on the engines available, records every group/target, loses no stream, and that the
engine benchmark refuses a debug build of the extension.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ENGINES

REPO = Path(__file__).resolve().parent.parent
BENCHES = REPO / "benches"


def _run(argv, timeout):
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def test_engine_benchmarks_run_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "engine.json"
    proc = _run([sys.executable, "-m", "pytest", str(BENCHES), "--quick", "-q", "--engines", ",".join(ENGINES),
                 "--bench-json", str(out)], timeout=600)
    assert "engine benchmarks" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["quick"] is True
    groups = {(row["group"], row["engine"]) for row in doc["rows"]}
    assert groups == {(g, e) for g in ("saturated", "paced", "request", "sse") for e in ENGINES}
    assert all(row["units_per_s"] > 0 and row["rounds"] >= 1 for row in doc["rows"])
    if "rust" in ENGINES:
        assert set(doc["groups"]["saturated"]) >= {"engines", "ratio"}
        assert all(c.get("rust", {}).get("outputs_identical", True) for c in doc["cases"])


def test_e2e_benchmark_runs_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "e2e.json"
    _run([sys.executable, str(BENCHES / "e2e.py"), "--quick", "--engines", ",".join(ENGINES), "--json", str(out),
          "--max-seconds", "240"], timeout=300)
    doc = json.loads(out.read_text())
    targets = {(row["phase"], row["target"]) for row in doc["rows"]}
    expected = {"direct", "relay"} | {f"{e}-w1" for e in ENGINES}
    assert targets == {(p, t) for p in ("capacity", "paced") for t in expected}
    for row in doc["rows"]:
        assert row["streams_ok"] > 0 and row["streams_failed"] == 0, row
        # every delta of every stream was stamped by the mock and found by the client
        assert row["event_latency_ms"]["samples"] == row["deltas"] > 0, row
        if row["target"] != "direct":
            assert row["proxy_cpu_s"] >= 0 and row["peak_rss_mb"] > 0, row


def test_engine_benchmark_refuses_a_debug_build(monkeypatch: pytest.MonkeyPatch) -> None:
    if "rust" not in ENGINES:
        pytest.skip("the rust extension is not loaded in this run (blocked or not built)")
    import codex_convert_proxy._rust as rust

    spec = importlib.util.spec_from_file_location("bench_conftest", BENCHES / "conftest.py")
    assert spec and spec.loader
    bench_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_conftest)
    assert bench_conftest.rust_problem() is None or "DEBUG" not in bench_conftest.rust_problem()
    monkeypatch.setattr(rust, "build_info", lambda: {"debug": True, "version": "test"})
    problem = bench_conftest.rust_problem()
    assert problem is not None and "DEBUG build" in problem and "--release" in problem
