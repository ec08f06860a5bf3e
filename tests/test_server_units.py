"""Unit tests of the server's parts: conversation store, metrics text, error mapping, routing,
inbound auth, request-body reading."""
from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any, Dict, List

import pytest

from codex_convert_proxy.server.asgi import ClientGone, read_body
from codex_convert_proxy.server.auth import ClientAuth
from codex_convert_proxy.server.config import parse_config
from codex_convert_proxy.server.errors import (ProxyError, from_upstream, normalise_code,
                                               retry_after_seconds)
from codex_convert_proxy.server.metrics import Metrics
from codex_convert_proxy.server.routing import PASSTHROUGH, RESPONSES, UNSUPPORTED, Router, \
    request_model
from codex_convert_proxy.server.store import ConversationStore, SharedDirStore

pytestmark = pytest.mark.timeout(30)


# --------------------------------------------------------------------------- store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_store_ttl_and_per_backend_keys() -> None:
    clock = Clock()
    store = ConversationStore(10, 10_000, 60, clock=clock)
    assert store.put("a", "resp_1", b"[in]", b"[out]")
    assert store.get("a", "resp_1") == (b"[in]", b"[out]")
    assert store.get("b", "resp_1") is None  # keyed per backend
    clock.now += 61
    assert store.get("a", "resp_1") is None
    assert len(store) == 0 and store.bytes == 0


def test_store_entry_cap_evicts_least_recently_used() -> None:
    store = ConversationStore(2, 10_000, 60, clock=Clock())
    store.put("a", "1", b"x", b"y")
    store.put("a", "2", b"x", b"y")
    assert store.get("a", "1") is not None  # 1 is now the most recently used
    store.put("a", "3", b"x", b"y")
    assert store.get("a", "2") is None
    assert store.get("a", "1") is not None and store.get("a", "3") is not None


def test_store_byte_cap() -> None:
    store = ConversationStore(100, 100, 60, clock=Clock())
    assert store.put("a", "1", b"x" * 40, b"y" * 10)
    assert store.put("a", "2", b"x" * 40, b"y" * 10)
    assert store.bytes == 100
    assert store.put("a", "3", b"x" * 10, b"")
    assert store.get("a", "1") is None and store.bytes == 60
    assert not store.put("a", "big", b"x" * 101, b"")  # larger than the cap: refused
    store.put("a", "2", b"z", b"")  # replacing an entry updates the byte count
    assert store.bytes == 11


def test_store_disabled_by_zero_ttl() -> None:
    store = ConversationStore(10, 100, 0)
    assert not store.enabled and not store.put("a", "1", b"", b"")


# --------------------------------------------------------------------------- metrics


def test_metrics_text_format() -> None:
    m = Metrics()
    m.inc("ccp_requests_total", ("main", "responses", "200"))
    m.inc("ccp_requests_total", ("main", "responses", "200"))
    m.inc("ccp_degraded_total", ('tool:"x"\n',))
    m.observe("ccp_upstream_ttfb_seconds", 0.07, ("main",))
    m.observe("ccp_upstream_ttfb_seconds", 500.0, ("main",))
    m.inc("ccp_active_streams")
    text = m.render().decode()
    assert '# TYPE ccp_requests_total counter' in text
    assert 'ccp_requests_total{backend="main",route="responses",status="200"} 2' in text
    assert 'ccp_degraded_total{feature="tool:\\"x\\"\\n"} 1' in text
    assert 'ccp_upstream_ttfb_seconds_bucket{backend="main",le="0.05"} 0' in text
    assert 'ccp_upstream_ttfb_seconds_bucket{backend="main",le="0.1"} 1' in text
    assert 'ccp_upstream_ttfb_seconds_bucket{backend="main",le="120"} 1' in text
    assert 'ccp_upstream_ttfb_seconds_bucket{backend="main",le="+Inf"} 2' in text
    assert 'ccp_upstream_ttfb_seconds_count{backend="main"} 2' in text
    assert 'ccp_upstream_ttfb_seconds_sum{backend="main"} 500.07' in text
    assert "\nccp_active_streams 1\n" in text
    assert text.endswith("\n")


