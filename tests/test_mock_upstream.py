"""The mock upstream (python/codex_convert_proxy/mock): served on loopback, hit with httpx."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import httpx
import pytest

import codex_convert_proxy
from codex_convert_proxy.mock import MockUpstream, ScriptError, load_script
from codex_convert_proxy.mock.scenarios import APPLY_PATCH_INPUT

pytestmark = pytest.mark.timeout(60)

# The directory the package was imported from (a source tree or site-packages), for subprocesses.
PACKAGE_PARENT = str(Path(codex_convert_proxy.__file__).resolve().parents[1])
EXEC_TOOL = {
    "type": "function",
    "function": {
        "name": "exec_command",
        "description": "Runs a command",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
    },
}


def chat_body(text: str = "Hello there", *, stream: bool = True, model: str = "deepseek-chat",
              tools: Optional[list] = None, messages: Optional[list] = None) -> dict:
    body: Dict[str, Any] = {
        "model": model,
        "messages": messages if messages is not None else [{"role": "user", "content": text}],
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = tools
    return body


def sse_payloads(raw: bytes) -> List[str]:
    """The data payloads of an SSE body (the mock frames every event as `data: …\\n\\n`)."""
    assert raw.endswith(b"\n\n"), raw[-80:]
    payloads = []
    for block in raw.decode("utf-8").split("\n\n")[:-1]:
        lines = [line for line in block.split("\n") if not line.startswith(":")]
        if not lines:
            continue  # a comment-only block (keep-alive)
        assert all(line.startswith("data: ") for line in lines), block
        payloads.append("\n".join(line[6:] for line in lines))
    return payloads


def chunks_of(payloads: List[str]) -> List[dict]:
    return [json.loads(p) for p in payloads if p != "[DONE]"]


def deltas(chunks: List[dict], field: str) -> List[str]:
    return [c["choices"][0]["delta"][field] for c in chunks
            if c["choices"] and isinstance(c["choices"][0]["delta"].get(field), str)]


def tool_fragments(chunks: List[dict]) -> List[dict]:
    return [frag for c in chunks if c["choices"] for frag in c["choices"][0]["delta"].get("tool_calls", [])]


def assert_well_formed_stream(payloads: List[str], model: str) -> List[dict]:
    """Every stream ends finish → usage (choices: []) → [DONE]; chunks are realistic."""
    assert payloads[-1] == "[DONE]"
    chunks = chunks_of(payloads)
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for c in chunks:
        assert c["object"] == "chat.completion.chunk"
        assert isinstance(c["created"], int) and c["model"] == model
        assert list(c)[:4] == ["id", "object", "created", "model"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-2])
    assert chunks[-2]["choices"][0]["finish_reason"] is not None
    assert chunks[-2]["choices"][0]["delta"] == {}
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert isinstance(usage["prompt_tokens_details"]["cached_tokens"], int)
    assert isinstance(usage["completion_tokens_details"]["reasoning_tokens"], int)
    for a, b in zip(payloads, payloads[1:]):
        assert a != b, "two identical consecutive chunks"
    return chunks


@pytest.fixture
def mock():
    with MockUpstream() as server:
        yield server


@pytest.fixture
def client():
    with httpx.Client(timeout=10) as c:
        yield c


def post(client: httpx.Client, mock: MockUpstream, body: dict, path: str = "/v1/chat/completions",
         **headers: str) -> httpx.Response:
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    return client.post(mock.url + path, json=body, headers=hdrs)


# --- default conversation -----------------------------------------------------------------------


def test_default_conversation_is_reasoning_then_text(mock, client):
    r = post(client, mock, chat_body("Tell me a joke"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    chunks = assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat")
    reasoning, text = deltas(chunks, "reasoning_content"), deltas(chunks, "content")
    assert len(reasoning) >= 3 and len([t for t in text if t]) >= 3
    # reasoning comes first, then the answer, which quotes the user
    first_text = next(i for i, c in enumerate(chunks) if c["choices"] and c["choices"][0]["delta"].get("content"))
    last_reasoning = max(i for i, c in enumerate(chunks) if c["choices"] and "reasoning_content" in c["choices"][0]["delta"])
    assert last_reasoning < first_text
    assert "Tell me a joke" in "".join(text)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_default_run_request_with_tools_is_a_split_tool_call(mock, client):
    r = post(client, mock, chat_body("Run echo hello and tell me what it printed.", tools=[EXEC_TOOL]))
    chunks = assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat")
    assert deltas(chunks, "reasoning_content")
    frags = tool_fragments(chunks)
    first, rest = frags[0], frags[1:]
    assert first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"]["name"] == "exec_command" and first["index"] == 0
    assert len(rest) >= 3 and all("id" not in f and f["index"] == 0 for f in rest)
    arguments = "".join(f["function"]["arguments"] for f in frags)
    assert json.loads(arguments) == {"cmd": "echo hello"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_default_reads_the_prompt_from_the_last_text_part(mock, client):
    content = [{"type": "text", "text": "<environment_context>\n  <shell>bash</shell>\n</environment_context>"},
               {"type": "text", "text": "Run echo hello-from-parts, then stop."}]
    r = post(client, mock, chat_body(messages=[{"role": "user", "content": content}], tools=[EXEC_TOOL]))
    frags = tool_fragments(chunks_of(sse_payloads(r.content)))
    assert json.loads("".join(f["function"]["arguments"] for f in frags)) == {"cmd": "echo hello-from-parts"}


def test_default_uses_first_tool_when_no_exec_command(mock, client):
    tool = {"type": "function", "function": {"name": "shell", "parameters": {
        "type": "object", "properties": {"command": {"type": "array"}}, "required": ["command"]}}}
    r = post(client, mock, chat_body("please run `ls -la`", tools=[tool]))
    frags = tool_fragments(chunks_of(sse_payloads(r.content)))
    assert frags[0]["function"]["name"] == "shell"
    assert json.loads("".join(f["function"]["arguments"] for f in frags)) == {"command": ["bash", "-lc", "ls -la"]}


def test_run_request_without_tools_is_answered_with_text(mock, client):
    r = post(client, mock, chat_body("Run echo hello"))
    chunks = chunks_of(sse_payloads(r.content))
    assert not tool_fragments(chunks) and deltas(chunks, "content")


def test_default_after_tool_message_quotes_the_output(mock, client):
    messages = [
        {"role": "user", "content": "Run echo hello"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "exec_command", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "Process exited with code 0\nOutput:\nhello-from-tool\n"},
    ]
    r = post(client, mock, chat_body(messages=messages, tools=[EXEC_TOOL]))
    chunks = assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat")
    assert not tool_fragments(chunks)
    assert "hello-from-tool" in "".join(deltas(chunks, "content"))


def test_non_stream_request_gets_one_chat_completion(mock, client):
    r = post(client, mock, chat_body("Run echo hi", stream=False, tools=[EXEC_TOOL]))
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["role"] == "assistant" and message["content"] is None and message["reasoning_content"]
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "exec_command" and json.loads(call["function"]["arguments"]) == {"cmd": "echo hi"}
    assert body["usage"]["prompt_tokens"] > 0


# --- built-in scenarios ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["header", "model"])
def test_scenario_text_and_reasoning(mock, client, how):
    for name, wants_reasoning in (("text", False), ("reasoning", True)):
        if how == "header":
            r = post(client, mock, chat_body(), x_mock_scenario=name)
            model = "deepseek-chat"
        else:
            model = f"mock-{name}"
            r = post(client, mock, chat_body(model=model))
        assert r.headers["x-mock-reply"] == name
        chunks = assert_well_formed_stream(sse_payloads(r.content), model)
        assert bool(deltas(chunks, "reasoning_content")) is wants_reasoning
        assert deltas(chunks, "content")


def test_scenario_tool_call(mock, client):
    r = post(client, mock, chat_body("hi"), x_mock_scenario="tool_call")
    chunks = assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat")
    frags = tool_fragments(chunks)
    assert frags[0]["function"]["name"] == "exec_command"
    assert json.loads("".join(f["function"]["arguments"] for f in frags)) == {"cmd": "echo hello"}


def test_scenario_parallel_tool_calls_interleave_by_index(mock, client):
    r = post(client, mock, chat_body(), x_mock_scenario="parallel_tool_calls")
    chunks = assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat")
    frags = tool_fragments(chunks)
    indexes = [f["index"] for f in frags]
    assert indexes[:4] == [0, 1, 0, 1]  # interleaved
    with_id = [f for f in frags if "id" in f]
    assert [f["index"] for f in with_id] == [0, 1] and with_id[0]["id"] != with_id[1]["id"]
    for index, cmd in ((0, "echo first-call"), (1, "echo second-call")):
        args = "".join(f["function"].get("arguments", "") for f in frags if f["index"] == index)
        assert json.loads(args) == {"cmd": cmd}


def test_scenario_apply_patch(mock, client):
    r = post(client, mock, chat_body(), x_mock_scenario="apply_patch")
    frags = tool_fragments(assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat"))
    assert frags[0]["function"]["name"] == "apply_patch" and len(frags) >= 4
    assert json.loads("".join(f["function"]["arguments"] for f in frags)) == {"input": APPLY_PATCH_INPUT}


def test_scenario_think_tags_split_across_chunks(mock, client):
    r = post(client, mock, chat_body(), x_mock_scenario="think_tags")
    chunks = assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat")
    text = deltas(chunks, "content")
    joined = "".join(text)
    assert joined.startswith("<think>") and "</think>" in joined
    assert "<thi" in text and "<think>" not in text[1]  # the opening tag is split
    assert not deltas(chunks, "reasoning_content")


@pytest.mark.parametrize("name,status,code", [
    ("error_429", 429, "rate_limit_exceeded"),
    ("error_500", 500, None),
    ("context_length", 400, "context_length_exceeded"),
])
def test_error_scenarios_are_plain_replies(mock, client, name, status, code):
    r = post(client, mock, chat_body(), x_mock_scenario=name)
    assert r.status_code == status
    error = r.json()["error"]
    assert error["code"] == code and error["message"] and error["type"]
    if name == "error_429":
        assert r.headers["retry-after"] == "1"
    if name == "context_length":
        assert "maximum context length" in error["message"]


def test_scenario_cut_closes_without_terminator(mock, client):
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream("POST", mock.url + "/v1/chat/completions", json=chat_body(),
                           headers={"x-mock-scenario": "cut"}) as r:
            assert r.status_code == 200
            for part in r.iter_bytes():
                received += part
    payloads = sse_payloads(received)
    assert "[DONE]" not in payloads and len(payloads) >= 3
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks_of(payloads))
    # the server is still fine afterwards
    assert client.get(mock.url + "/health").json() == {"status": "ok"}


def test_scenario_in_stream_error_has_numeric_code_after_output(mock, client):
    r = post(client, mock, chat_body(), x_mock_scenario="in_stream_error")
    assert r.status_code == 200
    chunks = chunks_of(sse_payloads(r.content))
    assert deltas(chunks[:-1], "content")
    assert chunks[-1]["error"]["code"] == 502 and chunks[-1]["error"]["message"]


def test_scenario_slow_is_paced(mock, client):
    started = time.monotonic()
    arrivals = []
    with client.stream("POST", mock.url + "/v1/chat/completions", json=chat_body(),
                       headers={"x-mock-scenario": "slow"}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic() - started)
            if len(arrivals) == 4:
                break
    assert arrivals[3] - arrivals[0] >= 0.3  # 150 ms between events by default


def test_scenario_long_n_text_deltas(mock, client):
    r = post(client, mock, chat_body(), x_mock_scenario="long:300")
    chunks = assert_well_formed_stream(sse_payloads(r.content), "deepseek-chat")
    text = [t for t in deltas(chunks, "content") if t]
    assert len(text) == 300
    assert all(a != b for a, b in zip(text, text[1:]))
    # the same stream served twice gets a fresh id (the rendered stream is cached)
    again = chunks_of(sse_payloads(post(client, mock, chat_body(model="mock-long:300")).content))
    assert again[0]["id"] != chunks[0]["id"] and again[0]["model"] == "mock-long:300"


def test_long_knobs_events_bytes_batch_and_pace(mock, client):
    r = post(client, mock, chat_body(), x_mock_events="50", x_mock_event_bytes="400")
    payloads = sse_payloads(r.content)
    text_events = payloads[1:51]
    sizes = [len(("data: " + p + "\n\n").encode()) for p in text_events]
    assert all(abs(size - 400) <= 2 for size in sizes), sizes
    assert len(chunks_of(payloads)) == 53

    # 20 events per send, 50 ms apart: the ~25 events arrive in a couple of paced sends
    started = time.monotonic()
    r = client.post(mock.url + "/v1/chat/completions?events=20&pace_ms=50&batch=10", json=chat_body())
    elapsed = time.monotonic() - started
    assert len([t for t in deltas(chunks_of(sse_payloads(r.content)), "content") if t]) == 20
    assert 0.1 <= elapsed < 2.0  # 3 sends → 2 pauses of 50 ms (not 23)


def test_unknown_scenario_is_a_400(mock, client):
    r = post(client, mock, chat_body(), x_mock_scenario="nope")
    assert r.status_code == 400 and "unknown mock scenario" in r.json()["error"]["message"]
    # an unknown mock-NAME model is just a model name: the default conversation
    r = post(client, mock, chat_body(model="mock-model"))
    assert r.headers["x-mock-reply"] == "default"


@pytest.mark.parametrize("name,status", [("in_stream_error", 502), ("context_length_stream", 400)])
def test_non_stream_request_to_an_error_stream_gets_the_error(mock, client, name, status):
    r = post(client, mock, chat_body(stream=False), x_mock_scenario=name)
    assert r.status_code == status and r.json()["error"]["message"]


def test_non_stream_cut_dies_mid_body(mock, client):
    with pytest.raises(httpx.RemoteProtocolError):
        post(client, mock, chat_body(stream=False), x_mock_scenario="cut")


def test_non_stream_long(mock, client):
    body = post(client, mock, chat_body(stream=False), x_mock_scenario="long:40").json()
    assert body["object"] == "chat.completion" and len(body["choices"][0]["message"]["content"].split()) >= 40


def test_extra_scenarios(mock, client):
    length = chunks_of(sse_payloads(post(client, mock, chat_body(), x_mock_scenario="length").content))
    assert length[-2]["choices"][0]["finish_reason"] == "length"
    no_done = sse_payloads(post(client, mock, chat_body(), x_mock_scenario="no_done").content)
    assert no_done[-1] != "[DONE]" and json.loads(no_done[-1])["choices"] == []
    refusal = chunks_of(sse_payloads(post(client, mock, chat_body(), x_mock_scenario="refusal").content))
    assert "".join(deltas(refusal, "refusal")).startswith("I'm sorry")
    ctx = chunks_of(sse_payloads(post(client, mock, chat_body(), x_mock_scenario="context_length_stream").content))
    assert "maximum context length" in ctx[-1]["error"]["message"]


# --- scripts --------------------------------------------------------------------------------------

SCRIPT = {"turns": [
    {"status": 429, "headers": {"Retry-After": "2"},
     "json": {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}},
    {"stream": [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "scripted "}, "finish_reason": None}]},
        {"sleep_ms": 5},
        {"raw": ": OPENROUTER PROCESSING\n\n"},
        {"id": "chatcmpl-own", "choices": [{"index": 0, "delta": {"content": "answer"}, "finish_reason": "stop"}]},
        "[DONE]",
    ]},
    {"json": {"choices": [{"index": 0, "message": {"role": "assistant", "content": "plain"},
                           "finish_reason": "stop"}]}},
    {"stream": [{"choices": [{"index": 0, "delta": {"content": "half"}, "finish_reason": None}]},
                {"cut": True}]},
]}


def test_script_turns_in_order_then_last_repeats(client):
    with MockUpstream(script=SCRIPT) as mock:
        r1 = post(client, mock, chat_body(stream=False))
        assert r1.status_code == 429 and r1.headers["retry-after"] == "2"
        assert r1.json()["error"]["message"] == "slow down"

        r2 = post(client, mock, chat_body(model="glm-4.6"), path="/api/paas/v4/chat/completions")
        assert r2.status_code == 200 and r2.headers["x-mock-reply"] == "turn:2"
        text = r2.content.decode()
        assert ": OPENROUTER PROCESSING\n\n" in text  # raw written as-is
        payloads = sse_payloads(r2.content)
        assert payloads[-1] == "[DONE]"
        chunks = chunks_of(payloads)
        assert chunks[0]["id"].startswith("chatcmpl-") and chunks[0]["model"] == "glm-4.6"
        assert chunks[0]["object"] == "chat.completion.chunk" and isinstance(chunks[0]["created"], int)
        assert chunks[2]["id"] == "chatcmpl-own"  # given fields are kept
        assert "".join(deltas(chunks, "content")) == "scripted answer"

        r3 = post(client, mock, chat_body(stream=False), path="/chat/completions")
        body = r3.json()
        assert r3.status_code == 200 and body["choices"][0]["message"]["content"] == "plain"
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")

        for _ in range(2):  # the last turn (a cut) repeats
            with pytest.raises(httpx.RemoteProtocolError):
                post(client, mock, chat_body())
        assert len(mock.requests) == 5


def test_script_from_file_and_mock_endpoints(tmp_path, client):
    path = tmp_path / "script.json"
    path.write_text(json.dumps(SCRIPT))
    with MockUpstream(script=str(path)) as mock:
        body = chat_body("first")
        post(client, mock, body, authorization="Bearer sk-upstream", x_extra="1")
        recorded = client.get(mock.url + "/_mock/requests").json()
        assert len(recorded) == 1
        assert recorded[0]["path"] == "/v1/chat/completions"
        assert recorded[0]["body"] == body
        assert recorded[0]["headers"]["authorization"] == "Bearer sk-upstream"
        assert recorded[0]["headers"]["x-extra"] == "1"
        assert post(client, mock, chat_body()).status_code == 200  # turn 2

        assert client.post(mock.url + "/_mock/reset").status_code == 200
        assert client.get(mock.url + "/_mock/requests").json() == []
        assert post(client, mock, chat_body()).status_code == 429  # script restarted

        # a header scenario does not use up a turn
        assert post(client, mock, chat_body(), x_mock_scenario="text").status_code == 200
        assert post(client, mock, chat_body()).headers["x-mock-reply"] == "turn:2"


def test_script_can_be_replaced_at_runtime(mock, client):
    new = {"turns": [{"status": 503, "json": {"error": {"message": "down"}}}]}
    assert client.post(mock.url + "/_mock/script", json=new).json() == {"status": "loaded", "turns": 1}
    assert post(client, mock, chat_body()).status_code == 503
    bad = client.post(mock.url + "/_mock/script", json={"turns": [{"nothing": 1}]})
    assert bad.status_code == 400 and "turn 1" in bad.json()["error"]["message"]


def test_script_turn_pace(client):
    script = {"turns": [{"pace_ms": 60, "stream": [
        {"choices": [{"index": 0, "delta": {"content": str(i)}, "finish_reason": None}]} for i in range(5)
    ] + ["[DONE]"]}]}
    with MockUpstream(script=script) as mock:
        started = time.monotonic()
        r = post(client, mock, chat_body())
        paced = time.monotonic() - started
        assert paced >= 0.25  # 5 pauses of 60 ms
        assert "".join(deltas(chunks_of(sse_payloads(r.content)), "content")) == "01234"
        started = time.monotonic()
        post(client, mock, chat_body(), x_mock_pace_ms="0")  # the header wins: no pauses
        assert time.monotonic() - started < paced - 0.2


@pytest.mark.parametrize("bad,message", [
    ({"turns": []}, "at least one turn"),
    ({"turns": [{"stream": "x"}]}, "turn 1: stream must be a list"),
    ({"turns": [{"json": {}}, {"status": "500"}]}, "turn 2: status"),
    ({"turns": [{"stream": [{"sleep_ms": -1}]}]}, "turn 1, event 0: sleep_ms"),
    ({"turns": [{"stream": [42]}]}, "turn 1, event 0"),
])
def test_bad_scripts_are_rejected_with_a_clear_message(bad, message):
    with pytest.raises(ScriptError, match=message):
        load_script(bad)


# --- other routes -----------------------------------------------------------------------------------


def test_models_health_and_unknown_routes(mock, client):
    models = client.get(mock.url + "/v1/models").json()
    assert models["object"] == "list" and any(m["id"] == "mock-model" for m in models["data"])
    assert client.get(mock.url + "/health").json() == {"status": "ok"}
    assert client.get(mock.url + "/v1/nothing").status_code == 404
    assert client.get(mock.url + "/v1/chat/completions").status_code == 405
    bad = client.post(mock.url + "/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400
    assert client.get(mock.url + "/_mock/requests").json()[-1]["body"] == "{not json"


def test_client_disconnect_stops_a_paced_stream(client):
    mock = MockUpstream().start()
    try:
        with client.stream("POST", mock.url + "/v1/chat/completions", json=chat_body(),
                           headers={"x-mock-scenario": "long:10000", "x-mock-pace-ms": "20"}) as r:
            for _ in zip(range(3), r.iter_lines()):
                pass
        time.sleep(0.1)
    finally:
        started = time.monotonic()
        mock.stop()
    # uvicorn waits up to 2 s for running requests at shutdown: the stream must already be gone
    assert time.monotonic() - started < 1.5


def test_command_line_serves_and_stops(tmp_path):
    script = tmp_path / "s.json"
    script.write_text(json.dumps({"turns": [{"json": {"choices": [
        {"index": 0, "message": {"role": "assistant", "content": "from file"}, "finish_reason": "stop"}]}}]}))
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "codex_convert_proxy.mock", "--listen", "127.0.0.1:0", "--script", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("mock-upstream listening on http://127.0.0.1:"), line
        url = line.split()[3]
        r = httpx.post(url + "/v1/chat/completions", json=chat_body(stream=False), timeout=10)
        assert r.json()["choices"][0]["message"]["content"] == "from file"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, proc.stderr.read()


def test_command_line_rejects_a_bad_script(tmp_path):
    script = tmp_path / "bad.json"
    script.write_text('{"turns": [{"stream": 1}]}')
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    done = subprocess.run(
        [sys.executable, "-m", "codex_convert_proxy.mock", "--listen", "127.0.0.1:0", "--script", str(script)],
        capture_output=True, text=True, env=env, timeout=30,
    )
    assert done.returncode == 2 and "turn 1: stream must be a list" in done.stderr
