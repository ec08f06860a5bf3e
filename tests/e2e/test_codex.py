"""The real Codex CLI (0.169.0) runs full agent turns through the proxy (issue 4).

Every scenario runs under both engines. Exit code 0 does not mean success for Codex (a dropped
tool call still exits 0), so each test asserts on Codex's JSONL items and on the chat requests the
mock upstream recorded.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

pytestmark = pytest.mark.timeout(300)


# ---------------------------------------------------------------- helpers


def chat_tools(request: Dict[str, Any]) -> List[str]:
    return [t["function"]["name"] for t in request["body"].get("tools", []) if t.get("type") == "function"]


def messages(request: Dict[str, Any]) -> List[dict]:
    return request["body"]["messages"]


def assistant_tool_calls(request: Dict[str, Any]) -> List[dict]:
    """The assistant messages of a chat request that carry tool_calls."""
    return [m for m in messages(request) if m.get("role") == "assistant" and m.get("tool_calls")]


def tool_messages(request: Dict[str, Any]) -> Dict[str, str]:
    """tool_call_id -> text of the tool message."""
    out = {}
    for m in messages(request):
        if m.get("role") == "tool":
            content = m.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            out[m["tool_call_id"]] = content
    return out


def completed_ok(run, stack) -> None:
    assert run.returncode == 0, run.describe() + stack.logs()
    assert run.event_types()[-1] == "turn.completed", run.describe() + stack.logs()
    assert "turn.failed" not in run.event_types(), run.describe()


def agent_messages(run) -> List[str]:
    return [i["text"] for i in run.items("agent_message")]


def flat_name(engine: str, namespace: str, name: str) -> str:
    """The Chat name the engine gives a namespace function (read from its tool_map)."""
    import codex_convert_proxy as ccp

    body = {
        "model": "m",
        "input": "x",
        "tools": [{"type": "namespace", "name": namespace, "description": "d", "tools": [
            {"type": "function", "name": name, "description": "d", "strict": False,
             "parameters": {"type": "object", "properties": {}}}]}],
    }
    req = ccp.convert_request(json.dumps(body).encode(), "openai", engine=engine)
    flats = [flat for flat, pair in json.loads(req.tool_map)["namespaces"].items() if pair == [namespace, name]]
    assert len(flats) == 1, req.tool_map
    return flats[0]


# ---------------------------------------------------------------- 1. shell tool


def test_shell_tool(stack, engine):
    stack.start_mock("shell")
    stack.start_proxy(engine)
    run = stack.run_codex("Run echo hello-from-proxy and tell me what it printed.")
    completed_ok(run, stack)

    commands = run.items("command_execution")
    assert len(commands) == 1, run.describe()
    assert "echo hello-from-proxy" in commands[0]["command"]
    assert commands[0]["exit_code"] == 0
    assert "hello-from-proxy" in commands[0]["aggregated_output"]
    assert agent_messages(run) == ["The command printed hello-from-proxy."]
    assert run.last_message.strip() == "The command printed hello-from-proxy."

    reqs = stack.upstream_requests()
    assert len(reqs) == 2, [r["body"].get("messages", [])[-1:] for r in reqs]
    # The upstream sees the proxy's upstream key, never the client's.
    assert [r["headers"].get("authorization") for r in reqs] == ["Bearer sk-upstream-test"] * 2
    assert "exec_command" in chat_tools(reqs[0])
    calls = assistant_tool_calls(reqs[1])
    assert len(calls) == 1 and len(calls[0]["tool_calls"]) == 1
    call = calls[0]["tool_calls"][0]
    assert call["id"] == "call_shell_1"
    assert call["function"]["name"] == "exec_command"
    assert json.loads(call["function"]["arguments"]) == {"cmd": "echo hello-from-proxy"}
    outputs = tool_messages(reqs[1])
    assert set(outputs) == {"call_shell_1"}
    assert "hello-from-proxy" in outputs["call_shell_1"]


# ---------------------------------------------------------------- 2. apply_patch


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"


def test_apply_patch_custom_tool(stack, engine):
    stack.start_mock("apply_patch")
    stack.start_proxy(engine)
    run = stack.run_codex("Create hello.txt containing hi.", model="gpt-5.5")
    completed_ok(run, stack)

    target = run.cwd / "hello.txt"
    assert target.exists(), run.describe() + stack.logs()
    assert target.read_text() == "hi\n"
    changes = run.items("file_change")
    assert len(changes) == 1 and changes[0]["status"] == "completed", run.describe()
    assert [c["kind"] for c in changes[0]["changes"]] == ["add"]
    assert agent_messages(run) == ["Created hello.txt."]

    reqs = stack.upstream_requests()
    assert len(reqs) == 2
    # The custom tool is offered as a function with one string parameter `input`.
    tools = {t["function"]["name"]: t["function"] for t in reqs[0]["body"]["tools"]}
    params = tools["apply_patch"]["parameters"]
    assert params["type"] == "object" and list(params["properties"]) == ["input"]
    assert params["properties"]["input"]["type"] == "string"
    # The hosted tools of gpt-5.5 cannot run on a Chat upstream and are not forwarded.
    assert "tool_search" not in tools and "web_search" not in tools
    # The next request carries the call (patch text intact) and its output.
    calls = assistant_tool_calls(reqs[1])
    assert len(calls) == 1
    call = calls[0]["tool_calls"][0]
    assert call["id"] == "call_patch_1" and call["function"]["name"] == "apply_patch"
    assert json.loads(call["function"]["arguments"]) == {"input": PATCH}
    output = tool_messages(reqs[1])["call_patch_1"]
    assert "Success" in output and "hello.txt" in output


# ---------------------------------------------------------------- 3. deepseek reasoning replay


REASONING = "The user wants the output of echo, so I will run it with the shell tool."


def test_deepseek_reasoning_replay(stack, engine):
    stack.start_mock("reasoning_replay")
    stack.start_proxy(engine, provider="deepseek")
    run = stack.run_codex("Run echo thought-then-ran.", model="deepseek-reasoner")
    completed_ok(run, stack)

    reasoning = [i["text"] for i in run.items("reasoning")]
    assert REASONING in reasoning, run.describe()
    commands = run.items("command_execution")
    assert len(commands) == 1 and "thought-then-ran" in commands[0]["aggregated_output"]
    assert agent_messages(run) == ["It printed thought-then-ran."]

    reqs = stack.upstream_requests()
    assert len(reqs) == 2
    assert reqs[0]["body"]["model"] == "deepseek-reasoner"
    calls = assistant_tool_calls(reqs[1])
    assert len(calls) == 1, messages(reqs[1])[-3:]
    assert calls[0].get("reasoning_content") == REASONING, calls[0]
    assert calls[0]["tool_calls"][0]["id"] == "call_ds_1"
    assert "thought-then-ran" in tool_messages(reqs[1])["call_ds_1"]


# ---------------------------------------------------------------- 4. parallel calls


def test_parallel_tool_calls(stack, engine):
    stack.start_mock("parallel")
    stack.start_proxy(engine)
    run = stack.run_codex("Run two echo commands at once.")
    completed_ok(run, stack)

    commands = sorted(run.items("command_execution"), key=lambda i: i["command"])
    assert len(commands) == 2, run.describe()
    assert "first-call-out" in commands[0]["aggregated_output"]
    assert "second-call-out" in commands[1]["aggregated_output"]
    assert all(c["exit_code"] == 0 for c in commands)
    assert agent_messages(run) == ["Both commands ran."]

    reqs = stack.upstream_requests()
    assert len(reqs) == 2
    calls = assistant_tool_calls(reqs[1])
    assert len(calls) == 1, "both calls belong to one assistant message"
    got = [(c["id"], json.loads(c["function"]["arguments"])) for c in calls[0]["tool_calls"]]
    assert got == [("call_par_a", {"cmd": "echo first-call-out"}), ("call_par_b", {"cmd": "echo second-call-out"})]
    outputs = tool_messages(reqs[1])
    assert set(outputs) == {"call_par_a", "call_par_b"}
    assert "first-call-out" in outputs["call_par_a"] and "second-call-out" not in outputs["call_par_a"]
    assert "second-call-out" in outputs["call_par_b"]


# ---------------------------------------------------------------- 5. namespace and hosted tools


NAMESPACE = "multi_agent_v1"
NAMESPACE_FUNCTIONS = ["close_agent", "resume_agent", "send_input", "spawn_agent", "wait_agent"]


def test_namespace_and_hosted_tools(stack, engine):
    flat_close = flat_name(engine, NAMESPACE, "close_agent")
    assert flat_close != "close_agent"
    stack.start_mock("namespace", {"FLAT_CLOSE_AGENT": flat_close})
    stack.start_proxy(engine)
    run = stack.run_codex("Close the agent named no-such-agent.")
    completed_ok(run, stack)
    assert agent_messages(run) == ["The agent was not found."]

    reqs = stack.upstream_requests()
    assert len(reqs) == 2
    offered = chat_tools(reqs[0])
    # The namespace's functions arrive flattened; no tool keeps a bare namespace-member name.
    for fn in NAMESPACE_FUNCTIONS:
        assert flat_name(engine, NAMESPACE, fn) in offered, (fn, offered)
        assert fn not in offered
    assert flat_close in offered
    assert "web_search" not in offered
    assert all(t.get("type") == "function" for t in reqs[0]["body"]["tools"])

    # The call reached Codex under its real name: Codex's own close_agent handler answered
    # (an unknown name is answered "unsupported call: <name>").
    output = tool_messages(reqs[1])["call_ns_1"]
    assert "unsupported call" not in output, output
    assert "invalid agent id" in output, output
    # Codex replays the call as {name: close_agent, namespace: multi_agent_v1}; the upstream
    # must see it under the flattened name it was offered.
    calls = assistant_tool_calls(reqs[1])
    assert [c["function"]["name"] for c in calls[0]["tool_calls"]] == [flat_close]

    # The dropped web_search is reported: in the metrics and in the log.
    metrics = stack.proxy_metrics()
    samples = [line for line in metrics.splitlines()
               if line.startswith("ccp_degraded_total{") and '"tool:web_search"' in line]
    assert len(samples) == 1 and float(samples[0].rsplit(" ", 1)[1]) >= 1, metrics
    assert "tool:web_search" in stack.proxy.log(), stack.proxy.log()


# ---------------------------------------------------------------- 6. 429 then success


def test_upstream_429_retried_by_proxy(stack, engine):
    stack.start_mock("retry_429")
    stack.start_proxy(engine)
    run = stack.run_codex("Say something.")
    completed_ok(run, stack)
    assert agent_messages(run) == ["Answer after retry."]
    assert run.errors() == [], "Codex itself must not have seen a failure"
    reqs = stack.upstream_requests()
    assert len(reqs) == 2, "one 429, then the proxy's own retry"
    assert reqs[0]["body"] == reqs[1]["body"]
    retries = [line for line in stack.proxy_metrics().splitlines() if line.startswith("ccp_upstream_retries_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in retries) == 1, retries


# ---------------------------------------------------------------- 7. stream cut


def test_stream_cut_fails_then_retry_completes(stack, engine):
    stack.start_mock("stream_cut")
    stack.start_proxy(engine)
    run = stack.run_codex("Say something.", stream_max_retries=1)
    completed_ok(run, stack)
    # Codex saw the cut stream as a failure and retried it ...
    reconnects = [m for m in run.errors() if m.startswith("Reconnecting... 1/1")]
    assert len(reconnects) == 1, run.describe()
    assert "stream disconnected before completion" in reconnects[0]
    # ... and only the healthy answer became the final message.
    assert agent_messages(run) == ["Healthy answer after the cut."]
    assert len(stack.upstream_requests()) == 2


def test_stream_cut_is_not_a_silent_success(stack, engine):
    stack.start_mock("stream_cut")
    stack.start_proxy(engine)
    run = stack.run_codex("Say something.", stream_max_retries=0)
    assert run.returncode != 0, run.describe()
    assert run.event_types()[-1] == "turn.failed", run.describe()
    assert "stream disconnected before completion" in run.events[-1]["error"]["message"]
    assert agent_messages(run) == [], "a cut stream must not become a final answer"
    assert len(stack.upstream_requests()) == 1
    # The proxy counts it as a stream failure with the code Codex retries on.
    failures = [line for line in stack.proxy_metrics().splitlines()
                if line.startswith("ccp_stream_failures_total{") and '"server_error"' in line]
    assert len(failures) == 1 and float(failures[0].rsplit(" ", 1)[1]) == 1, failures


# ---------------------------------------------------------------- the README's codex-config


def test_codex_config_snippet_drives_codex(stack, engine, codex_config_text):
    """The `codex-config` output, used as Codex's config.toml with no other provider settings,
    runs a full tool turn through the proxy (what README "Use with Codex" tells users to do)."""
    stack.start_mock("shell")
    proxy = stack.start_proxy(engine)
    snippet = codex_config_text(f"127.0.0.1:{proxy.port}")
    assert 'wire_api = "responses"' in snippet and f"http://127.0.0.1:{proxy.port}/v1" in snippet
    assert "YOUR-MODEL" in snippet, snippet
    run = stack.run_codex("Run echo hello-from-proxy and tell me what it printed.",
                          config_toml=snippet.replace("YOUR-MODEL", "fake-model"))
    completed_ok(run, stack)
    commands = run.items("command_execution")
    assert len(commands) == 1 and "hello-from-proxy" in commands[0]["aggregated_output"]
    assert agent_messages(run) == ["The command printed hello-from-proxy."]
    assert len(stack.upstream_requests()) == 2
