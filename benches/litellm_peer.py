#!/usr/bin/env python3
"""Peer figure (outside CI): LiteLLM's Responses bridge on the same recorded streams as our benches.

LiteLLM (PyPI `litellm`) can serve `litellm.aresponses(...)` from a Chat Completions upstream
(`use_chat_completions_api=True`): the same job as this project. This script replays each recorded
upstream stream (`tests/fixtures/streams/bench_*.sse`) from the project's mock upstream, runs it
through LiteLLM's bridge in this process, and measures (REFERENCE.md §10):

  CPU/chunk   CPU seconds of this process (all threads: `time.process_time`) per upstream chunk;
              it includes LiteLLM's HTTP client reading the stream, as the proxy's figure includes
              its own;
  chunks/s    upstream chunks per CPU second (1 / CPU per chunk: "events/s on one core") and per
              wall second;
  tail        time from the last delta event to `response.completed` (LiteLLM rebuilds the whole
              response at the end);
  RSS/chunk   growth of this process's RSS while one response streams (peak during the stream
              minus before it, sampled every 256 events) per upstream chunk;
  alloc/chunk peak of Python allocations (tracemalloc) while one response streams, per chunk (a
              separate, untimed pass: RSS hides growth the allocator serves from freed arenas).

LiteLLM is NOT a project dependency. Install it in a separate environment:

    python -m venv --system-site-packages /tmp/ccp-litellm-venv
    /tmp/ccp-litellm-venv/bin/pip install litellm mcp
    /tmp/ccp-litellm-venv/bin/python benches/litellm_peer.py

The mock runs as a subprocess with --mock-python (default: this interpreter) and PYTHONPATH set to
this checkout's `python/`. Loopback only; the mock is stopped on every exit path.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from benchdata import Stream, load_streams, streams_dir  # noqa: E402
from e2e import Procs, _git, free_port, wait_http  # noqa: E402


def script_for(stream: Stream) -> Dict[str, Any]:
    """A mock script that answers every request with this recorded stream, event by event."""
    return {"turns": [{"stream": [{"raw": event.decode("utf-8")} for event in stream.events]}]}


def chunk_count(stream: Stream) -> int:
    """Upstream JSON chunks (the `[DONE]` sentinel is not a chunk)."""
    return sum(1 for e in stream.events if b"[DONE]" not in e)


def rss_kib() -> int:
    """Current resident set size of this process (VmRSS, KiB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def one_response(litellm: Any, base_url: str, model: str) -> Dict[str, Any]:
    """One streamed response through LiteLLM's bridge: event counts, the end tail, and the peak
    RSS seen while it streamed (sampled every 256 events)."""
    rss_before = peak = rss_kib()
    response = await litellm.aresponses(
        model=f"openai/{model}",
        api_base=base_url,
        api_key="sk-peer-bench",
        input="Write a long answer.",
        stream=True,
        use_chat_completions_api=True,
    )
    events = 0
    last_delta = None
    completed_at = None
    kinds: Dict[str, int] = {}
    async for event in response:
        events += 1
        if events % 256 == 0:
            peak = max(peak, rss_kib())
        kind = getattr(event, "type", "?")
        kind = str(getattr(kind, "value", kind))  # LiteLLM's types are enums
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind.endswith(".delta"):
            last_delta = time.monotonic()
        elif kind == "response.completed":
            completed_at = time.monotonic()
    tail = (completed_at - last_delta) if completed_at and last_delta else None
    peak = max(peak, rss_kib())
    return {"events": events, "kinds": kinds, "tail_s": tail, "completed": completed_at is not None,
            "rss_growth_kib": peak - rss_before}


async def measure_stream(litellm: Any, base_url: str, model: str, stream: Stream, repeat: int,
                         concurrency: int) -> Dict[str, Any]:
    chunks = chunk_count(stream)
    first = await one_response(litellm, base_url, model)  # warm-up, not timed
    if not first["completed"]:
        raise RuntimeError(f"{stream.name}: LiteLLM did not complete the response: {first['kinds']}")
    tails: List[float] = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    done = 0
    while done < repeat:
        batch = min(concurrency, repeat - done)
        results = await asyncio.gather(*(one_response(litellm, base_url, model) for _ in range(batch)))
        tails += [r["tail_s"] for r in results if r["tail_s"] is not None]
        incomplete = [r for r in results if not r["completed"]]
        if incomplete:
            raise RuntimeError(f"{stream.name}: {len(incomplete)} responses did not complete: {incomplete[0]['kinds']}")
        done += batch
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    total = chunks * repeat
    # Memory, in a separate untimed pass: the peak of Python allocations while one response streams
    # (tracemalloc sees through the allocator's reuse of freed arenas, which RSS does not).
    import tracemalloc

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    await one_response(litellm, base_url, model)
    peak_alloc = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return {
        "stream": stream.name,
        "chunks": chunks,
        "responses": repeat,
        "concurrency": concurrency,
        "events_out_per_response": first["events"],
        "cpu_ms_per_chunk": 1000 * cpu / total,
        "chunks_per_cpu_s": total / cpu if cpu else None,
        "chunks_per_wall_s": total / wall if wall else None,
        "tail_ms_median": 1000 * sorted(tails)[len(tails) // 2] if tails else None,
        "tail_ms_max": 1000 * max(tails) if tails else None,
        "rss_growth_kib_per_chunk": first["rss_growth_kib"] / chunks,
        "peak_alloc_kib_per_chunk": peak_alloc / 1024 / chunks,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="benches/litellm_peer.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="timed responses per stream (default 3)")
    p.add_argument("--concurrency", type=int, default=1, help="responses in flight at once (default 1)")
    p.add_argument("--streams", default=None, help=f"directory of bench_*.sse (default {streams_dir()})")
    p.add_argument("--only", default=None, help="comma list of stream names to run (default all)")
    p.add_argument("--mock-python", default=sys.executable, help="interpreter that runs the mock upstream")
    p.add_argument("--json", default=str(REPO / "bench-results" / "litellm_peer.json"), help="JSON output path")
    return p


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    # The bundled model cost map, not a fetch from github.com (loopback only, and no 10 s retries).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm  # type: ignore[import-not-found]
    except ImportError:
        print("litellm_peer.py: litellm is not installed in this interpreter; see --help", file=sys.stderr)
        return 2
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    streams = load_streams(Path(args.streams) if args.streams else None)
    if args.only:
        wanted = {x.strip() for x in args.only.split(",")}
        streams = [s for s in streams if s.name in wanted]
    signal.signal(signal.SIGTERM, _terminate)
    procs = Procs()
    work = Path(tempfile.mkdtemp(prefix="ccp-litellm-"))
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    rows = []
    try:
        warmed = False
        for stream in streams:
            script = work / f"{stream.name}.json"
            script.write_text(json.dumps(script_for(stream)), "utf-8")
            port = free_port()
            mock = procs.start(f"mock-{stream.name}", [args.mock_python, "-m", "codex_convert_proxy.mock",
                                                      "--listen", f"127.0.0.1:{port}", "--script", str(script)],
                               work, env=env)
            wait_http(f"http://127.0.0.1:{port}/health", mock, 20)
            if not warmed:  # LiteLLM's lazy imports and caches, out of every figure
                asyncio.run(one_response(litellm, f"http://127.0.0.1:{port}/v1", "bench-model"))
                warmed = True
            row = asyncio.run(measure_stream(litellm, f"http://127.0.0.1:{port}/v1", "bench-model", stream,
                                             args.repeat, args.concurrency))
            rows.append(row)
            print(f"  {row['stream']:<22} {row['chunks']:>6} chunks  {row['cpu_ms_per_chunk']:.3f} ms CPU/chunk  "
                  f"{row['chunks_per_cpu_s']:,.0f} chunks/CPU-s  {row['chunks_per_wall_s']:,.0f} chunks/s wall  "
                  f"tail {row['tail_ms_median'] or 0:.0f} ms  RSS +{row['rss_growth_kib_per_chunk']:.2f} KiB/chunk  "
                  f"peak alloc {row['peak_alloc_kib_per_chunk']:.2f} KiB/chunk",
                  flush=True)
            procs.stop(mock)
    except KeyboardInterrupt:
        print("\nlitellm_peer.py: interrupted", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
    document = {
        "kind": "litellm_peer",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),  # of this checkout (the mock and the streams)
        "litellm_version": getattr(litellm, "__version__", None) or _dist_version("litellm"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "command": " ".join(["benches/litellm_peer.py", *(argv if argv is not None else sys.argv[1:])]),
        "rows": rows,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    print(f"\nwritten: {path}")
    return 0


def _dist_version(name: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