def test_metrics_merge_across_workers() -> None:
    a, b = Metrics(), Metrics()
    a.inc("ccp_requests_total", ("m", "responses", "200"), 3)
    b.inc("ccp_requests_total", ("m", "responses", "200"), 4)
    b.observe("ccp_upstream_duration_seconds", 1.0, ("m",))
    b.inc("ccp_active_streams")
    text = a.render([b.snapshot()]).decode()
    assert 'ccp_requests_total{backend="m",route="responses",status="200"} 7' in text
    assert 'ccp_upstream_duration_seconds_count{backend="m"} 1' in text
    assert "\nccp_active_streams 1\n" in text
    dead = b.snapshot(live=False)  # an exited worker: counters stay, gauges go
    assert "ccp_active_streams" not in dead and "ccp_requests_total" in dead


# --------------------------------------------------------------------------- errors


def test_upstream_error_mapping() -> None:
    err = from_upstream(429, b'{"error":{"message":"slow down","type":"requests"}}', None, "b")
    assert (err.status, err.code, err.retry_after) == (429, "rate_limit_exceeded", "1")
    err = from_upstream(429, b'{"error":{"message":"Please try again in 7.2s"}}', None, "b")
    assert err.retry_after == "8"
    err = from_upstream(429, b'{"error":{"message":"You exceeded your current quota",'
                             b'"code":"insufficient_quota"}}', "30", "b")
    assert (err.code, err.retry_after) == ("insufficient_quota", "30")
    err = from_upstream(400, b'{"error":{"message":"This model\'s maximum context length is '
                             b'8192 tokens"}}', None, "b")
    assert (err.status, err.code) == (400, "context_length_exceeded")
    err = from_upstream(413, b'{"error":"prompt is too long"}', None, "b")
    assert (err.status, err.code) == (400, "context_length_exceeded")
    err = from_upstream(401, b'{"error":{"message":"invalid key"}}', None, "deep")
    assert err.status == 401 and "backend 'deep'" in err.message
    assert err.type == "authentication_error"
    err = from_upstream(500, b"<html>oops</html>", None, "b")
    assert (err.status, err.type, err.code) == (502, "server_error", "upstream_error")
    assert "<html>oops</html>" in err.message
    err = from_upstream(503, b"", "5", "b")
    assert (err.status, err.retry_after) == (503, "5")
    err = from_upstream(400, b'{"error":{"message":"bad","code":1214,"param":"messages"}}',
                        None, "b")
    assert (err.code, err.param) == ("1214", "messages")  # numeric codes become strings
    body = json.loads(err.body())
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_normalise_code_follows_the_engine_contract() -> None:
    assert normalise_code(None, None, "Too many tokens in prompt") == "context_length_exceeded"
    assert normalise_code("429", None, "") == "rate_limit_exceeded"
    assert normalise_code("custom", None, "boom") == "custom"
    assert normalise_code(None, None, "boom") == "server_error"


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None, "please try again in 250ms") == 0.25
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None


# --------------------------------------------------------------------------- routing


def _router() -> Router:
    config = parse_config({"backends": [
        {"name": "main", "url": "http://h/v1"},
        {"name": "p", "url": "http://h/v1", "match_rules": {"path_prefix": "/p"}},
        {"name": "pq", "url": "http://h/v1", "match_rules": {"path_prefix": "/p/q"}},
        {"name": "h", "url": "http://h/v1",
         "match_rules": {"header": {"name": "X-B", "value": "h"}, "model": "h-*"}},
        {"name": "m", "url": "http://h/v1", "match_rules": {"model": ["m-*", "exact"]}},
        {"name": "d", "url": "http://h/v1", "match_rules": {"default": True}},
    ]})
    return Router(config.backends)


def test_routes() -> None:
    router = _router()
    r = router.route("/v1/responses")
    assert (r.kind, r.backend) == (RESPONSES, None)
    assert router.route("/responses").kind == RESPONSES
    r = router.route("/p/v1/responses")
    assert (r.kind, r.backend.name) == (RESPONSES, "p")
    r = router.route("/p/q/v1/models")  # longest prefix wins
    assert (r.kind, r.backend.name, r.rest) == (PASSTHROUGH, "pq", "/models")
    assert router.route("/pq/v1/responses") is None  # "/p" must end at a path segment
    assert router.route("/v1/responses/resp_1").kind == UNSUPPORTED
    assert router.route("/other") is None


def test_backend_selection_order() -> None:
    router = _router()
    pick = router.select
    assert pick([(b"x-b", b"h")], "m-1").name == "h"  # header before model
    assert pick([], "m-large").name == "m"
    assert pick([], "exact").name == "m"
    assert pick([], "h-1").name == "h"
    assert pick([], "nothing").name == "d"  # default: true
    assert pick([], None).name == "d"


