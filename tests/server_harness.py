"""Test helpers for the server tests: run `codex-convert-proxy serve` as a real subprocess on a
free loopback port, and small fake upstreams.

Every process is started with a deadline and stopped (SIGTERM, then SIGKILL) by its owner.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import codex_convert_proxy

ROOT = Path(__file__).resolve().parents[1]
# Subprocesses import the very package this test run imported: the installed wheel (with its
# compiled extension) or the source tree of an editable install.
PACKAGE_PARENT = Path(codex_convert_proxy.__file__).resolve().parents[1]


def cli_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), env.get("PYTHONPATH")]))
    env.pop("CODEX_CONVERT_PROXY_ENGINE", None)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(var, None)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def run_cli(args: Sequence[str], *, timeout: float = 30, env: Optional[Dict[str, str]] = None,
            cwd: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codex_convert_proxy", *args],
                          capture_output=True, text=True, timeout=timeout, env=cli_env(env),
                          cwd=cwd)


class ProxyProcess:
    """`codex-convert-proxy serve ARGS --listen 127.0.0.1:0` in a subprocess."""

    def __init__(self, args: Sequence[str], *, env: Optional[Dict[str, str]] = None,
                 startup_timeout: float = 30.0, listen: bool = True,
                 command: str = "serve") -> None:
        cmd = [sys.executable, "-m", "codex_convert_proxy", command, *args]
        if listen:
            cmd += ["--listen", "127.0.0.1:0"]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=cli_env(env), start_new_session=True)
        self.stdout: List[str] = []
        self.stderr: List[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr), daemon=True)]
        for reader in self._readers:
            reader.start()
        self.url = ""
        try:
            self._wait_started(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _pump(self, stream: Any, sink: List[str]) -> None:
        for line in iter(stream.readline, ""):
            with self._lock:
                sink.append(line)
        stream.close()

    def _wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pattern = re.compile(r"listening on (http://\S+)")
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.stdout:
                    match = pattern.search(line)
                    if match:
                        self.url = match.group(1)
            if self.url and self._healthy():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"proxy exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise RuntimeError(f"proxy did not start in {timeout} s:\n{self.output()}")

    def _healthy(self) -> bool:
        import httpx

        try:
            return httpx.get(self.url + "/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        with self._lock:
            return "".join(self.stdout) + "\n--- stderr ---\n" + "".join(self.stderr)

    def logs(self) -> str:
        with self._lock:
            return "".join(self.stderr)

    def mark(self) -> int:
        """A position in the log: pass it to wait_for_log(since=...) to skip older lines."""
        with self._lock:
            return len(self.stderr)

    def wait_for_log(self, needle: str, timeout: float = 10.0, since: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self.stderr[since:]:
                    if needle in line:
                        return line
            time.sleep(0.02)
        raise AssertionError(f"log line with {needle!r} not seen in {timeout} s:\n{self.output()}")

    def metrics(self) -> str:
        import httpx

        return httpx.get(self.url + "/metrics", timeout=5).text

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode

    def __enter__(self) -> "ProxyProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total


def write_config(path: Path, data: Dict[str, Any]) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HangingUpstream:
    """A raw-socket upstream that answers 200 + one SSE chunk, then stays silent, and records
    when the proxy closes the connection (to prove a client disconnect cancels the upstream)."""

    CHUNK = (b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"}}]}\n\n')

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer  # False: read the request, then never send a byte
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.requests = 0
        self.closed_at: List[float] = []
        self.answered_at: List[float] = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                data += self._recv(conn)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            while len(rest) < length:
                rest += self._recv(conn)
            self.requests += 1
            if not self.answer:
                self._wait_close(conn)
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n"
                         + b"%x\r\n" % len(self.CHUNK) + self.CHUNK + b"\r\n")
            self.answered_at.append(time.monotonic())
            self._wait_close(conn)
        except OSError:
            self.closed_at.append(time.monotonic())
        finally:
            conn.close()

    def _recv(self, conn: socket.socket) -> bytes:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self._stop:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise OSError("peer closed")
            return data
        raise OSError("timed out")

    def _wait_close(self, conn: socket.socket) -> None:
        deadline = time.monotonic() + 60
        while not self._stop and time.monotonic() < deadline:
            try:
                if conn.recv(1) == b"":
                    self.closed_at.append(time.monotonic())
                    return
            except socket.timeout:
                continue

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        self._thread.join(5)
