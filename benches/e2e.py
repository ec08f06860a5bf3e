#!/usr/bin/env python3
"""End-to-end benchmark: client -> codex-convert-proxy serve -> mock upstream, on loopback (issue 5).

What runs (all subprocesses on free 127.0.0.1 ports, each in its own process group, all stopped at
the end, on error and on Ctrl-C):
  * the mock upstream (`codex-convert-proxy mock-upstream`, through benches/stamped_mock.py which
    stamps each write with its send time) serving `long` text streams;
  * `codex-convert-proxy serve` for each (workers, engine) pair, pointed at the mock;
  * in this process, an asyncio aiohttp client holding N streaming requests in flight (closed loop:
    a finished stream is replaced at once; the N first starts spread over --ramp seconds) for
    --ramp + --duration seconds, timestamping every read.

Targets compared in one run, per phase and per N:
  direct        client -> mock `POST /v1/chat/completions` (the floor: mock + client + loopback)
  relay         client -> benches/relay_floor.py -> mock: uvicorn + aiohttp relaying the chat SSE
                bytes unchanged, one send per upstream read (the floor of any proxy of this design)
  rust-wK       client -> proxy `POST /v1/responses` (K workers, rust engine) -> mock
  python-wK     the same with the pure-Python engine

Phases:
  capacity  unpaced upstream, --batch events per upstream write: how many events/s the proxy moves
            and what each costs (CPU per 1,000 events);
  paced     one event every --pace-ms per stream, like real token streams: added latency.

Figures (per target and N):
  events/s       upstream events carried (role, E deltas, finish, usage, [DONE] = E+4 per stream)
                 of completed streams / wall time of the run;
  TTFB           request sent -> first response body byte (proxy: `response.created`);
  TTFD           request sent -> first text delta;
  event latency  client arrival time - the mock's send time stamped into that event's text: the
                 time an event spends between leaving the upstream and reaching the client;
  added ...      the proxy's percentile minus the direct floor's percentile at the same phase and N;
  CPU/1k events  proxy CPU seconds (utime+stime of the proxy's process tree from /proc/<pid>/stat,
                 delta over the run) per 1,000 upstream events;
  peak RSS       sum of VmHWM over the proxy's processes (peak reset before each run through
                 /proc/<pid>/clear_refs when the kernel allows, else peak since start);
  mock/client %  CPU of the load generators (one core = 100 %), to show they were not the limit.

Writes a table to stdout and JSON to --json (default bench-results/e2e.json). See benches/README.md.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CODEX_REQUEST = REPO / "tests" / "fixtures" / "request_golden" / "codex-1-initial.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROVIDER = "openai"
MODEL = "bench-model"
UPSTREAM_EXTRA_EVENTS = 4  # role chunk, finish chunk, usage chunk, [DONE]

# Stamps as benches/stamped_mock.py writes them; `"delta":"` only matches text deltas (the
# `.done` events and the final response carry the whole text under other keys).
PROXY_STAMP = re.compile(rb'"delta":"@T(\d{19})@')
DIRECT_STAMP = re.compile(rb'"content":"@T(\d{19})@')
PROXY_END = b"event: response.completed"
DIRECT_END = b"data: [DONE]"

# issue 5 targets for the end-to-end run
TARGET_N = 100
TARGET_EVENTS_PER_S = 50_000
TARGET_ADDED_TTFB_P50_MS = 2.0
TARGET_CPU_RATIO = 1 / 3
TARGET_RSS_MB = 200
TARGET_RSS_N = 500


# --- processes ---------------------------------------------------------------------------------


class Proc:
    """A subprocess in its own process group (so stopping it stops its workers too)."""

    def __init__(self, name: str, argv: List[str], log_dir: Path, env: Optional[Dict[str, str]] = None):
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, cwd=str(REPO),
        )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM to the group, then SIGKILL to what is left of it. Only our own group."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)  # workers the leader left behind, if any
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(2)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


class Procs:
    """Every process this run started; `stop_all` is idempotent and runs on any exit path."""

    def __init__(self) -> None:
        self.procs: List[Proc] = []

    def start(self, *args: Any, **kwargs: Any) -> Proc:
        proc = Proc(*args, **kwargs)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        while self.procs:
            self.procs.pop().stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: Proc, timeout: float) -> None:
    """Poll `url` until it answers 200 (the process must stay alive meanwhile)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited (code {proc.popen.returncode}):\n{proc.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout}s:\n{proc.log_tail()}")


