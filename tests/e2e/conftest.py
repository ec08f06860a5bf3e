"""Harness for the Codex end-to-end tests (issue 4).

Each test starts its own `codex-convert-proxy mock-upstream` (scripted per scenario) and
`codex-convert-proxy serve` in front of it, both on free loopback ports, runs the real Codex CLI
(`codex exec --json`) against the proxy with the offline flags, parses its JSONL and stops every
process it started (each in its own process group).

Codex is found in `$CODEX_BIN`, then in the project-local npm prefix
`tests/e2e/codex-cli/node_modules/.bin/codex` (`npm ci --prefix tests/e2e/codex-cli`), then on
PATH. When it is missing (or not the pinned version) the tests FAIL in CI (`CI` set) and skip
locally, with the reason; the same goes for the Rust engine when the extension is not built.
`$CODEX_CONVERT_PROXY_CMD` overrides how `codex-convert-proxy` is started (default: this
interpreter importing `codex_convert_proxy.cli`).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

CODEX_VERSION = "0.169.0"
CODEX_TIMEOUT_S = 120
STARTUP_TIMEOUT_S = 20
HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
NPM_PREFIX = HERE / "codex-cli"
ENGINES = ("rust", "python")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Fail in CI, skip locally: a missing prerequisite must never pass CI silently."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


# ---------------------------------------------------------------- finding Codex


def _codex_candidates() -> List[str]:
    found = []
    if os.environ.get("CODEX_BIN"):
        found.append(os.environ["CODEX_BIN"])
    local = NPM_PREFIX / "node_modules" / ".bin" / "codex"
    if local.exists():
        found.append(str(local))
    on_path = shutil.which("codex")
    if on_path:
        found.append(on_path)
    return found


@pytest.fixture(scope="session")
def codex_bin() -> str:
    candidates = _codex_candidates()
    if not candidates:
        unavailable(
            f"Codex CLI not found: run `npm ci --prefix {NPM_PREFIX}` "
            f"(installs @openai/codex@{CODEX_VERSION} from the lockfile) or set CODEX_BIN"
        )
    seen = []
    for cand in candidates:
        try:
            out = subprocess.run(
                [cand, "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            seen.append(f"{cand}: {exc}")
            continue
        version = (out.stdout + out.stderr).strip()
        if out.returncode == 0 and version.endswith(CODEX_VERSION):
            return cand
        seen.append(f"{cand}: {version!r} (exit {out.returncode})")
    unavailable(f"no usable Codex CLI {CODEX_VERSION}: " + "; ".join(seen))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- engines


def rust_engine_available() -> bool:
    try:
        import codex_convert_proxy

        return "rust" in codex_convert_proxy.available_engines()
    except Exception:  # noqa: BLE001 - any import problem means "not built"
        return False


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    if request.param == "rust" and os.environ.get("CCP_BLOCK_RUST") == "1":
        pytest.skip("CCP_BLOCK_RUST=1: the Rust engine is hidden on purpose in this run")
    if request.param == "rust" and not rust_engine_available():
        unavailable("the Rust extension codex_convert_proxy._rust is not built (maturin develop)")
    return request.param


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """Environment for the proxy processes: they import the same package as this test run."""
    env = dict(os.environ)
    import codex_convert_proxy

    pkg_dir = Path(list(codex_convert_proxy.__path__)[0]).resolve()
    pkg_parent = str(pkg_dir.parent)
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.pop("CODEX_CONVERT_PROXY_ENGINE", None)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


def cli_command() -> List[str]:
    """How to run `codex-convert-proxy`: `$CODEX_CONVERT_PROXY_CMD` (e.g. an installed console
    script), else the package's CLI through this interpreter."""
    override = os.environ.get("CODEX_CONVERT_PROXY_CMD")
    if override:
        return shlex.split(override)
    return [sys.executable, "-c", "import sys; from codex_convert_proxy.cli import main; sys.exit(main(sys.argv[1:]))"]


