"""End to end: `codex-convert-proxy serve` (a real uvicorn subprocess on loopback) in front of the
mock upstream, driven by the official `openai` SDK and raw httpx. Runs once per engine."""
from __future__ import annotations

import json
import time
from typing import Any, Dict, Iterator, List

import httpx
import openai
import pytest

from codex_convert_proxy.mock import MockUpstream
from server_harness import HangingUpstream, ProxyProcess, free_port, metric_value, write_config

pytestmark = pytest.mark.timeout(120)

CLIENT_KEY = "client-key-1"
UPSTREAM_KEY = "sk-upstream-main-0123456789"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def hanging() -> Iterator[HangingUpstream]:
    upstream = HangingUpstream()
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def mute() -> Iterator[HangingUpstream]:
    upstream = HangingUpstream(answer=False)
    yield upstream
    upstream.close()


@pytest.fixture(scope="module")
def proxy(engine: str, mock: MockUpstream, hanging: HangingUpstream, mute: HangingUpstream,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyProcess]:
    config = {
        "client_api_keys": [CLIENT_KEY, "client-key-2"],
        "max_body_bytes": 300_000,
        "keepalive_seconds": 0.4,
        "retries": {"count": 1, "backoff_seconds": 0.05, "max_retry_after_seconds": 5},
        "backends": [
            {"name": "main", "url": mock.base_url, "api_key": UPSTREAM_KEY,
             "match_rules": {"default": True}},
            {"name": "kimi", "url": mock.base_url, "api_key": "sk-upstream-kimi",
             "match_rules": {"path_prefix": "/kimi"}, "headers": {"X-Team": "core"},
             "extra_body": {"top_k": 5}},
            {"name": "glm", "url": mock.url + "/api/paas/v4", "api_key": "sk-upstream-glm",
             "match_rules": {"header": {"name": "x-backend", "value": "glm"}}},
            {"name": "deepseek", "url": mock.base_url, "api_key": "sk-upstream-ds",
             "match_rules": {"model": ["deepseek-*"]}},
            {"name": "dead", "provider": "openai", "url": f"http://127.0.0.1:{free_port()}/v1",
             "match_rules": {"path_prefix": "/dead"}, "timeouts": {"connect": 1}},
            {"name": "hang", "url": hanging.url, "match_rules": {"path_prefix": "/hang"},
             "timeouts": {"read": 1.5}},
            {"name": "mute", "url": mute.url, "match_rules": {"path_prefix": "/mute"},
             "timeouts": {"read": 1}},
        ],
    }
    path = write_config(tmp_path_factory.mktemp("cfg") / "config.json", config)
    with ProxyProcess(["--config", path, "--engine", engine]) as proc:
        yield proc


@pytest.fixture()
def client(proxy: ProxyProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                         timeout=30)


@pytest.fixture(autouse=True)
def _fresh_mock(mock: MockUpstream) -> Iterator[None]:
    mock.app.set_script(None)
    yield
    mock.app.set_script(None)


