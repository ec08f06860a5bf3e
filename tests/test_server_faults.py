"""Faults inside the proxy stay inside one request: an engine that raises mid-stream ends that
stream with response.failed, a crash before the first byte is a clean 500 JSON error, and other
requests carry on. (In-process app over httpx's ASGI transport, the mock upstream in a thread.)"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator

import httpx
import pytest

import codex_convert_proxy as ccp
from codex_convert_proxy.mock import MockUpstream
from codex_convert_proxy.server.app import ProxyApp
from codex_convert_proxy.server.config import parse_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream() as upstream:
        yield upstream


RealTranslator = ccp.StreamTranslator


class FlakyTranslator:
    """The real translator, except that feed() raises for model "boom"."""

    def __init__(self, provider: str, model: str, *args: Any, **kwargs: Any) -> None:
        self._real = RealTranslator(provider, model, *args, **kwargs)
        self._boom = model == "boom"

    def feed(self, chunk: bytes) -> bytes:
        if self._boom:
            raise RuntimeError("engine exploded")
        return self._real.feed(chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _run(app: ProxyApp, *bodies: dict) -> list:
    async def main() -> list:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy",
                                     timeout=30) as client:
            results = await asyncio.gather(*(client.post("/v1/responses", json=b)
                                             for b in bodies))
        await app.aclose()
        return list(results)
    return asyncio.run(main())


def _events(text: str) -> list:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_engine_fault_mid_stream_fails_only_that_stream(engine: str, mock: MockUpstream,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ccp, "StreamTranslator", FlakyTranslator)
    app = ProxyApp(parse_config({"backends": [{"name": "m", "url": mock.base_url}]}),
                   engine=engine)
    bad, good = _run(app, {"model": "boom", "input": "hi", "stream": True},
                     {"model": "fine", "input": "hi", "stream": True})
    assert bad.status_code == 200
    events = _events(bad.text)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["error"] == {"code": "server_error",
                                               "message": "internal conversion error"}
    assert "Traceback" not in bad.text and "exploded" not in bad.text
    assert _events(good.text)[-1]["type"] == "response.completed"


def test_crash_before_the_first_byte_is_a_clean_500(engine: str, mock: MockUpstream,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = ccp.convert_response

    def flaky(body: bytes, provider: str, **kwargs: Any) -> Any:
        if kwargs.get("model") == "boom":
            raise KeyError("secret internals")
        return real(body, provider, **kwargs)

    monkeypatch.setattr(ccp, "convert_response", flaky)
    app = ProxyApp(parse_config({"backends": [{"name": "m", "url": mock.base_url}]}),
                   engine=engine)
    bad, good = _run(app, {"model": "boom", "input": "hi"}, {"model": "fine", "input": "hi"})
    assert bad.status_code == 500
    assert bad.json() == {"error": {"message": "internal proxy error (KeyError)",
                                    "type": "server_error", "param": None,
                                    "code": "internal_error"}}
    assert good.status_code == 200 and good.json()["status"] == "completed"
    text = app.metrics.render().decode()
    assert 'ccp_requests_total{backend="m",route="responses",status="500"} 1' in text
    assert 'ccp_requests_total{backend="m",route="responses",status="200"} 1' in text