def http_get(url: str, timeout: float = 5.0) -> tuple:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def run_cli(args: List[str], timeout: float = 60) -> str:
    """Run one `codex-convert-proxy` command to completion; its stdout (exit 0 required)."""
    out = subprocess.run(cli_command() + args, capture_output=True, text=True, timeout=timeout,
                         env=child_env(), stdin=subprocess.DEVNULL)
    assert out.returncode == 0, f"codex-convert-proxy {' '.join(args)}: exit {out.returncode}\n{out.stderr}"
    return out.stdout


class Service:
    """One started `codex-convert-proxy` subcommand, in its own process group, logs to a file."""

    def __init__(self, name: str, args: List[str], port: int, workdir: Path, env: Dict[str, str]):
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cli_command() + args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def wait_ready(self, path: str = "/health") -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = http_get(self.base + path, timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready on {self.base} after {STARTUP_TIMEOUT_S}s:\n{self.log()}")

    def stop(self) -> None:
        stop_group(self.proc)
        self._log.close()


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group started for `proc`, then SIGKILL whatever is left."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:  # children (uvicorn workers, shells spawned by Codex) may outlive the leader
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=grace)


# ---------------------------------------------------------------- scripts


def load_script(name: str, subst: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """A mock-upstream script from tests/e2e/scripts/, with ${NAME} placeholders substituted."""
    text = (SCRIPTS / f"{name}.json").read_text("utf-8")
    for key, value in (subst or {}).items():
        text = text.replace("${" + key + "}", value)
    missing = re.findall(r"\$\{([A-Z_]+)\}", text)
    assert not missing, f"script {name}: unsubstituted placeholders {missing}"
    return json.loads(text)


# ---------------------------------------------------------------- Codex runs


class CodexRun:
    """The outcome of one `codex exec --json` run."""

    def __init__(self, returncode: int, stdout: str, stderr: str, last_message: str, cwd: Path):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.last_message = last_message
        self.cwd = cwd
        self.events: List[dict] = []
        for line in stdout.splitlines():
            line = line.strip()
            if line:
                self.events.append(json.loads(line))  # Codex --json prints only JSON lines

    def items(self, type_: Optional[str] = None) -> List[dict]:
        """Completed items (`item.completed`), optionally of one type."""
        out = [e["item"] for e in self.events if e.get("type") == "item.completed"]
        return [i for i in out if type_ is None or i.get("type") == type_]

    def event_types(self) -> List[str]:
        return [e.get("type") for e in self.events]

    def errors(self) -> List[str]:
        """Messages of `error` events and items, minus the harmless model-metadata notice."""
        msgs = [e.get("message", "") for e in self.events if e.get("type") == "error"]
        msgs += [i.get("message", "") for i in self.items("error")]
        return [m for m in msgs if "Model metadata for" not in m]

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- JSONL\n{self.stdout}\n--- stderr (tail)\n{self.stderr[-4000:]}"


class Stack:
    """mock-upstream + proxy for one test, and the means to run Codex through them."""

    def __init__(self, codex: str, workdir: Path):
        self.codex = codex
        self.workdir = workdir
        self.services: List[Service] = []
        self.mock: Optional[Service] = None
        self.proxy: Optional[Service] = None

    # -- start-up
    def start_mock(self, script_name: str, subst: Optional[Dict[str, str]] = None) -> Service:
        """Start mock-upstream serving tests/e2e/scripts/<script_name>.json."""
        path = self.workdir / "script.json"
        path.write_text(json.dumps(load_script(script_name, subst)), "utf-8")
        port = free_port()
        svc = Service("mock-upstream", ["mock-upstream", "--listen", f"127.0.0.1:{port}", "--script", str(path)],
                      port, self.workdir, child_env())
        self.services.append(svc)
        svc.wait_ready("/health")
        self.mock = svc
        return svc

    def start_proxy(self, engine: str, provider: str = "openai", config: Optional[Dict[str, Any]] = None) -> Service:
        assert self.mock is not None, "start the mock upstream first"
        port = free_port()
        upstream = f"{self.mock.base}/v1"
        if config is None:
            args = ["serve", "--listen", f"127.0.0.1:{port}", "--engine", engine, "--provider", provider,
                    "--upstream-url", upstream, "--api-key", "sk-upstream-test", "--log-level", "info"]
        else:
            cfg = dict(config)
            cfg.setdefault("listen", f"127.0.0.1:{port}")
            for backend in cfg.get("backends", []):
                backend.setdefault("url", upstream)
                backend.setdefault("api_key", "sk-upstream-test")
            cfg_path = self.workdir / "proxy-config.json"
            cfg_path.write_text(json.dumps(cfg), "utf-8")
            args = ["serve", "--config", str(cfg_path), "--listen", f"127.0.0.1:{port}", "--engine", engine,
                    "--log-level", "info"]
        svc = Service("proxy", args, port, self.workdir, child_env())
        self.services.append(svc)
        svc.wait_ready("/health")
        self.proxy = svc
        return svc

    # -- introspection
    def upstream_requests(self) -> List[dict]:
        assert self.mock is not None
        status, text = http_get(self.mock.base + "/_mock/requests")
        assert status == 200, f"GET /_mock/requests: {status} {text}"
        return json.loads(text)

    def proxy_metrics(self) -> str:
        assert self.proxy is not None
        status, text = http_get(self.proxy.base + "/metrics")
        assert status == 200, f"GET /metrics: {status} {text[:500]}"
        return text

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} log\n{s.log()[-6000:]}" for s in self.services)

    # -- Codex
    def run_codex(self, prompt: str, model: str = "fake-model", stream_max_retries: int = 0,
                  request_max_retries: int = 0, config_toml: Optional[str] = None) -> CodexRun:
        """Run one `codex exec --json` turn through the proxy.

        By default the provider is given with `-c` flags (retries off unless asked for). With
        `config_toml`, that text becomes `$CODEX_HOME/config.toml` and no provider flags are
        passed: Codex runs exactly as a user configured by `codex-config` would run it.
        """
        assert self.proxy is not None, "start the proxy first"
        home = self.workdir / "codex-home"
        cwd = self.workdir / "cwd"
        home.mkdir(exist_ok=True)
        cwd.mkdir(exist_ok=True)
        last = self.workdir / "last.txt"
        provider = (
            '{name="ccp", base_url="%s/v1", wire_api="responses", env_key="PROXY_KEY", '
            "request_max_retries=%d, stream_max_retries=%d, stream_idle_timeout_ms=20000}"
            % (self.proxy.base, request_max_retries, stream_max_retries)
        )
        if config_toml is None:
            provider_flags = ["-c", "model_provider=ccp", "-c", f"model={model}",
                              "-c", f"model_providers.ccp={provider}"]
        else:
            (home / "config.toml").write_text(config_toml, "utf-8")
            provider_flags = []
        cmd = [
            self.codex, "exec", *provider_flags,
            "-c", "analytics.enabled=false", "--disable", "plugins", "--disable", "remote_plugin",
            "--disable", "apps", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check",
            "--ephemeral", "--json", "-o", str(last), prompt,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
        env.update(CODEX_HOME=str(home), PROXY_KEY="sk-test", CODEX_CONVERT_PROXY_API_KEY="sk-test", NO_COLOR="1")
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=CODEX_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            stop_group(proc, grace=2.0)
            out, err = proc.communicate()
            raise AssertionError(f"codex exec did not finish in {CODEX_TIMEOUT_S}s\n{out}\n{err[-4000:]}\n{self.logs()}")
        finally:
            stop_group(proc, grace=2.0)  # also reaps shells Codex left behind
        last_message = last.read_text("utf-8") if last.exists() else ""
        return CodexRun(proc.returncode, out, err, last_message, cwd)

    def stop(self) -> None:
        for svc in reversed(self.services):
            svc.stop()


@pytest.fixture
def stack(codex_bin) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="ccp-e2e-") as tmp:
        st = Stack(codex_bin, Path(tmp))
        try:
            yield st
        finally:
            st.stop()


@pytest.fixture
def codex_config_text():
    """`codex-convert-proxy codex-config --listen HOST:PORT` output, as a function of the address."""
    return lambda listen: run_cli(["codex-config", "--listen", listen])