def test_request_model() -> None:
    assert request_model(b'{"model":"deepseek-chat","input":"x"}') == "deepseek-chat"
    assert request_model(b'{"input":"say \\"model\\": \\"x\\"","model":"a"}') == "a"
    nested = b'{"metadata":{"model":"inner"},"model":"outer"}'
    assert request_model(nested) == "outer"  # several matches: parsed properly
    assert request_model(b'{"input":"x"}') is None
    assert request_model(b'{"model":"caf\\u00e9"}') == "caf\u00e9"


# --------------------------------------------------------------------------- auth


def test_client_auth() -> None:
    auth = ClientAuth(["k1", "k2"])
    assert auth.allows([(b"authorization", b"Bearer k2")])
    assert auth.allows([(b"x-api-key", b"k1")])
    assert not auth.allows([(b"authorization", b"Bearer k3")])
    assert not auth.allows([(b"authorization", b"Basic k1")])
    assert not auth.allows([])
    assert ClientAuth([]).allows([])


# --------------------------------------------------------------------------- request bodies


def _receiver(messages: List[Dict[str, Any]]) -> Any:
    async def receive() -> Dict[str, Any]:
        return messages.pop(0)
    return receive


def _read(messages: List[Dict[str, Any]], headers: List[tuple], limit: int = 100) -> bytes:
    return asyncio.run(read_body(_receiver(messages), headers, limit))


def test_read_body_limits() -> None:
    parts = [{"type": "http.request", "body": b"a" * 60, "more_body": True},
             {"type": "http.request", "body": b"b" * 30, "more_body": False}]
    assert _read(list(parts), []) == b"a" * 60 + b"b" * 30
    with pytest.raises(ProxyError) as info:
        _read([{"type": "http.request", "body": b"x", "more_body": False}],
              [(b"content-length", b"101")])
    assert info.value.status == 413
    with pytest.raises(ProxyError):
        _read([{"type": "http.request", "body": b"a" * 60, "more_body": True},
               {"type": "http.request", "body": b"b" * 60, "more_body": False}], [])
    with pytest.raises(ClientGone):
        _read([{"type": "http.disconnect"}], [])


def test_read_body_decompresses_within_the_limit() -> None:
    data = json.dumps({"input": "x" * 50}).encode()
    packed = gzip.compress(data)
    assert _read([{"type": "http.request", "body": packed}],
                 [(b"content-encoding", b"gzip")]) == data
    bomb = gzip.compress(b"0" * 10_000)
    with pytest.raises(ProxyError) as info:
        _read([{"type": "http.request", "body": bomb}], [(b"content-encoding", b"gzip")])
    assert info.value.status == 413
    with pytest.raises(ProxyError) as info:
        _read([{"type": "http.request", "body": b"xx"}], [(b"content-encoding", b"br")])
    assert info.value.status == 415
    with pytest.raises(ProxyError) as info:
        _read([{"type": "http.request", "body": b"not gzip"}], [(b"content-encoding", b"gzip")])
    assert info.value.status == 400


def test_shared_dir_store(tmp_path: Any) -> None:
    clock = Clock()
    a = SharedDirStore(str(tmp_path), 3, 1000, 60, clock=clock)
    b = SharedDirStore(str(tmp_path), 3, 1000, 60, clock=clock)  # another worker
    assert a.put("main", "resp_1", b'[{"x":1}]', b"[]")
    assert b.get("main", "resp_1") == (b'[{"x":1}]', b"[]")
    assert b.get("other", "resp_1") is None
    assert b.get("main", "../../etc/passwd") is None  # client-chosen ids never make paths
    assert not a.put("main", "bad/id", b"", b"")
    clock.now += 61
    assert b.get("main", "resp_1") is None  # expired
    a.sweep()
    for i in range(5):
        clock.now += 0.1
        a.put("main", f"r{i}", b"x" * 10, b"")
    clock.now += 0.1
    assert b.get("main", "r0") is not None  # r0 is now the most recently used
    a.sweep()
    assert len(a) == 3 and a.bytes == 30
    assert b.get("main", "r1") is None and b.get("main", "r2") is None
    assert b.get("main", "r0") is not None and b.get("main", "r4") is not None
