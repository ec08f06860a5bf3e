"""Logging and security: one line per request, no keys in logs, body dumps only with log_body
(redacted, one uniquely named file per request and direction)."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from codex_convert_proxy.mock import MockUpstream
from server_harness import ProxyProcess, write_config

pytestmark = pytest.mark.timeout(120)

UPSTREAM_KEY = "sk-upstream-very-secret-1234"
CLIENT_KEY = "client-secret-5678"


def _config(tmp_path: Path, mock: MockUpstream, log_body: bool) -> str:
    return write_config(tmp_path / "c.json", {
        "log_dir": str(tmp_path / "logs"), "log_body": log_body,
        "client_api_keys": [CLIENT_KEY],
        "backends": [{"name": "main", "url": mock.base_url, "api_key": UPSTREAM_KEY}]})


def _request(proxy: ProxyProcess, stream: bool) -> httpx.Response:
    # The body itself carries the client key: the dump must redact it there too.
    return httpx.post(proxy.url + "/v1/responses", timeout=30,
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                      json={"model": "m", "input": f"my key is {CLIENT_KEY}", "stream": stream})


def test_body_dumps_are_redacted_and_unique(engine: str, tmp_path: Path) -> None:
    with MockUpstream() as mock, ProxyProcess(
            ["--config", _config(tmp_path, mock, True), "--engine", engine]) as proxy:
        for stream in (True, False, True):
            mark = proxy.mark()
            assert _request(proxy, stream).status_code == 200
            proxy.wait_for_log("POST /v1/responses", since=mark)
        ids = [line.split(" id=")[1].split()[0] for line in proxy.logs().splitlines()
               if "POST /v1/responses" in line]
        logs = proxy.output()
    bodies = tmp_path / "logs" / "bodies"
    files = sorted(p.name for p in bodies.iterdir())
    assert len(ids) == 3 and len(set(ids)) == 3
    for rid in ids:
        mine = [f for f in files if rid in f]
        assert any(f.endswith("-request.json") for f in mine)
        assert any(f.endswith("-upstream-request.json") for f in mine)
        assert any(f.endswith("-response.sse") or f.endswith("-response.json") for f in mine)
    sse = next(bodies.glob("*-response.sse")).read_text()
    assert "event: response.completed" in sse
    for path in bodies.iterdir():
        text = path.read_text()
        assert UPSTREAM_KEY not in text and CLIENT_KEY not in text
    assert "my key is ***" in next(bodies.glob("*-request.json")).read_text()
    # Log lines (stderr and log_dir/proxy.log) never hold a key.
    file_log = (tmp_path / "logs" / "proxy.log").read_text()
    assert "POST /v1/responses status=200" in file_log
    for text in (logs, file_log):
        assert UPSTREAM_KEY not in text and CLIENT_KEY not in text


def test_no_body_dumps_by_default(tmp_path: Path) -> None:
    with MockUpstream() as mock, ProxyProcess(
            ["--config", _config(tmp_path, mock, False)]) as proxy:
        assert _request(proxy, True).status_code == 200
        line = proxy.wait_for_log("POST /v1/responses")
        assert "backend=main" in line and "events=" in line and "ms=" in line
        # Exactly one line for the request, not one per event.
        assert proxy.logs().count("POST /v1/responses") == 1
    assert not (tmp_path / "logs" / "bodies").exists()
