"""`serve --workers 2`: several uvicorn worker processes share the socket; /metrics on any of
them reports the sum over all workers."""
from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from codex_convert_proxy.mock import MockUpstream
from server_harness import ProxyProcess, metric_value, write_config

pytestmark = pytest.mark.timeout(180)


def test_two_workers_serve_and_aggregate_metrics(engine: str, tmp_path: Path) -> None:
    with MockUpstream() as mock:
        path = write_config(tmp_path / "c.json", {"backends": [
            {"name": "main", "url": mock.base_url, "api_key": "sk-up"}]})
        with ProxyProcess(["--config", path, "--workers", "2", "--engine", engine],
                          startup_timeout=60) as proxy:
            assert "2 workers" in "".join(proxy.stdout)
            deadline = time.monotonic() + 30
            while len(set(re.findall(r"Started server process \[(\d+)\]", proxy.logs()))) < 2:
                assert time.monotonic() < deadline, proxy.output()
                time.sleep(0.1)
            client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0,
                                   timeout=30)

            def one(i: int) -> str:
                events = list(client.responses.create(model="m", input=f"hello {i}",
                                                      stream=True))
                return events[-1].type

            with ThreadPoolExecutor(8) as pool:
                results = list(pool.map(one, range(24)))
            assert results == ["response.completed"] * 24
            # Every worker's counters end up in the sum (snapshots are at most ~1 s old).
            deadline = time.monotonic() + 10
            while True:
                text = proxy.metrics()
                total = metric_value(text, "ccp_requests_total", backend="main", status="200")
                if total == 24:
                    break
                assert time.monotonic() < deadline, f"requests_total={total}\n{text}"
                time.sleep(0.2)
            assert metric_value(text, "ccp_events_total", type="response.completed") == 24
            assert metric_value(text, "ccp_active_streams") == 0
        assert proxy.proc.returncode == 0


def test_previous_response_id_across_workers(tmp_path: Path) -> None:
    """Each request on a new connection, so the kernel spreads them over the workers; the
    conversation store is shared, so every follow-up finds its predecessor."""
    import httpx

    with MockUpstream() as mock:
        path = write_config(tmp_path / "c.json", {"backends": [
            {"name": "main", "url": mock.base_url}]})
        with ProxyProcess(["--config", path, "--workers", "2"], startup_timeout=60) as proxy:
            previous = None
            mark = proxy.mark()
            pids: set = set()
            turn = 0
            while turn < 6 or (len(pids) < 2 and turn < 40):
                body = {"model": "m", "input": f"turn {turn}", "stream": turn % 2 == 0}
                if previous:
                    body["previous_response_id"] = previous
                resp = httpx.post(proxy.url + "/v1/responses", json=body, timeout=30,
                                  headers={"Connection": "close"})
                assert resp.status_code == 200, resp.text
                if body["stream"]:
                    previous = resp.text.split('"id":"', 1)[1].split('"', 1)[0]
                else:
                    previous = resp.json()["id"]
                line = proxy.wait_for_log(previous, since=mark)
                pids.add(line.split("[", 1)[1].split("]", 1)[0])
                turn += 1
            assert len(pids) == 2, "the kernel never spread the requests over both workers"
            texts = json.dumps(mock.requests[-1]["body"]["messages"])
            assert all(f"turn {i}" in texts for i in range(turn))