# --- /proc accounting ---------------------------------------------------------------------------


def _stat_fields(pid: int) -> Optional[List[str]]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from #3 (state) on


def process_tree(root: int) -> List[int]:
    """root and all its live descendants (by parent pid)."""
    children: Dict[int, List[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of the tree's live processes plus what their reaped children used."""
    ticks = 0
    for pid in process_tree(root):
        fields = _stat_fields(pid)
        if fields:
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / CLK_TCK


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_peak_rss_mb(root: int) -> float:
    return sum(_status_kb(pid, "VmHWM") for pid in process_tree(root)) / 1024


def tree_rss_mb(root: int) -> float:
    return sum(_status_kb(pid, "VmRSS") for pid in process_tree(root)) / 1024


def tree_pss_mb(root: int) -> float:
    """Sum of Pss (shared pages split between the processes sharing them) over the tree."""
    total = 0
    for pid in process_tree(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total / 1024


class PssSampler:
    """Samples the tree's total Pss every `interval` s in a thread; `peak` is the largest seen."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        import threading

        self.root, self.interval, self.peak = root, interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_pss_mb(self.root))
            self._stop.wait(self.interval)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5)
        self.peak = max(self.peak, tree_pss_mb(self.root))
        return self.peak


def reset_peak_rss(root: int) -> bool:
    """Reset VmHWM to the current RSS ("5" > /proc/PID/clear_refs). False when not allowed."""
    ok = True
    for pid in process_tree(root):
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


# --- the client ---------------------------------------------------------------------------------


@dataclass
class RunStats:
    streams_ok: int = 0
    streams_failed: int = 0
    failures: Dict[str, int] = field(default_factory=dict)
    deltas: int = 0
    upstream_events: int = 0
    ttfb_ns: array = field(default_factory=lambda: array("q"))
    ttfd_ns: array = field(default_factory=lambda: array("q"))
    latency_ns: array = field(default_factory=lambda: array("q"))
    wall_s: float = 0.0

    def fail(self, why: str) -> None:
        self.streams_failed += 1
        self.failures[why] = self.failures.get(why, 0) + 1


async def one_stream(session: Any, url: str, body: bytes, headers: Dict[str, str], stamp: Any,
                     end: bytes, expect_deltas: int, stats: RunStats) -> None:
    import aiohttp

    now_ns = time.monotonic_ns
    t0 = now_ns()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                await resp.read()
                stats.fail(f"http {resp.status}")
                return
            findall = stamp.findall
            lat = stats.latency_ns
            first = True
            n = 0
            tail = b""
            ended = False
            async for data in resp.content.iter_any():
                now = now_ns()
                if first:
                    stats.ttfb_ns.append(now - t0)
                    first = False
                buf = tail + data if tail else data
                cut = buf.rfind(b"\n\n")
                if cut < 0:
                    tail = buf
                    continue
                tail = buf[cut + 2 :]
                stamps = findall(buf, 0, cut)
                if stamps:
                    if n == 0:
                        stats.ttfd_ns.append(now - t0)
                    n += len(stamps)
                    lat.extend([now - int(s) for s in stamps])
                if not ended and end in buf:
                    ended = True
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        stats.fail(type(exc).__name__)
        return
    stats.deltas += n
    if not ended:
        stats.fail("no terminal event")
    elif n != expect_deltas:
        stats.fail(f"{n} deltas, expected {expect_deltas}")
    else:
        stats.streams_ok += 1
        stats.upstream_events += n + UPSTREAM_EXTRA_EVENTS


async def run_load(url: str, body: bytes, headers: Dict[str, str], direct: bool, concurrency: int,
                   duration: float, ramp: float, expect_deltas: int, read_timeout: float) -> RunStats:
    """`concurrency` streams in flight, each replaced when it finishes: slot i starts its first
    stream at i*ramp/concurrency (so arrivals spread evenly instead of coming in synchronized
    waves), and no stream starts after ramp + duration."""
    import aiohttp

    stats = RunStats()
    stamp, end = (DIRECT_STAMP, DIRECT_END) if direct else (PROXY_STAMP, PROXY_END)
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        started = time.monotonic()
        stop_at = started + ramp + duration

        async def slot(i: int) -> None:
            if ramp > 0:
                await asyncio.sleep(i * ramp / concurrency)
            while True:  # at least one stream per slot
                await one_stream(session, url, body, headers, stamp, end, expect_deltas, stats)
                if time.monotonic() >= stop_at:
                    break

        await asyncio.gather(*(slot(i) for i in range(concurrency)))
        stats.wall_s = time.monotonic() - started
    return stats


# --- one measured run -------------------------------------------------------------------------------


def pct(values: Sequence[int], q: float) -> Optional[float]:
    """The q-quantile (nearest rank) in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def measure(target: str, proxy: Optional[Proc], mock: Proc, url: str, body: bytes, direct: bool,
            n: int, duration: float, ramp: float, expect_deltas: int, read_timeout: float,
            hard_timeout: float) -> Dict[str, Any]:
    reset_ok = reset_peak_rss(proxy.pid) if proxy else False
    cpu0 = tree_cpu_seconds(proxy.pid) if proxy else 0.0
    mock0 = tree_cpu_seconds(mock.pid)
    sampler = PssSampler(proxy.pid) if proxy else None
    me0 = resource.getrusage(resource.RUSAGE_SELF)
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    try:
        stats = asyncio.run(asyncio.wait_for(
            run_load(url, body, headers, direct, n, duration, ramp, expect_deltas, read_timeout), hard_timeout))
    finally:
        peak_pss = sampler.stop() if sampler else None
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    row: Dict[str, Any] = {
        "target": target,
        "n": n,
        "streams_ok": stats.streams_ok,
        "streams_failed": stats.streams_failed,
        "failures": stats.failures,
        "wall_s": stats.wall_s,
        "upstream_events": stats.upstream_events,
        "deltas": stats.deltas,
        "events_per_s": stats.upstream_events / stats.wall_s if stats.wall_s else 0.0,
        "ttfb_ms": {"p50": pct(stats.ttfb_ns, 0.50), "p99": pct(stats.ttfb_ns, 0.99), "samples": len(stats.ttfb_ns)},
        "ttfd_ms": {"p50": pct(stats.ttfd_ns, 0.50), "p99": pct(stats.ttfd_ns, 0.99)},
        "event_latency_ms": {"p50": pct(stats.latency_ns, 0.50), "p99": pct(stats.latency_ns, 0.99),
                             "samples": len(stats.latency_ns)},
        "mock_cpu_pct": 100 * (tree_cpu_seconds(mock.pid) - mock0) / stats.wall_s if stats.wall_s else 0.0,
        "client_cpu_pct": 100 * ((me1.ru_utime + me1.ru_stime) - (me0.ru_utime + me0.ru_stime)) / stats.wall_s
        if stats.wall_s else 0.0,
    }
    if proxy:
        cpu = tree_cpu_seconds(proxy.pid) - cpu0
        row["proxy_cpu_s"] = cpu
        row["proxy_cpu_pct"] = 100 * cpu / stats.wall_s if stats.wall_s else 0.0
        row["cpu_s_per_1k_events"] = cpu / (stats.upstream_events / 1000) if stats.upstream_events else None
        row["peak_rss_mb"] = tree_peak_rss_mb(proxy.pid)
        row["peak_rss_scope"] = "this run" if reset_ok else "since proxy start"
        row["peak_pss_mb"] = peak_pss
        row["rss_after_mb"] = tree_rss_mb(proxy.pid)
        row["proxy_processes"] = len(process_tree(proxy.pid))
        if not proxy.alive():
            raise RuntimeError(f"{target} died during the run:\n{proxy.log_tail()}")
    return row


# --- orchestration ---------------------------------------------------------------------------------


def _cli_base() -> List[str]:
    """How to run `codex-convert-proxy`: the console script next to this Python, else -m."""
    script = Path(sys.executable).with_name("codex-convert-proxy")
    if script.exists():
        return [str(script)]
    found = shutil.which("codex-convert-proxy")
    return [found] if found else [sys.executable, "-m", "codex_convert_proxy.cli"]


def proxy_argv(port: int, upstream: str, workers: int, engine: str) -> List[str]:
    return _cli_base() + [
        "serve", "--listen", f"127.0.0.1:{port}", "--provider", PROVIDER, "--upstream-url", upstream,
        "--api-key", "sk-bench-upstream", "--model", MODEL, "--workers", str(workers),
        "--engine", engine, "--log-level", "warning",
    ]


def mock_argv(port: int, events: int, event_bytes: Optional[int], pace_ms: float, batch: Optional[int]) -> List[str]:
    argv = [sys.executable, str(HERE / "stamped_mock.py"), "--listen", f"127.0.0.1:{port}",
            "--events", str(events), "--pace-ms", str(pace_ms)]
    if batch:
        argv += ["--batch", str(batch)]
    if event_bytes:
        argv += ["--event-bytes", str(event_bytes)]
    return argv


def request_bodies(kind: str) -> Tuple[bytes, bytes]:
    """(Responses body for the proxy, the equivalent Chat body for the direct floor)."""

    def dumps(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    if kind == "small":
        text = "Write a long answer."
        chat = {"model": MODEL, "messages": [{"role": "user", "content": text}], "stream": True,
                "stream_options": {"include_usage": True}}
        return dumps({"model": MODEL, "input": text, "stream": True}), dumps(chat)
    body = json.loads(CODEX_REQUEST.read_text("utf-8"))
    body["stream"] = True
    responses = dumps(body)
    import codex_convert_proxy as ccp

    # The floor gets what the proxy would send upstream, so the mock does the same work in both.
    chat = bytes(ccp.convert_request(responses, PROVIDER, model=MODEL, engine="python"))
    return responses, chat


def parse_ints(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    p = argparse.ArgumentParser(prog="benches/e2e.py", description=__doc__, formatter_class=Formatter,
                                epilog="Example: python benches/e2e.py --n 100 --workers 1 --phases capacity")
    p.add_argument("--n", default="10,100,500", help="concurrent streams, comma list")
    p.add_argument("--workers", default="1,2", help="proxy worker counts, comma list")
    p.add_argument("--engines", default="rust,python", help="proxy engines, comma list")
    p.add_argument("--phases", default="capacity,paced", help="comma list of: capacity, paced")
    p.add_argument("--no-relay", dest="relay", action="store_false",
                   help="skip the relay-floor target (benches/relay_floor.py: same server stack, no conversion)")
    p.add_argument("--duration", type=float, default=5.0,
                   help="seconds of full load per run, after the ramp (streams in flight then finish)")
    p.add_argument("--ramp", type=float, default=None,
                   help="seconds over which the N streams start (default: 0 for capacity, one paced stream's length for paced)")
    p.add_argument("--events", type=int, default=1000, help="capacity phase: text deltas per stream")
    p.add_argument("--batch", type=int, default=1, help="capacity phase: upstream events per mock write")
    p.add_argument("--paced-events", type=int, default=100, help="paced phase: text deltas per stream")
    p.add_argument("--pace-ms", type=float, default=20.0, help="paced phase: pause between mock writes (ms)")
    p.add_argument("--paced-batch", type=int, default=1, help="paced phase: upstream events per mock write")
    p.add_argument("--event-bytes", type=int, default=None, help="approximate bytes per upstream text event (default: the mock's ~150 B)")
    p.add_argument("--request", choices=["codex", "small"], default="codex",
                   help="request body: the real ~40 KB Codex request (request-1) or a one-line input")
    p.add_argument("--read-timeout", type=float, default=60.0, help="client idle-read timeout (s)")
    p.add_argument("--max-seconds", type=float, default=3600.0, help="bound on the whole run (s)")
    p.add_argument("--json", default=str(REPO / "bench-results" / "e2e.json"), help="JSON output path")
    p.add_argument("--log-dir", default=None, help="keep the subprocess logs here (default: a temp dir, removed)")
    p.add_argument("--quick", action="store_true",
                   help="CI smoke mode: N=4, 1 worker, short streams, 0.5 s runs (a few seconds in all)")
    return p


@dataclass
class Phase:
    name: str
    events: int
    pace_ms: float
    batch: Optional[int]
    ramp: float  # seconds over which the N slots start their first stream


def phases_from(args: argparse.Namespace) -> List[Phase]:
    # Paced streams all last about the same time: without a ramp they would start, and end, in
    # synchronized waves of N (every TTFB would be a burst of N). One stream's duration spreads them.
    paced_ramp = args.paced_events * args.pace_ms / 1000 / max(1, args.paced_batch or 1)
    known = {
        "capacity": Phase("capacity", args.events, 0.0, args.batch, args.ramp if args.ramp is not None else 0.0),
        "paced": Phase("paced", args.paced_events, args.pace_ms, args.paced_batch,
                       args.ramp if args.ramp is not None else paced_ramp),
    }
    names = [x.strip() for x in args.phases.split(",") if x.strip()]
    bad = [x for x in names if x not in known]
    if bad:
        raise SystemExit(f"e2e.py: unknown phase(s) {bad}; known: {sorted(known)}")
    return [known[x] for x in names]


def apply_quick(args: argparse.Namespace) -> None:
    args.n, args.workers = "4", "1"
    args.duration = 0.5
    args.events, args.paced_events, args.pace_ms = 50, 20, 5.0


def rust_problem() -> Optional[str]:
    """Why the rust engine must not be benchmarked here (not importable, or a debug build)."""
    try:
        from codex_convert_proxy import _rust  # type: ignore[attr-defined]
    except ImportError as exc:
        return f"the Rust extension does not import ({exc}); build it with `maturin develop --release`"
    if dict(_rust.build_info()).get("debug"):
        return "refusing to benchmark a DEBUG build of codex_convert_proxy._rust; rebuild with `maturin develop --release`"
    return None


def run(args: argparse.Namespace, procs: Procs, log_dir: Path) -> Dict[str, Any]:
    deadline = time.monotonic() + args.max_seconds
    ns, workers = parse_ints(args.n), parse_ints(args.workers)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "rust" in engines and rust_problem():
        raise SystemExit(f"e2e.py: {rust_problem()}")
    responses_body, chat_body = request_bodies(args.request)
    rows: List[Dict[str, Any]] = []
    for phase in phases_from(args):
        mock_port = free_port()
        mock = procs.start(f"mock-{phase.name}", mock_argv(mock_port, phase.events, args.event_bytes,
                                                            phase.pace_ms, phase.batch), log_dir)
        mock_url = f"http://127.0.0.1:{mock_port}"
        wait_http(mock_url + "/health", mock, 20)
        targets: List[Tuple[str, Optional[Tuple[int, str]]]] = [("direct", None)]
        if args.relay:
            targets.append(("relay", (1, "relay")))
        targets += [(f"{engine}-w{w}", (w, engine)) for w in workers for engine in engines]
        for target, setup in targets:
            proxy = None
            chat_stream = setup is None or setup[1] == "relay"  # the client reads chat chunks
            if setup is None:
                url, body = mock_url + "/v1/chat/completions", chat_body
            elif setup[1] == "relay":
                port = free_port()
                proxy = procs.start(f"relay-{phase.name}", [sys.executable, str(HERE / "relay_floor.py"), "--listen",
                                                            f"127.0.0.1:{port}", "--upstream", mock_url + "/v1"], log_dir)
                wait_http(f"http://127.0.0.1:{port}/health", proxy, 30)
                url, body = f"http://127.0.0.1:{port}/v1/responses", chat_body
            else:
                w, engine = setup
                port = free_port()
                proxy = procs.start(f"proxy-{phase.name}-{target}", proxy_argv(port, mock_url + "/v1", w, engine), log_dir)
                wait_http(f"http://127.0.0.1:{port}/health", proxy, 30)
                url, body = f"http://127.0.0.1:{port}/v1/responses", responses_body
            # Warm-up (not measured): lazy imports, the upstream connection pool, first-call caches,
            # with enough concurrent streams that every worker gets some.
            warm = 4 * (setup[0] if setup else 1)
            asyncio.run(run_load(url, body, {"content-type": "application/json"}, chat_stream, warm, 0.0, 0.0,
                                 phase.events, args.read_timeout))
            for n in ns:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"--max-seconds {args.max_seconds} reached")
                row = measure(target, proxy, mock, url, body, chat_stream, n, args.duration,
                              phase.ramp, phase.events, args.read_timeout, left)
                row["phase"] = phase.name
                rows.append(row)
                print(one_line(row), flush=True)
            if proxy:
                procs.stop(proxy)
        procs.stop(mock)
    added_figures(rows)
    return {"rows": rows}


def added_figures(rows: List[Dict[str, Any]]) -> None:
    """Fill `added_*` on paced proxy rows: proxy percentile - direct percentile (same N), and on
    every proxy row the CPU per 1k events above the relay floor (same phase and N).

    Capacity rows get no `added` latency: at saturation TTFB and event latency are queueing in a
    closed loop (how long a stream waits for its share), not a delay the proxy adds per request."""
    floor = {(r["phase"], r["n"]): r for r in rows if r["target"] == "direct"}
    relay = {(r["phase"], r["n"]): r for r in rows if r["target"] == "relay"}
    for r in rows:
        key_ = (r["phase"], r["n"])
        base = floor.get(key_)
        if r["target"] != "direct" and base is not None and r["phase"] == "paced":
            for key in ("ttfb_ms", "ttfd_ms", "event_latency_ms"):
                added = {}
                for q in ("p50", "p99"):
                    a, b = r[key].get(q), base[key].get(q)
                    added[q] = None if a is None or b is None else a - b
                r["added_" + key] = added
        floor_cpu = relay.get(key_, {}).get("cpu_s_per_1k_events")
        if r["target"] not in ("direct", "relay") and floor_cpu and r.get("cpu_s_per_1k_events"):
            r["cpu_over_relay_s_per_1k"] = r["cpu_s_per_1k_events"] - floor_cpu


def _f(x: Optional[float], spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def one_line(r: Dict[str, Any]) -> str:
    extra = ""
    if "proxy_cpu_s" in r:
        extra = f" proxy CPU {r['proxy_cpu_pct']:.0f}% {_f(r['cpu_s_per_1k_events'], '.4f')} s/1k ev, peak RSS {r['peak_rss_mb']:.0f} MB"
    fails = f" FAILED {r['streams_failed']} {r['failures']}" if r["streams_failed"] else ""
    return (f"  {r['phase']:<8} {r['target']:<10} N={r['n']:<4} {r['events_per_s']:>9,.0f} ev/s "
            f"ttfb p50 {_f(r['ttfb_ms']['p50'])} ms, event p50 {_f(r['event_latency_ms']['p50'])} ms"
            f"{extra} (mock {r['mock_cpu_pct']:.0f}%, client {r['client_cpu_pct']:.0f}%){fails}")


def _ms_per_1k(x: Optional[float]) -> str:
    return "-" if x is None else f"{1000 * x:.1f}"


def table(rows: List[Dict[str, Any]]) -> List[str]:
    """One markdown table per phase. CPU is shown as ms per 1,000 upstream events (= µs/event)."""
    lines: List[str] = []
    for phase in dict.fromkeys(r["phase"] for r in rows):
        phase_rows = [r for r in rows if r["phase"] == phase]
        if phase == "capacity":
            head = ("| target | N | events/s | proxy CPU ms/1k ev | above relay ms/1k ev | proxy CPU % "
                    "| peak RSS MB | peak PSS MB | TTFB p50 ms | mock % | client % | failed |")
        else:
            head = ("| target | N | events/s | TTFB p50/p99 ms | added TTFB p50/p99 ms | event lat p50/p99 ms "
                    "| added event lat p50/p99 ms | proxy CPU ms/1k ev | above relay ms/1k ev "
                    "| peak RSS MB | peak PSS MB | failed |")
        lines += ["", f"{phase}:", "", head, "|" + "---|" * (head.count("|") - 1)]
        for r in phase_rows:
            cpu = f"| {_ms_per_1k(r.get('cpu_s_per_1k_events'))} | {_ms_per_1k(r.get('cpu_over_relay_s_per_1k'))} "
            mem = f"| {_f(r.get('peak_rss_mb'), '.0f')} | {_f(r.get('peak_pss_mb'), '.0f')} "
            if phase == "capacity":
                lines.append(
                    f"| {r['target']} | {r['n']} | {r['events_per_s']:,.0f} {cpu}| {_f(r.get('proxy_cpu_pct'), '.0f')} "
                    f"{mem}| {_f(r['ttfb_ms']['p50'], '.0f')} | {r['mock_cpu_pct']:.0f} | {r['client_cpu_pct']:.0f} "
                    f"| {r['streams_failed']} |")
            else:
                add_t = r.get("added_ttfb_ms", {})
                add_e = r.get("added_event_latency_ms", {})
                lines.append(
                    f"| {r['target']} | {r['n']} | {r['events_per_s']:,.0f} "
                    f"| {_f(r['ttfb_ms']['p50'])} / {_f(r['ttfb_ms']['p99'])} "
                    f"| {_f(add_t.get('p50'))} / {_f(add_t.get('p99'))} "
                    f"| {_f(r['event_latency_ms']['p50'])} / {_f(r['event_latency_ms']['p99'])} "
                    f"| {_f(add_e.get('p50'))} / {_f(add_e.get('p99'))} {cpu}{mem}| {r['streams_failed']} |")
    return lines


def check_targets(rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Issue 5 end-to-end targets at N=100 with 1 worker: events/s on the capacity phase, added
    TTFB on the paced phase, the CPU ratio on both; peak RSS at N=500 for each worker count."""
    def find(phase: str, target: str, n: int) -> Optional[Dict[str, Any]]:
        return next((r for r in rows if r["phase"] == phase and r["target"] == target and r["n"] == n), None)

    checks = []
    cap = find("capacity", "rust-w1", TARGET_N)
    if cap:
        checks.append({"target": f"rust, {TARGET_N} streams, 1 worker: >= {TARGET_EVENTS_PER_S:,} events/s (capacity)",
                       "value": cap["events_per_s"], "met": cap["events_per_s"] >= TARGET_EVENTS_PER_S})
    r = find("paced", "rust-w1", TARGET_N)
    if r and r.get("added_ttfb_ms", {}).get("p50") is not None:
        v = r["added_ttfb_ms"]["p50"]
        checks.append({"target": f"rust, {TARGET_N} streams, 1 worker: added TTFB p50 <= {TARGET_ADDED_TTFB_P50_MS} ms (paced)",
                       "value": v, "met": v <= TARGET_ADDED_TTFB_P50_MS})
    for phase in ("capacity", "paced"):
        rr, pr = find(phase, "rust-w1", TARGET_N), find(phase, "python-w1", TARGET_N)
        if rr and pr and rr.get("cpu_s_per_1k_events") and pr.get("cpu_s_per_1k_events"):
            ratio = rr["cpu_s_per_1k_events"] / pr["cpu_s_per_1k_events"]
            checks.append({"target": f"rust CPU/1k events <= 1/3 of python's, {TARGET_N} streams, 1 worker ({phase})",
                           "value": ratio, "met": ratio <= TARGET_CPU_RATIO})
    workers = sorted({r["target"].rsplit("-w", 1)[1] for r in rows if r["target"].startswith("rust-w")})
    for w in workers:
        rss = [r for r in rows if r["n"] == TARGET_RSS_N and r["target"] == f"rust-w{w}" and "peak_rss_mb" in r]
        if rss:
            worst = max(rss, key=lambda r: r["peak_rss_mb"])
            checks.append({"target": f"rust, {w} worker(s): peak RSS <= {TARGET_RSS_MB} MB at {TARGET_RSS_N} streams "
                                     f"(sum of VmHWM over the proxy's processes; worst phase: {worst['phase']})",
                           "value": worst["peak_rss_mb"], "met": worst["peak_rss_mb"] <= TARGET_RSS_MB})
    return checks


def _git(*argv: str) -> str:
    try:
        return subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        apply_quick(args)
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()  # a cheaper client leaves more CPU to what is measured
    except ImportError:
        pass
    signal.signal(signal.SIGTERM, _terminate)
    procs = Procs()
    temp_logs = args.log_dir is None
    log_dir = Path(tempfile.mkdtemp(prefix="ccp-e2e-")) if temp_logs else Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    failed = False
    try:
        print(f"e2e: N={args.n} workers={args.workers} engines={args.engines} phases={args.phases} "
              f"duration={args.duration}s request={args.request} (logs: {log_dir})", flush=True)
        result = run(args, procs, log_dir)
    except KeyboardInterrupt:
        print("\ne2e: interrupted; stopping every process it started", file=sys.stderr)
        return 130
    except Exception as exc:  # report and clean up; the traceback helps the bench author
        failed = True
        print(f"e2e: FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise
    finally:
        procs.stop_all()
        if temp_logs and not failed:
            shutil.rmtree(log_dir, ignore_errors=True)
    rows = result["rows"]
    checks = check_targets(rows)
    print()
    for line in table(rows):
        print(line)
    if checks:
        print("\nissue 5 targets:")
        for c in checks:
            print(f"  [{'met' if c['met'] else 'MISSED'}] {c['target']}: {c['value']:,.3f}")
    document = {
        "kind": "e2e",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join(["benches/e2e.py", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "log_dir")},
        "definitions": {
            "events": f"upstream events of completed streams (E deltas + {UPSTREAM_EXTRA_EVENTS}: role, finish, usage, [DONE])",
            "ttfb": "request sent -> first response body byte, at the client",
            "ttfd": "request sent -> first text delta, at the client",
            "event_latency": "client arrival time - mock send time stamped in the event text (CLOCK_MONOTONIC)",
            "added": "proxy percentile - direct-floor percentile, same phase and N",
            "cpu_s_per_1k_events": "proxy process tree utime+stime delta (/proc/PID/stat) per 1,000 upstream events",
            "peak_rss_mb": "sum of VmHWM of the proxy process tree (reset per run via clear_refs)",
        },
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg()},
        "elapsed_s": time.monotonic() - started,
        "rows": rows,
        "targets": checks,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    print(f"\nwritten: {path}")
    bad = [r for r in rows if r["streams_failed"] or not r["streams_ok"]]
    if bad:
        print(f"e2e: {len(bad)} run(s) had failed streams (see 'failed' column)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
