"""Prometheus text-format metrics, hand-rolled to stay cheap (a few dict updates per request,
nothing per event).

With `--workers N` every worker keeps its own registry and, when `CODEX_CONVERT_PROXY_METRICS_DIR`
is set (the CLI sets it), writes a snapshot there about once a second and on shutdown; `/metrics`
on any worker then serves the sum over all workers (its own numbers live, the others' at most
~1 s old). Gauges of workers that have exited count as 0; their counters keep counting.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from bisect import bisect_left
from typing import Dict, Iterable, List, Optional, Tuple

__all__ = ["Metrics", "METRICS_DIR_ENV"]

METRICS_DIR_ENV = "CODEX_CONVERT_PROXY_METRICS_DIR"

Labels = Tuple[str, ...]

# Seconds. LLM time-to-first-byte ranges from tens of ms to minutes of reasoning.
_TTFB_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# name -> (kind, help, label names[, buckets])
_FAMILIES: Dict[str, tuple] = {
    "ccp_requests_total": ("counter", "Requests answered, by backend, route kind and HTTP status.",
                           ("backend", "route", "status")),
    "ccp_upstream_ttfb_seconds": ("histogram", "Time from sending the upstream request to its "
                                  "response headers.", ("backend",), _TTFB_BUCKETS),
    "ccp_upstream_duration_seconds": ("histogram", "Duration of the whole upstream exchange "
                                      "(until the last byte relayed).", ("backend",),
                                      _DURATION_BUCKETS),
    "ccp_events_total": ("counter", "Responses SSE events sent to clients, by event type.",
                         ("type",)),
    "ccp_degraded_total": ("counter", "Features the conversion dropped or degraded, by name.",
                           ("feature",)),
    "ccp_active_streams": ("gauge", "Streaming responses in progress.", ()),
    "ccp_upstream_retries_total": ("counter", "Upstream attempts retried before the first byte, "
                                   "by backend and reason.", ("backend", "reason")),
    "ccp_stream_failures_total": ("counter", "Streams that ended in response.failed after the "
                                  "first byte, by backend and code.", ("backend", "code")),
    "ccp_client_disconnects_total": ("counter", "Streams cancelled because the client went away.",
                                     ("backend",)),
    "ccp_conversation_store_entries": ("gauge", "Responses held for previous_response_id.", ()),
    "ccp_conversation_store_bytes": ("gauge", "Bytes held for previous_response_id.", ()),
}


class Metrics:
    """One process's metrics. Not thread-safe by design: everything runs on the event loop."""

    def __init__(self) -> None:
        self.values: Dict[str, Dict[Labels, object]] = {name: {} for name in _FAMILIES}
        self.version = 0  # bumped on every change; the snapshot writer skips unchanged states

    # -- updates (all O(1)) ---------------------------------------------------------------
    def inc(self, name: str, labels: Labels = (), amount: float = 1) -> None:
        family = self.values[name]
        family[labels] = family.get(labels, 0) + amount  # type: ignore[operator]
        self.version += 1

    def set(self, name: str, value: float, labels: Labels = ()) -> None:
        self.values[name][labels] = value
        self.version += 1

    def observe(self, name: str, value: float, labels: Labels = ()) -> None:
        buckets = _FAMILIES[name][3]
        family = self.values[name]
        state = family.get(labels)
        if state is None:
            state = family[labels] = [0] * (len(buckets) + 1) + [0.0]
        state[bisect_left(buckets, value)] += 1  # type: ignore[index]
        state[-1] += value  # type: ignore[index]
        self.version += 1

    def get(self, name: str, labels: Labels = ()) -> float:
        value = self.values[name].get(labels, 0)
        if isinstance(value, list):
            return float(sum(value[:-1]))  # a histogram's count
        return value  # type: ignore[return-value]

    # -- snapshots and rendering -----------------------------------------------------------
    def snapshot(self, *, live: bool = True) -> Dict[str, List[list]]:
        out: Dict[str, List[list]] = {}
        for name, family in self.values.items():
            if not live and _FAMILIES[name][0] == "gauge":
                continue  # an exited worker holds no streams
            out[name] = [[list(labels), value] for labels, value in family.items()]
        return out

    def render(self, others: Iterable[Dict[str, List[list]]] = ()) -> bytes:
        merged = _merge([self.snapshot()] + list(others))
        lines: List[str] = []
        for name, spec in _FAMILIES.items():
            kind, help_text, label_names = spec[0], spec[1], spec[2]
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            family = merged.get(name, {})
            if kind == "gauge" and not label_names and not family:
                lines.append(f"{name} 0")
            for labels in sorted(family):
                value = family[labels]
                if kind == "histogram":
                    buckets = spec[3]
                    cumulative = 0
                    for bound, count in zip(buckets, value):
                        cumulative += count
                        lines.append(f"{name}_bucket{_fmt_labels(label_names, labels, le=_fmt_num(bound))} {cumulative}")
                    cumulative += value[len(buckets)]
                    lines.append(f"{name}_bucket{_fmt_labels(label_names, labels, le='+Inf')} {cumulative}")
                    lines.append(f"{name}_sum{_fmt_labels(label_names, labels)} {_fmt_num(value[-1])}")
                    lines.append(f"{name}_count{_fmt_labels(label_names, labels)} {cumulative}")
                else:
                    lines.append(f"{name}{_fmt_labels(label_names, labels)} {_fmt_num(value)}")
        lines.append("")
        return "\n".join(lines).encode("utf-8")


