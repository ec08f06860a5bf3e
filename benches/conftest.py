"""Engine benchmark plumbing: options, the rust-build guard, and the summary table + JSON.

Each benchmark records (group, case, engine, units, input bytes, per-round CPU seconds) through the
`measure` fixture; at the end of the session `pytest_terminal_summary` prints events/s and MB/s of
upstream input per engine, the rust/python ratio per case and per group, the issue-5 targets, and
writes everything to `bench-results/engine.json` (git-ignored).
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdata import REPO  # noqa: E402

QUICK_ENV = "CCP_BENCH_QUICK"
ENGINES = ("rust", "python")

# Seconds of CPU each (case, engine) aims to spend measuring, and bounds on the round count.
TARGET_SECONDS = 1.0
MIN_ROUNDS = 5
MAX_ROUNDS = 2000
QUICK_ROUNDS = 2

# Issue 5 targets for the engine groups.
TARGETS = {
    "saturated": {"ratio": 20.0, "rust_events_per_s": 1_000_000},
    "paced": {"ratio": 5.0},
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ccp-bench", "codex-convert-proxy engine benchmarks")
    group.addoption("--quick", action="store_true", default=False,
                    help=f"few rounds per case (CI smoke mode); also ${QUICK_ENV}=1")
    group.addoption("--engines", default=",".join(ENGINES),
                    help="comma list of engines to run (default rust,python; ratios need both)")
    group.addoption("--bench-json", default=str(REPO / "bench-results" / "engine.json"),
                    help="where to write the summary JSON (default bench-results/engine.json)")
    group.addoption("--bench-provider", default="openai",
                    help="provider profile used by the translators and request conversion (default openai)")


def quick_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--quick")) or os.environ.get(QUICK_ENV, "") not in ("", "0")


def selected_engines(config: pytest.Config) -> List[str]:
    names = [e.strip() for e in str(config.getoption("--engines")).split(",") if e.strip()]
    unknown = [e for e in names if e not in ENGINES]
    if unknown or not names:
        raise pytest.UsageError(f"--engines wants a comma list of {ENGINES}, got {config.getoption('--engines')!r}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", selected_engines(metafunc.config))


@pytest.fixture(scope="session")
def provider(pytestconfig: pytest.Config) -> str:
    return str(pytestconfig.getoption("--bench-provider"))


def rust_problem() -> Optional[str]:
    """Why the rust side cannot be benchmarked, or None. A debug build is refused: its figures
    would be 10-50x off and would be quoted as the project's numbers."""
    try:
        from codex_convert_proxy import _rust  # type: ignore[attr-defined]
    except ImportError as exc:
        return (f"the Rust extension does not import ({exc}); build it in this tree with "
                "`maturin develop --release` (or `pip install -e .`)")
    info = dict(_rust.build_info())
    if info.get("debug"):
        return ("refusing to benchmark a DEBUG build of codex_convert_proxy._rust "
                f"({getattr(_rust, '__file__', '?')}); rebuild with `maturin develop --release`")
    return None


@pytest.fixture(scope="session")
def rust_build() -> Dict[str, Any]:
    problem = rust_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    from codex_convert_proxy import _rust  # type: ignore[attr-defined]

    return dict(_rust.build_info())


@pytest.fixture
def engine_ready(request: pytest.FixtureRequest, engine: str) -> str:
    """The engine under test, after refusing an unusable rust build (a failure, never a skip)."""
    if engine == "rust":
        request.getfixturevalue("rust_build")
    return engine


# --- measuring -----------------------------------------------------------------------------------


class Results:
    def __init__(self) -> None:
        self.rows: List[Dict[str, Any]] = []


RESULTS = Results()


def _rounds_for(config: pytest.Config, once_s: float) -> int:
    if quick_mode(config):
        return QUICK_ROUNDS
    if once_s <= 0:
        return MAX_ROUNDS
    return max(MIN_ROUNDS, min(MAX_ROUNDS, math.ceil(TARGET_SECONDS / once_s)))