def post(proxy: ProxyProcess, body: Any, path: str = "/v1/responses", key: str = CLIENT_KEY,
         **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return httpx.post(proxy.url + path, json=body, headers=headers, timeout=30, **kwargs)


def sse_events(text: str) -> List[Dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        data = [line[6:] for line in block.split("\n") if line.startswith("data: ")]
        if data:
            events.append(json.loads("\n".join(data)))
    return events


# --------------------------------------------------------------------------- happy paths


def test_streaming_with_the_sdk(client: openai.OpenAI, mock: MockUpstream) -> None:
    stream = client.responses.create(model="gpt-test", input="hello there", stream=True)
    events = list(stream)
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.id.startswith("resp_") and len(final.id) == 5 + 24
    assert final.id == events[0].response.id
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and final.output_text == text
    assert final.usage is not None and final.usage.total_tokens > 0
    # The upstream got a Chat Completions request with the upstream key, not the client's.
    sent = mock.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["stream"] is True and sent["body"]["messages"][-1]["role"] == "user"
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in json.dumps(sent)


def test_stream_accumulator_helper(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-test", input="say something") as stream:
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text
    kinds = [item.type for item in final.output]
    assert kinds == ["reasoning", "message"]


def test_non_streaming_with_the_sdk(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-test", input="hello")
    assert response.status == "completed"
    assert response.id.startswith("resp_")
    assert response.output_text
    assert abs(response.created_at - time.time()) < 60


def test_tool_call_streams_complete_arguments(client: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "exec_command", "description": "run a command",
              "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                             "required": ["cmd"]}}]
    with client.responses.stream(model="mock-tool_call", input="run echo hi",
                                 tools=tools) as stream:
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "exec_command"
    assert isinstance(json.loads(calls[0].arguments), dict)


def test_routing_by_path_prefix(proxy: ProxyProcess, mock: MockUpstream) -> None:
    resp = post(proxy, {"model": "m", "input": "hi", "max_output_tokens": 50},
                path="/kimi/v1/responses")
    assert resp.status_code == 200
    assert resp.headers["x-ccp-backend"] == "kimi"
    sent = mock.requests[-1]
    assert sent["headers"]["authorization"] == "Bearer sk-upstream-kimi"
    assert sent["body"].get("max_completion_tokens") == 50  # kimi profile
    assert sent["body"]["top_k"] == 5 and sent["headers"]["x-team"] == "core"  # backend extras
    # The prefix also serves the short path and pass-through.
    assert post(proxy, {"model": "m", "input": "hi"}, path="/kimi/responses").headers[
        "x-ccp-backend"] == "kimi"


def test_routing_by_header(proxy: ProxyProcess, mock: MockUpstream) -> None:
    resp = post(proxy, {"model": "m", "input": "hi", "stream": True},
                headers={"x-backend": "glm"})
    assert resp.status_code == 200 and resp.headers["x-ccp-backend"] == "glm"
    assert sse_events(resp.text)[-1]["type"] == "response.completed"
    assert mock.requests[-1]["path"] == "/api/paas/v4/chat/completions"  # no doubled /v1
    assert mock.requests[-1]["headers"]["authorization"] == "Bearer sk-upstream-glm"


def test_routing_by_model(proxy: ProxyProcess, mock: MockUpstream) -> None:
    resp = post(proxy, {"model": "deepseek-chat", "input": "hi"})
    assert resp.status_code == 200 and resp.headers["x-ccp-backend"] == "deepseek"
    assert mock.requests[-1]["headers"]["authorization"] == "Bearer sk-upstream-ds"
    assert post(proxy, {"model": "other", "input": "hi"}).headers["x-ccp-backend"] == "main"


def test_passthrough_models_and_chat(client: openai.OpenAI, mock: MockUpstream) -> None:
    models = [m.id for m in client.models.list()]
    assert "mock-model" in models
    chunks = list(client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hello"}], stream=True))
    assert any(c.choices and c.choices[0].delta.content for c in chunks)
    sent = mock.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert CLIENT_KEY not in json.dumps(sent)


def test_passthrough_relays_sse_bytes_unchanged(proxy: ProxyProcess, mock: MockUpstream) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    via_proxy = post(proxy, body, path="/v1/chat/completions")
    direct = httpx.post(mock.base_url + "/chat/completions", json=body, timeout=30)
    assert via_proxy.status_code == 200
    assert via_proxy.headers["content-type"].startswith("text/event-stream")
    # Same event structure (ids/timestamps differ between the two calls).
    assert via_proxy.text.count("data: ") == direct.text.count("data: ")
    assert via_proxy.text.rstrip().endswith("data: [DONE]")


def test_health_and_metrics(proxy: ProxyProcess) -> None:
    health = httpx.get(proxy.url + "/health", timeout=5)
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    post(proxy, {"model": "m", "input": "hi", "stream": True})
    text = proxy.metrics()
    assert metric_value(text, "ccp_requests_total", backend="main", route="responses",
                        status="200") >= 1
    assert metric_value(text, "ccp_upstream_ttfb_seconds_count", backend="main") >= 1
    assert metric_value(text, "ccp_upstream_duration_seconds_count", backend="main") >= 1
    assert metric_value(text, "ccp_events_total", type="response.completed") >= 1
    assert "# TYPE ccp_active_streams gauge" in text
    assert metric_value(text, "ccp_active_streams") == 0


def test_degraded_features_are_reported(proxy: ProxyProcess) -> None:
    body = {"model": "m", "input": "hi", "stream": True,
            "tools": [{"type": "web_search"}]}
    mark = proxy.mark()
    resp = post(proxy, body)
    assert resp.status_code == 200
    assert "tool:web_search" in resp.headers["x-ccp-degraded"].split(",")
    assert metric_value(proxy.metrics(), "ccp_degraded_total", feature="tool:web_search") >= 1
    line = proxy.wait_for_log("degraded=tool:web_search", since=mark)
    assert "POST /v1/responses status=200" in line


# --------------------------------------------------------------------------- errors before the first byte


def test_inbound_auth(proxy: ProxyProcess) -> None:
    bad = openai.OpenAI(base_url=proxy.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.responses.create(model="m", input="hi")
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
    missing = httpx.post(proxy.url + "/v1/responses", json={"model": "m", "input": "hi"})
    assert missing.status_code == 401
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    other = httpx.post(proxy.url + "/v1/responses", json={"model": "m", "input": "hi"},
                       headers={"x-api-key": "client-key-2"}, timeout=30)
    assert other.status_code == 200
    assert httpx.get(proxy.url + "/v1/models").status_code == 401  # pass-through too


def test_malformed_requests_get_400(proxy: ProxyProcess) -> None:
    resp = httpx.post(proxy.url + "/v1/responses", content=b"{not json",
                      headers={"Authorization": f"Bearer {CLIENT_KEY}",
                               "content-type": "application/json"})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    resp = post(proxy, {"model": "m", "input": 42})
    assert resp.status_code == 400 and "input" in resp.json()["error"]["message"]


def test_body_over_max_body_bytes_gets_413(proxy: ProxyProcess) -> None:
    big = {"model": "m", "input": "x" * 400_000}
    resp = post(proxy, big)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: caught while reading
        yield b'{"model":"m","input":"'
        for _ in range(40):
            yield b"y" * 10_000
        yield b'"}'

    resp = httpx.post(proxy.url + "/v1/responses", content=chunks(), timeout=30,
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    assert resp.status_code == 413


def test_upstream_429_is_retried_then_relayed_with_retry_after(
        client: openai.OpenAI, proxy: ProxyProcess, mock: MockUpstream) -> None:
    before = len(mock.requests)
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model="mock-error_429", input="hi", stream=True)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.code == "rate_limit_exceeded"
    assert len(mock.requests) - before == 2  # one retry (retries.count = 1)
    assert metric_value(proxy.metrics(), "ccp_upstream_retries_total", backend="main",
                        reason="http_429") >= 1


def test_upstream_500_becomes_502_after_retry(proxy: ProxyProcess, mock: MockUpstream) -> None:
    before = len(mock.requests)
    resp = post(proxy, {"model": "mock-error_500", "input": "hi", "stream": True})
    assert resp.status_code == 502
    assert resp.json()["error"]["type"] == "server_error"
    assert "The server had an error" in resp.json()["error"]["message"]
    assert len(mock.requests) - before == 2


def test_context_length_error_keeps_its_meaning(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="mock-context_length", input="hi", stream=True)
    assert info.value.code == "context_length_exceeded"


def test_scripted_upstream_4xx_with_numeric_code(proxy: ProxyProcess, mock: MockUpstream) -> None:
    mock.app.set_script({"turns": [{"status": 404, "json": {
        "error": {"message": "model 'x' does not exist", "code": 404}}}]})
    resp = post(proxy, {"model": "m", "input": "hi"})
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert "does not exist" in error["message"] and error["type"] == "not_found_error"
    assert error["code"] == "404"


def test_ok_status_with_an_error_body(proxy: ProxyProcess, mock: MockUpstream) -> None:
    mock.app.set_script({"turns": [
        {"json": {"error": {"message": "This model's maximum context length is 8k tokens",
                            "type": "invalid_request_error"}}},
        {"json": {"error": {"message": "Rate limit reached, try again in 3s", "code": 1302}}}]})
    resp = post(proxy, {"model": "m", "input": "hi", "stream": True})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "context_length_exceeded"
    resp = post(proxy, {"model": "m", "input": "hi"})
    assert resp.status_code == 429 and resp.headers["retry-after"] == "3"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"


def test_connect_failure_is_502(proxy: ProxyProcess) -> None:
    resp = post(proxy, {"model": "m", "input": "hi"}, path="/dead/v1/responses")
    assert resp.status_code == 502
    assert resp.json()["error"]["code"] == "upstream_unreachable"
    assert metric_value(proxy.metrics(), "ccp_upstream_retries_total", backend="dead") >= 1


def test_upstream_that_never_answers_is_504(proxy: ProxyProcess) -> None:
    started = time.monotonic()
    resp = post(proxy, {"model": "m", "input": "hi", "stream": True}, path="/mute/v1/responses")
    assert resp.status_code == 504
    assert resp.json()["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 10


def test_previous_response_id_unknown_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="m", input="hi", previous_response_id="resp_nope")
    assert info.value.code == "previous_response_not_found"
    assert info.value.body["param"] == "previous_response_id"


def test_unknown_routes_and_methods(proxy: ProxyProcess) -> None:
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    resp = httpx.get(proxy.url + "/nothing-here", headers=headers)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "unknown_url"
    assert httpx.get(proxy.url + "/v1/responses", headers=headers).status_code == 405
    assert httpx.get(proxy.url + "/v1/responses/resp_1", headers=headers).status_code == 404


# --------------------------------------------------------------------------- after the first byte


def test_in_stream_error_ends_with_response_failed(client: openai.OpenAI,
                                                   proxy: ProxyProcess) -> None:
    events = list(client.responses.create(model="mock-in_stream_error", input="hi",
                                          stream=True))
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code
    assert metric_value(proxy.metrics(), "ccp_stream_failures_total", backend="main") >= 1


def test_cut_stream_fails_instead_of_completing(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="mock-cut", input="hi", stream=True))
    assert events[-1].type == "response.failed"
    assert "finish_reason" in events[-1].response.error.message


def test_keepalive_events_during_a_pause(proxy: ProxyProcess, mock: MockUpstream) -> None:
    mock.app.set_script({"turns": [{"stream": [
        {"choices": [{"index": 0, "delta": {"content": "thinking"}}]},
        {"sleep_ms": 1500},
        {"choices": [{"index": 0, "delta": {"content": " done"}, "finish_reason": "stop"}]},
        "[DONE]"]}]})
    resp = post(proxy, {"model": "m", "input": "hi", "stream": True})
    assert resp.status_code == 200
    events = sse_events(resp.text)
    types = [e["type"] for e in events]
    # Keep-alives are real events (Codex's idle timer ignores SSE comments), in sequence.
    first_delta = types.index("response.output_text.delta")
    assert types[first_delta + 1:].count("response.in_progress") >= 2
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "thinking done"


def test_keepalive_events_pass_the_sdk_stream_helper(client: openai.OpenAI,
                                                     mock: MockUpstream) -> None:
    mock.app.set_script({"turns": [{"stream": [
        {"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]},
        {"sleep_ms": 1000},
        {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]},
        "[DONE]"]}]})
    with client.responses.stream(model="m", input="hi") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.in_progress") >= 2
    assert final.status == "completed" and final.output_text == "ok"


def test_idle_upstream_mid_stream_fails_with_read_timeout(proxy: ProxyProcess) -> None:
    resp = post(proxy, {"model": "m", "input": "hi", "stream": True}, path="/hang/v1/responses")
    events = sse_events(resp.text)
    assert events[-1]["type"] == "response.failed"
    assert "read timeout" in events[-1]["response"]["error"]["message"]
    assert [e["type"] for e in events].count("response.in_progress") >= 3  # 1 + keep-alives


def test_client_disconnect_cancels_the_upstream(proxy: ProxyProcess,
                                                hanging: HangingUpstream) -> None:
    deadline = time.monotonic() + 5  # earlier tests' upstream connections are closed first
    while len(hanging.closed_at) < hanging.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    before = len(hanging.closed_at)
    mark = proxy.mark()
    with httpx.stream("POST", proxy.url + "/hang/v1/responses", timeout=30,
                      json={"model": "m", "input": "hi", "stream": True},
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as resp:
        seen = b""
        # Keep the iterator referenced: httpx closes the connection when it is dropped.
        chunks = resp.iter_bytes()
        for chunk in chunks:
            seen += chunk
            if b"response.output_text.delta" in seen:
                break
        time.sleep(0.3)
        assert metric_value(proxy.metrics(), "ccp_active_streams") == 1
        assert hanging.closed_at[before:] == []
        closed = time.monotonic()
    # Leaving the block closed the client connection: the proxy must drop the upstream at once
    # (long before the 1.5 s read timeout would have).
    deadline = time.monotonic() + 5
    while len(hanging.closed_at) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(hanging.closed_at) > before
    assert hanging.closed_at[-1] - closed < 1.0
    line = proxy.wait_for_log("outcome=client_disconnect", since=mark)
    assert "backend=hang" in line
    deadline = time.monotonic() + 5
    while metric_value(proxy.metrics(), "ccp_active_streams") != 0:
        assert time.monotonic() < deadline, "active stream gauge did not return to 0"
        time.sleep(0.05)
    assert metric_value(proxy.metrics(), "ccp_client_disconnects_total", backend="hang") >= 1


def test_client_disconnect_from_a_slow_mock_stream(proxy: ProxyProcess,
                                                   mock: MockUpstream) -> None:
    before = len(mock.requests)
    mark = proxy.mark()
    with httpx.stream("POST", proxy.url + "/v1/responses", timeout=30,
                      json={"model": "mock-slow", "input": "hi", "stream": True},
                      headers={"Authorization": f"Bearer {CLIENT_KEY}"}) as resp:
        chunks = resp.iter_bytes()
        for chunk in chunks:
            if b"response.in_progress" in chunk:
                break
        assert metric_value(proxy.metrics(), "ccp_active_streams") == 1
    assert len(mock.requests) == before + 1
    line = proxy.wait_for_log("outcome=client_disconnect", timeout=5, since=mark)
    assert "backend=main" in line
    deadline = time.monotonic() + 5
    while metric_value(proxy.metrics(), "ccp_active_streams") != 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)


# --------------------------------------------------------------------------- previous_response_id


def test_previous_response_id_continues_the_conversation(client: openai.OpenAI,
                                                         mock: MockUpstream) -> None:
    first = client.responses.create(model="m", input="my name is Ada",
                                    instructions="be brief")
    second = client.responses.create(model="m", input="what is my name?",
                                     previous_response_id=first.id)
    assert second.status == "completed"
    messages = mock.requests[-1]["body"]["messages"]
    texts = [json.dumps(m.get("content")) for m in messages]
    assert "my name is Ada" in texts[0] or any("my name is Ada" in t for t in texts)
    assert any(first.output_text[:20] in t for t in texts)  # the first answer is replayed
    assert "what is my name?" in texts[-1]
    # Instructions are not carried over (Responses API semantics).
    assert not any("be brief" in t for t in texts)
    # A streamed follow-up chains further.
    with client.responses.stream(model="m", input="and again?",
                                 previous_response_id=second.id) as stream:
        third = stream.get_final_response()
    texts = [json.dumps(m.get("content")) for m in mock.requests[-1]["body"]["messages"]]
    assert any("what is my name?" in t for t in texts) and "and again?" in texts[-1]
    # And the stream result can be continued from too.
    client.responses.create(model="m", input="last", previous_response_id=third.id)


def test_store_false_is_not_kept(client: openai.OpenAI) -> None:
    first = client.responses.create(model="m", input="hi", store=False)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="m", input="again", previous_response_id=first.id)
    assert info.value.code == "previous_response_not_found"


def test_previous_response_id_is_per_backend(client: openai.OpenAI, proxy: ProxyProcess) -> None:
    first = client.responses.create(model="m", input="hi")
    resp = post(proxy, {"model": "m", "input": "x", "previous_response_id": first.id},
                path="/kimi/v1/responses")
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "previous_response_not_found"


def test_many_concurrent_streams(proxy: ProxyProcess) -> None:
    import asyncio

    async def main() -> list:
        client = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY,
                                    max_retries=0, timeout=60)

        async def one(i: int) -> str:
            stream = await client.responses.create(model="mock-long:200", input=f"n{i}",
                                                   stream=True)
            text = ""
            async for event in stream:
                if event.type == "response.completed":
                    text = event.response.output_text
            return text

        try:
            return await asyncio.gather(*(one(i) for i in range(60)))
        finally:
            await client.close()

    texts = asyncio.run(main())
    assert all(texts) and len(texts) == 60
    assert metric_value(proxy.metrics(), "ccp_active_streams") == 0