def _merge(snapshots: Iterable[Dict[str, List[list]]]) -> Dict[str, Dict[Labels, object]]:
    merged: Dict[str, Dict[Labels, object]] = {}
    for snap in snapshots:
        for name, entries in snap.items():
            if name not in _FAMILIES:
                continue
            family = merged.setdefault(name, {})
            for labels, value in entries:
                key = tuple(labels)
                old = family.get(key)
                if isinstance(value, list):
                    family[key] = list(value) if old is None else [a + b for a, b in zip(old, value)]  # type: ignore[arg-type]
                else:
                    family[key] = value if old is None else old + value  # type: ignore[operator]
    return merged


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(names: Tuple[str, ...], values: Labels, le: Optional[str] = None) -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values)]
    if le is not None:
        parts.append(f'le="{le}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def _fmt_num(value: object) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value)) if not isinstance(value, bool) else str(value)
        return repr(value)
    return str(value)


class SnapshotSync:
    """Shares per-worker snapshots through a directory (one JSON file per worker pid)."""

    def __init__(self, metrics: Metrics, directory: str, interval: float = 1.0) -> None:
        self.metrics = metrics
        self.directory = directory
        self.interval = interval
        self.pid = os.getpid()
        self._written_version = -1
        self._task: Optional[asyncio.Task] = None

    def write(self, *, live: bool = True) -> None:
        path = os.path.join(self.directory, f"{self.pid}.json")
        tmp = f"{path}.tmp"
        data = {"pid": self.pid, "time": time.time(), "metrics": self.metrics.snapshot(live=live)}
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh, separators=(",", ":"))
            os.replace(tmp, path)
            self._written_version = self.metrics.version
        except OSError:
            pass  # metrics must never break serving

    def others(self) -> List[Dict[str, List[list]]]:
        out = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return out
        for fname in names:
            if not fname.endswith(".json") or fname == f"{self.pid}.json":
                continue
            try:
                with open(os.path.join(self.directory, fname), encoding="utf-8") as fh:
                    data = json.load(fh)
                snap = data["metrics"]
                if not _alive(int(data["pid"])):
                    snap = {k: v for k, v in snap.items() if _FAMILIES.get(k, ("",))[0] != "gauge"}
                out.append(snap)
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a file being replaced or a foreign file: skip it this time
        return out

    def start(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        self.write()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if self.metrics.version != self._written_version:
                self.write()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.write(live=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