@pytest.fixture
def measure(benchmark: Any, pytestconfig: pytest.Config) -> Callable[..., Dict[str, Any]]:
    """measure(group, case, engine, fn, units, nbytes, unit="events") -> the recorded row.

    `fn` is one round (a whole stream, one request...). It runs once untimed (warm-up and round
    estimate), then `rounds` timed rounds under pytest-benchmark; rates use the median round.
    """

    def run(group: str, case: str, engine: str, fn: Callable[[], Any], units: int, nbytes: int,
            unit: str = "events", **extra: Any) -> Dict[str, Any]:
        started = time.process_time()
        fn()
        once = time.process_time() - started
        rounds = _rounds_for(pytestconfig, once)
        benchmark.group = f"{group}/{case}"
        benchmark.extra_info.update({"group": group, "case": case, "engine": engine, "units": units,
                                     "unit": unit, "input_bytes": nbytes, **extra})
        benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)
        stats = getattr(benchmark, "stats", None)
        if stats is None:  # --benchmark-disable: ran once, nothing to record
            return {}
        data = stats.stats
        row = {
            "group": group,
            "case": case,
            "engine": engine,
            "unit": unit,
            "units": units,
            "input_bytes": nbytes,
            "rounds": data.rounds,
            "median_s": data.median,
            "min_s": data.min,
            "mean_s": data.mean,
            "stddev_s": data.stddev if data.rounds > 1 else 0.0,
            "units_per_s": units / data.median if data.median > 0 else float("inf"),
            "mb_per_s": nbytes / data.median / 1e6 if data.median > 0 else float("inf"),
            **extra,
        }
        RESULTS.rows.append(row)
        return row

    return run


# --- the summary -----------------------------------------------------------------------------------


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def summarize(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per case: both engines and their ratio; per group: totals (sum of units / sum of median
    times over the cases both engines ran), the aggregate ratio and the worst case ratio."""
    cases: Dict[tuple, Dict[str, Dict[str, Any]]] = {}
    for row in rows:
        cases.setdefault((row["group"], row["case"]), {})[row["engine"]] = row
    case_out = []
    groups: Dict[str, Dict[str, Any]] = {}
    for (group, case), by_engine in cases.items():
        entry: Dict[str, Any] = {"group": group, "case": case}
        for engine, row in by_engine.items():
            entry[engine] = {k: row[k] for k in ("units_per_s", "mb_per_s", "median_s", "rounds", "unit", "units", "input_bytes")}
            for key in ("outputs_identical",):
                if key in row:
                    entry[engine][key] = row[key]
        if "rust" in by_engine and "python" in by_engine:
            entry["ratio"] = by_engine["python"]["median_s"] / by_engine["rust"]["median_s"]
        case_out.append(entry)
        g = groups.setdefault(group, {"cases": 0, "ratios": [], "engines": {}})
        g["cases"] += 1
        if "ratio" in entry:
            g["ratios"].append(entry["ratio"])
        for engine, row in by_engine.items():
            tot = g["engines"].setdefault(engine, {"units": 0, "input_bytes": 0, "seconds": 0.0, "unit": row["unit"]})
            tot["units"] += row["units"]
            tot["input_bytes"] += row["input_bytes"]
            tot["seconds"] += row["median_s"]
    group_out = {}
    for group, g in groups.items():
        engines = {}
        for engine, tot in g["engines"].items():
            secs = tot["seconds"]
            engines[engine] = {
                "unit": tot["unit"],
                "units_per_s": tot["units"] / secs if secs else float("inf"),
                "mb_per_s": tot["input_bytes"] / secs / 1e6 if secs else float("inf"),
            }
        out: Dict[str, Any] = {"engines": engines}
        if "rust" in engines and "python" in engines and len(g["ratios"]) == g["cases"]:
            out["ratio"] = g["engines"]["python"]["seconds"] / g["engines"]["rust"]["seconds"]
            out["ratio_min"] = min(g["ratios"])
            out["ratio_geomean"] = statistics.geometric_mean(g["ratios"])
        group_out[group] = out
    return {"cases": case_out, "groups": group_out, "targets": check_targets(group_out)}


def check_targets(groups: Dict[str, Any]) -> List[Dict[str, Any]]:
    checks = []
    for group, wanted in TARGETS.items():
        g = groups.get(group)
        if not g:
            continue
        if "ratio" in wanted and "ratio" in g:
            checks.append({"target": f"{group}: rust/python >= {wanted['ratio']:g}x (aggregate)",
                           "value": g["ratio"], "met": g["ratio"] >= wanted["ratio"]})
        if "rust_events_per_s" in wanted and "rust" in g["engines"]:
            rate = g["engines"]["rust"]["units_per_s"]
            checks.append({"target": f"{group}: rust >= {wanted['rust_events_per_s']:,} upstream events/s",
                           "value": rate, "met": rate >= wanted["rust_events_per_s"]})
    return checks


def render(summary: Dict[str, Any]) -> List[str]:
    lines = []
    head = f"{'group':<10} {'case':<22} {'engine':<7} {'rate/s':>9} {'unit':<8} {'MB/s':>8} {'median':>10} {'rounds':>6} {'rust/py':>8}"
    lines.append(head)
    lines.append("-" * len(head))
    for entry in summary["cases"]:
        for engine in ENGINES:
            row = entry.get(engine)
            if row is None:
                continue
            ratio = f"{entry['ratio']:.1f}x" if engine == "rust" and "ratio" in entry else ""
            lines.append(
                f"{entry['group']:<10} {entry['case']:<22} {engine:<7} {_fmt_rate(row['units_per_s']):>9} "
                f"{row['unit']:<8} {row['mb_per_s']:>8.1f} {row['median_s'] * 1e3:>8.3f}ms {row['rounds']:>6} {ratio:>8}"
            )
    lines.append("")
    lines.append("per group (sum of units / sum of median times; ratio = python time / rust time):")
    for group, g in summary["groups"].items():
        parts = []
        for engine in ENGINES:
            if engine in g["engines"]:
                e = g["engines"][engine]
                parts.append(f"{engine} {_fmt_rate(e['units_per_s'])} {e['unit']}/s {e['mb_per_s']:.1f} MB/s")
        ratio = ""
        if "ratio" in g:
            ratio = f"  rust/python {g['ratio']:.1f}x (worst case {g['ratio_min']:.1f}x, geomean {g['ratio_geomean']:.1f}x)"
        lines.append(f"  {group:<10} " + "; ".join(parts) + ratio)
    if summary["targets"]:
        lines.append("")
        lines.append("issue 5 targets:")
        for t in summary["targets"]:
            value = f"{t['value']:.1f}x" if "x" in t["target"].split(">=")[1] else f"{t['value']:,.0f}"
            lines.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {value}")
    different = [f"{e['group']}/{e['case']}" for e in summary["cases"]
                 if e.get("rust", {}).get("outputs_identical") is False]
    if different:
        lines.append("")
        lines.append("WARNING: rust and python wrote different bytes for: " + ", ".join(different)
                     + " (the engines are not byte-identical; the ratio compares different work)")
    return lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not RESULTS.rows:
        return
    summary = summarize(RESULTS.rows)
    tr = terminalreporter
    tr.section("codex-convert-proxy engine benchmarks (CPU time per round; rates from the median round)")
    for line in render(summary):
        tr.write_line(line)
    build: Dict[str, Any] = {}
    try:
        from codex_convert_proxy import _rust  # type: ignore[attr-defined]

        build = dict(_rust.build_info())
    except ImportError:
        pass
    document = {
        "kind": "engine",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "quick": quick_mode(config),
        "provider": config.getoption("--bench-provider"),
        "timer": "time.process_time (CPU seconds of the benchmark process)",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "loadavg_at_end": os.getloadavg(),
        },
        "rust_build": build,
        "command": " ".join(["pytest", *config.invocation_params.args]),
        **summary,
        "rows": RESULTS.rows,
    }
    path = Path(str(config.getoption("--bench-json")))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    tr.write_line(f"\nwritten: {path}")
