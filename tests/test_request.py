"""Request conversion, Responses → Chat Completions (engine contract §4), on both engines.

Every rule is checked on the converted structure; the golden corpus
(tests/fixtures/request_golden/) and hypothesis-generated requests check that the Rust and Python
engines write the same bytes.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_convert_proxy.engine.request import convert_request as py_convert_request
from codex_convert_proxy.engine.request import flat_tool_name
from codex_convert_proxy.errors import ConversionError
from codex_convert_proxy.providers import get_profile, profile_names

GOLDEN_DIR = Path(__file__).parent / "fixtures" / "request_golden"
CODEX_FILES = (
    "codex-1-initial.json",
    "codex-2-function-call-output.json",
    "codex-3-custom-tool-call-output.json",
)
PROFILES = profile_names()


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("request_golden", GOLDEN_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


GOLDEN = _load_generator()


class Out(NamedTuple):
    raw: bytes
    chat: Dict[str, Any]
    degraded: List[str]
    tool_map: Dict[str, Any]
    echo: Dict[str, Any]
    stream: bool
    model: str
    raw_tuple: tuple


def raw_convert(engine: str, body: bytes, provider: str, model: Optional[str] = None) -> tuple:
    """The engine's own 6-tuple (body, degraded, tool_map, echo, stream, model)."""
    if engine == "rust":
        from codex_convert_proxy._rust import convert_request

        body_out, degraded, tool_map, echo, stream, model_out = convert_request(body, provider, model)
        return (bytes(body_out), list(degraded), bytes(tool_map), bytes(echo), stream, model_out)
    res = py_convert_request(body, get_profile(provider), model)
    return (res.body, list(res.degraded), res.tool_map, res.echo, res.stream, res.model)


def convert(engine: str, body: Any, provider: str = "openai", model: Optional[str] = None) -> Out:
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    res = raw_convert(engine, body, provider, model)
    return Out(res[0], json.loads(res[0]), res[1], json.loads(res[2]), json.loads(res[3]),
               res[4], res[5], res)


def msg(role: str, content: Any, **extra: Any) -> Dict[str, Any]:
    return {"type": "message", "role": role, "content": content, **extra}


def text(t: str, kind: str = "input_text") -> Dict[str, Any]:
    return {"type": kind, "text": t}


def fc(call_id: str, name: str, args: str = "{}", **extra: Any) -> Dict[str, Any]:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": args, **extra}


def fco(call_id: str, output: Any) -> Dict[str, Any]:
    return {"type": "function_call_output", "call_id": call_id, "output": output}


def reasoning(*summary: str) -> Dict[str, Any]:
    return {"type": "reasoning", "id": "rs", "summary": [{"type": "summary_text", "text": s}
                                                         for s in summary],
            "content": None, "encrypted_content": None}


def req(input: Any, **extra: Any) -> Dict[str, Any]:
    return {"model": "m", "input": input, **extra}


IMG = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}


# --------------------------------------------------------------------------------------------
# Messages


def test_instructions_and_string_input(engine: str) -> None:
    out = convert(engine, req("hello", instructions="Be brief."))
    assert out.chat["messages"] == [{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "hello"}]
    assert out.chat["model"] == "m" and out.model == "m"
    assert list(out.chat) == ["model", "messages", "stream"]


def test_developer_messages_become_system_merged_when_consecutive(engine: str) -> None:
    body = req([msg("developer", [text("one")]), msg("developer", "two"), msg("user", "u"),
                msg("assistant", [text("a", "output_text")]), msg("developer", "mid"),
                msg("system", "sys"), msg("user", "v")], instructions="inst")
    messages = convert(engine, body, "openai").chat["messages"]
    assert messages == [
        {"role": "system", "content": "inst\n\none\n\ntwo"},
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
        {"role": "system", "content": "mid\n\nsys"},
        {"role": "user", "content": "v"},
    ]
    # Qwen takes one system message only, at the front.
    messages = convert(engine, body, "qwen").chat["messages"]
    assert messages[0] == {"role": "system", "content": "inst\n\none\n\ntwo\n\nmid\n\nsys"}
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]


def test_text_parts_string_or_list_by_profile(engine: str) -> None:
    body = req([msg("user", [text("a"), text("b", "output_text")]), msg("user", [text("single")])])
    generic = convert(engine, body, "openai").chat["messages"]
    assert generic[0]["content"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert generic[1]["content"] == "single"
    for provider in ("deepseek", "glm", "minimax"):  # string_content profiles
        messages = convert(engine, body, provider).chat["messages"]
        assert messages[0]["content"] == "a\nb" and messages[1]["content"] == "single"


def test_images_and_unknown_parts(engine: str) -> None:
    body = req([msg("user", [text("look"), IMG,
                             {"type": "input_image", "image_url": "https://x/y.png"},
                             {"type": "input_image", "file_id": "file_1"},
                             {"type": "input_file", "file_id": "f"}, {"no": "type"}])])
    for provider in PROFILES:  # images force a parts list even on string_content profiles
        out = convert(engine, body, provider)
        assert out.chat["messages"][0]["content"] == [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
        ]
        assert out.degraded == ["image:no_url", "part:input_file", "part:unknown"]


def test_images_outside_user_messages_are_reported(engine: str) -> None:
    out = convert(engine, req([msg("developer", [text("d"), IMG]), msg("user", "q"),
                               msg("assistant", [IMG, text("t", "output_text")])]))
    assert out.chat["messages"] == [{"role": "system", "content": "d"},
                                    {"role": "user", "content": "q"},
                                    {"role": "assistant", "content": "t"}]
    assert out.degraded == ["image:system_message", "image:assistant_message"]


def test_refusal_part_is_kept_as_text(engine: str) -> None:
    out = convert(engine, req([msg("user", "q"), msg("assistant", [{"type": "refusal",
                                                                    "refusal": "I can't"}])]))
    assert out.chat["messages"][1] == {"role": "assistant", "content": "I can't"}


def test_parallel_calls_form_one_assistant_message_with_text_before(engine: str) -> None:
    body = req([msg("user", "q"), msg("assistant", [text("Running.", "output_text")]),
                fc("c1", "exec_command", '{"cmd":"ls"}'), fc("c2", "exec_command", '{"cmd":"pwd"}'),
                fco("c1", "out1"), fco("c2", "out2"), fc("c3", "f"), fco("c3", "x")])
    messages = convert(engine, body).chat["messages"]
    assert messages[1] == {"role": "assistant", "content": "Running.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd":"ls"}'}},
        {"id": "c2", "type": "function", "function": {"name": "exec_command", "arguments": '{"cmd":"pwd"}'}},
    ]}
    assert messages[2:4] == [{"role": "tool", "tool_call_id": "c1", "content": "out1"},
                             {"role": "tool", "tool_call_id": "c2", "content": "out2"}]
    assert messages[4] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c3", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    assert messages[5]["tool_call_id"] == "c3"


def test_function_call_defaults_and_namespace_replay(engine: str) -> None:
    body = req([msg("user", "q"),
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": None},
                fc("c2", "close_agent", '{"target":"a"}', namespace="multi_agent_v1"),
                fco("c1", None), fco("c2", "ok")])
    calls = convert(engine, body).chat["messages"][1]["tool_calls"]
    assert calls[0]["function"] == {"name": "f", "arguments": "{}"}
    assert calls[1]["function"]["name"] == "multi_agent_v1__close_agent"
    assert convert(engine, body).chat["messages"][2] == {"role": "tool", "tool_call_id": "c1",
                                                         "content": ""}


def test_custom_tool_call_and_output(engine: str) -> None:
    patch = '*** Begin Patch\n*** Add File: "q" \\ é\n+hi\n*** End Patch\n'
    body = req([msg("user", "q"),
                {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": patch},
                {"type": "custom_tool_call_output", "call_id": "c1", "output": "Exit code: 0"}])
    messages = convert(engine, body).chat["messages"]
    call = messages[1]["tool_calls"][0]
    assert call["id"] == "c1" and call["function"]["name"] == "apply_patch"
    assert json.loads(call["function"]["arguments"]) == {"input": patch}
    assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "Exit code: 0"}


def test_array_tool_output_images_move_to_one_following_user_message(engine: str) -> None:
    body = req([msg("user", "q"), fc("c1", "view_image"), fc("c2", "view_image"),
                fco("c1", [text("first"), IMG, text("second")]), fco("c2", [IMG]),
                msg("user", "next")])
    messages = convert(engine, body).chat["messages"]
    note = "(image output attached in the next user message)"
    assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": f"first\nsecond\n{note}"}
    assert messages[3] == {"role": "tool", "tool_call_id": "c2", "content": note}
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
    assert messages[4] == {"role": "user", "content": [
        {"type": "text", "text": "Image output of tool call c1:"}, image,
        {"type": "text", "text": "Image output of tool call c2:"}, image]}
    assert messages[5] == {"role": "user", "content": "next"}


def test_array_tool_output_text_only_and_unknown_parts(engine: str) -> None:
    body = req([msg("user", "q"), fc("c1", "f"),
                fco("c1", [text("a"), {"type": "input_file", "file_data": "x"}, text("b")])])
    out = convert(engine, body, "deepseek")
    assert out.chat["messages"][2]["content"] == "a\nb"
    assert out.degraded == ["part:input_file"]


def test_reasoning_replayed_only_for_replay_profiles(engine: str) -> None:
    body = req([msg("user", "q"), reasoning("think", "more"),
                {"type": "reasoning", "summary": [], "content": [
                    {"type": "reasoning_text", "text": "raw"}]},
                fc("c1", "f"), reasoning("between"), fc("c2", "g"), fco("c1", "o"), fco("c2", "o"),
                reasoning("final"), msg("assistant", [text("answer", "output_text")]),
                reasoning("lost at the end")])
    for provider in ("deepseek", "kimi"):
        out = convert(engine, body, provider)
        messages = out.chat["messages"]
        assert messages[1]["reasoning_content"] == "think\n\nmore\n\nraw\n\nbetween"
        assert len(messages[1]["tool_calls"]) == 2
        assert messages[4] == {"role": "assistant", "content": "answer",
                               "reasoning_content": "final"}
        assert list(messages[1]) == ["role", "content", "reasoning_content", "tool_calls"]
        assert out.degraded == []
    for provider in ("openai", "glm", "minimax", "qwen"):
        messages = convert(engine, body, provider).chat["messages"]
        assert not any("reasoning_content" in m for m in messages)


def test_unknown_items_are_skipped_and_reported(engine: str) -> None:
    body = req([{"type": "item_reference", "id": "x"}, {"type": "web_search_call", "id": "w"},
                {"id": "nothing"}, {"role": "user", "content": "easy"}, msg("user", "q")])
    out = convert(engine, body)
    assert out.chat["messages"] == [{"role": "user", "content": "easy"},
                                    {"role": "user", "content": "q"}]
    assert out.degraded == ["item:item_reference", "item:web_search_call", "item:unknown"]


def test_null_fields_are_absent(engine: str) -> None:
    body = {"model": "m", "instructions": None, "tools": None, "tool_choice": None,
            "temperature": None, "text": None, "reasoning": None, "stream": None,
            "input": [msg("user", [text("x")], id=None, status=None),
                      {"type": "function_call", "call_id": "c", "name": "f", "arguments": None,
                       "namespace": None},
                      {"type": "reasoning", "summary": None, "content": None,
                       "encrypted_content": None}]}
    out = convert(engine, body, "deepseek")
    assert out.chat == {"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}],
        "stream": False}


# --------------------------------------------------------------------------------------------
# Tools


def test_tools_function_custom_namespace_hosted(engine: str) -> None:
    tools = [
        {"type": "function", "name": "exec_command", "description": "run", "strict": False,
         "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
        {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
        {"type": "namespace", "name": "multi_agent_v1", "description": "agents",
         "tools": [{"type": "function", "name": "spawn_agent", "parameters": {}}]},
        {"type": "web_search"}, {"type": "tool_search"}, {"type": "file_search"},
    ]
    out = convert(engine, req("q", tools=tools, tool_choice="auto", parallel_tool_calls=True))
    chat_tools = out.chat["tools"]
    assert [t["function"]["name"] for t in chat_tools] == [
        "exec_command", "apply_patch", "multi_agent_v1__spawn_agent"]
    assert chat_tools[0] == {"type": "function", "function": {
        "name": "exec_command", "description": "run",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}}
    patch = chat_tools[1]["function"]
    assert patch["parameters"]["required"] == ["input"]
    assert patch["parameters"]["properties"]["input"]["type"] == "string"
    assert "start: x" in patch["parameters"]["properties"]["input"]["description"]
    assert patch["description"].startswith("Edit files.\n\n") and "raw text" in patch["description"]
    assert out.tool_map == {"custom": ["apply_patch"],
                            "namespaces": {"multi_agent_v1__spawn_agent": ["multi_agent_v1", "spawn_agent"]}}
    assert out.degraded == ["custom_tool:grammar", "tool:web_search", "tool:tool_search",
                            "tool:file_search"]
    assert out.chat["tool_choice"] == "auto" and out.chat["parallel_tool_calls"] is True
    assert list(out.chat) == ["model", "messages", "stream", "tools", "tool_choice",
                              "parallel_tool_calls"]


def test_strict_passes_only_when_true(engine: str) -> None:
    tools = [{"type": "function", "name": "a", "strict": True}, {"type": "function", "name": "b"}]
    chat_tools = convert(engine, req("q", tools=tools)).chat["tools"]
    assert chat_tools == [{"type": "function", "function": {"name": "a", "strict": True}},
                          {"type": "function", "function": {"name": "b"}}]


def test_long_namespace_names_are_shortened_reversibly(engine: str) -> None:
    ns, name = "n" * 40, "t" * 30
    flat = flat_tool_name(ns, name)
    assert len(flat) == 64 and flat.startswith(("n" * 40 + "__" + "t" * 30)[:55] + "_")
    tools = [{"type": "namespace", "name": ns, "tools": [{"type": "function", "name": name}]}]
    out = convert(engine, req([msg("user", "q"), fc("c", name, namespace=ns)], tools=tools))
    assert out.chat["tools"][0]["function"]["name"] == flat
    assert out.chat["messages"][1]["tool_calls"][0]["function"]["name"] == flat
    assert out.tool_map["namespaces"] == {flat: [ns, name]}
    assert flat_tool_name("a", "b") == "a__b"


@pytest.mark.parametrize("choice, expected, degraded", [
    ("none", "none", []),
    ("required", "required", []),
    ("sometimes", "auto", ["tool_choice:sometimes"]),
    ({"type": "function", "name": "f"}, {"type": "function", "function": {"name": "f"}}, []),
    ({"type": "custom", "name": "apply_patch"},
     {"type": "function", "function": {"name": "apply_patch"}}, []),
    ({"type": "function", "name": "spawn", "namespace": "ns"},
     {"type": "function", "function": {"name": "ns__spawn"}}, []),
    ({"type": "allowed_tools", "mode": "required", "tools": []}, "required",
     ["tool_choice:allowed_tools"]),
    ({"type": "web_search_preview"}, "auto", ["tool_choice:web_search_preview"]),
])
def test_tool_choice_mapping(engine: str, choice: Any, expected: Any, degraded: List[str]) -> None:
    out = convert(engine, req("q", tools=[{"type": "function", "name": "f"}], tool_choice=choice))
    assert out.chat["tool_choice"] == expected
    assert out.degraded == degraded
    assert out.echo["tool_choice"] == choice  # the echo keeps what the client sent


def test_no_tools_left_means_no_tool_keys(engine: str) -> None:
    out = convert(engine, req("q", tools=[{"type": "web_search"}], tool_choice="required",
                              parallel_tool_calls=False))
    assert list(out.chat) == ["model", "messages", "stream"]
    assert out.degraded == ["tool:web_search"]


# --------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize("fmt, expected, degraded", [
    ({"type": "json_schema", "name": "a", "schema": {"type": "object"}, "strict": True},
     {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}, "strict": True}}, []),
    ({"type": "json_schema", "schema": {}}, {"type": "json_schema", "json_schema": {"name": "response", "schema": {}}}, []),
    ({"type": "json_object"}, {"type": "json_object"}, []),
    ({"type": "text"}, None, []),
    ({"type": "yaml"}, None, ["param:text.format"]),
])
def test_text_format(engine: str, fmt: Any, expected: Any, degraded: List[str]) -> None:
    out = convert(engine, req("q", text={"format": fmt, "verbosity": "low"}))
    assert out.chat.get("response_format") == expected
    assert out.degraded == degraded  # verbosity is a hint: never reported


@pytest.mark.parametrize("effort, generic, glm, qwen", [
    ("low", "low", "enabled", True),
    ("medium", "medium", "enabled", True),
    ("high", "high", "enabled", True),
    ("minimal", "low", "disabled", False),
    ("xhigh", "high", "enabled", True),
    ("none", None, "disabled", False),
    (None, None, "enabled", True),
])
def test_reasoning_effort_by_profile(engine: str, effort: Optional[str], generic: Optional[str],
                                     glm: str, qwen: bool) -> None:
    body = req("q", reasoning={"effort": effort, "summary": "auto"})
    assert convert(engine, body, "openai").chat.get("reasoning_effort") == generic
    assert convert(engine, body, "glm").chat["thinking"] == {"type": glm}
    assert convert(engine, body, "qwen").chat["enable_thinking"] is qwen
    for provider in ("deepseek", "kimi", "minimax"):
        chat = convert(engine, body, provider).chat
        assert not {"reasoning_effort", "thinking", "enable_thinking"} & set(chat)
    assert "thinking" not in convert(engine, req("q"), "glm").chat


def test_unknown_effort_is_reported(engine: str) -> None:
    out = convert(engine, req("q", reasoning={"effort": "extreme"}), "openai")
    assert "reasoning_effort" not in out.chat and out.degraded == ["param:reasoning.effort"]


def test_sampling_and_limits(engine: str) -> None:
    body = req("q", temperature=0.7, top_p=1, max_output_tokens=1000, stop=["END"], seed=7,
               safety_identifier="s", stream=True)
    out = convert(engine, body, "kimi")
    assert out.chat == {"model": "m", "messages": [{"role": "user", "content": "q"}],
                        "stream": True, "stream_options": {"include_usage": True},
                        "temperature": 0.7, "top_p": 1, "max_completion_tokens": 1000,
                        "stop": ["END"], "user": "s", "seed": 7}
    assert out.stream is True
    assert convert(engine, body, "openai").chat["max_tokens"] == 1000
    assert convert(engine, dict(body, user="u"), "openai").chat["user"] == "u"


def test_semantic_params_reported_harmless_ones_not(engine: str) -> None:
    out = convert(engine, req("q", background=True, truncation="auto", prompt={"id": "p"},
                              conversation="c", top_logprobs=2))
    assert out.degraded == ["param:background", "param:truncation", "param:prompt",
                            "param:conversation", "param:top_logprobs"]
    out = convert(engine, req("q", background=False, truncation="disabled", metadata={"a": "b"},
                              store=True, include=["reasoning.encrypted_content"],
                              prompt_cache_key="k", service_tier="auto", client_metadata={},
                              previous_response_id="resp_1", some_future_key=1))
    assert out.degraded == [] and list(out.chat) == ["model", "messages", "stream"]


def test_model_argument_overrides(engine: str) -> None:
    assert convert(engine, req("q"), model="other").chat["model"] == "other"
    assert convert(engine, {"input": "q"}, model="arg").model == "arg"
    assert convert(engine, req("q"), model="").model == "m"


def test_echo(engine: str) -> None:
    out = convert(engine, req("q"))
    assert out.raw_tuple[3] == (b'{"instructions":null,"metadata":{},"parallel_tool_calls":true,'
                                b'"temperature":null,"tool_choice":"auto","tools":[],"top_p":null}')
    body = req("q", instructions="I", metadata={"k": "v"}, parallel_tool_calls=False,
               temperature=0.5, tool_choice="none", top_p=0.9, max_output_tokens=9,
               previous_response_id="resp_1", reasoning={"effort": "low"},
               text={"verbosity": "low"}, store=False, tools=[{"type": "function", "name": "f"}])
    echo = convert(engine, body).echo
    assert list(echo) == ["instructions", "metadata", "parallel_tool_calls", "temperature",
                          "tool_choice", "tools", "top_p", "max_output_tokens",
                          "previous_response_id", "reasoning", "text", "store"]
    assert echo["tools"] == [] and echo["metadata"] == {"k": "v"} and echo["store"] is False


# --------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("body, message", [
    (b"[1]", "request body must be a JSON object"),
    (req(5), "input must be a string or an array of items"),
    (req(["x"]), "input[0] must be an object"),
    (req([msg("tool", "x")]), "input[0].role must be one of user, assistant, system, developer"),
    (req([msg("user", 1)]), "input[0].content must be a string or an array"),
    (req([msg("user", [{"type": "input_text"}])]), "input[0].content[0].text must be a string"),
    (req([{"type": "function_call", "name": "f"}]), "input[0].call_id must be a string"),
    (req([fco("c", {"x": 1})]), "input[0].output must be a string or an array"),
    (req("q", tools={}), "tools must be an array"),
    (req("q", tools=[{"type": "function"}]), "tools[0].name must be a string"),
    (req("q", tools=[{"type": "namespace", "name": "n", "tools": [{"type": "function"}]}]),
     "tools[0].tools[0].name must be a string"),
    (req("q", temperature="hot"), "temperature must be a number"),
    (req("q", max_output_tokens=1.5), "max_output_tokens must be an integer"),
    (req("q", stream="yes"), "stream must be a boolean"),
    (req("q", tool_choice=3), "tool_choice must be a string or an object"),
    (req("q", text={"format": "json"}), "text.format must be an object"),
    ({"input": "q"}, "model is required"),
    (req([]), "request has no messages (input and instructions are empty)"),
])
def test_malformed_requests_raise_naming_the_field(engine: str, body: Any, message: str) -> None:
    with pytest.raises(ConversionError) as info:
        convert(engine, body)
    assert str(info.value) == message


@pytest.mark.parametrize("body", [b"", b"{", b'{"model":"m","input":"q"} x', b"\xff\xfe",
                                  b'{"model":"m","input":"\\ud800"}', b'{"temperature":NaN}',
                                  b"[" * 300 + b"]" * 300])
def test_invalid_json_raises(engine: str, body: bytes) -> None:
    with pytest.raises(ConversionError) as info:
        convert(engine, body)
    assert str(info.value).startswith("request body ")


# --------------------------------------------------------------------------------------------
# The real Codex requests, on every profile


def codex_body(name: str) -> bytes:
    return (GOLDEN_DIR / name).read_bytes()


@pytest.mark.parametrize("provider", PROFILES)
@pytest.mark.parametrize("name", CODEX_FILES)
def test_codex_requests(engine: str, provider: str, name: str) -> None:
    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam
    from pydantic import TypeAdapter

    source = json.loads(codex_body(name))
    out = convert(engine, codex_body(name), provider)
    chat = out.chat
    # Valid Chat Completions shapes per the openai SDK's own types.
    TypeAdapter(List[ChatCompletionMessageParam]).validate_python(chat["messages"])
    TypeAdapter(List[ChatCompletionToolParam]).validate_python(chat["tools"])
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert out.stream is True and out.model == source["model"]

    messages = chat["messages"]
    developer = [i for i in source["input"] if i.get("role") == "developer"]
    assert messages[0]["role"] == "system"
    assert messages[0]["content"] == "\n\n".join(
        "\n".join(p["text"] for p in d["content"]) for d in developer)
    assert len(messages[0]["content"]) > 10_000
    assert sum(m["role"] == "system" for m in messages) == 1

    names = [t["function"]["name"] for t in chat["tools"]]
    assert "exec_command" in names
    if name.startswith("codex-3"):
        patch = chat["tools"][names.index("apply_patch")]["function"]["parameters"]
        assert patch["required"] == ["input"] and patch["properties"]["input"]["type"] == "string"
        assert out.tool_map["custom"] == ["apply_patch"]
        assert out.degraded == ["custom_tool:grammar", "tool:tool_search", "tool:web_search"]
    else:
        assert "multi_agent_v1__spawn_agent" in names
        assert out.tool_map["namespaces"]["multi_agent_v1__spawn_agent"] == ["multi_agent_v1", "spawn_agent"]
        assert out.degraded == ["tool:web_search"]
    assert not any(n in ("web_search", "tool_search") for n in names)

    # Every replayed call is answered by the tool message right after its assistant message.
    calls = [(i, c["id"]) for i, m in enumerate(messages) for c in m.get("tool_calls", [])]
    if name.startswith(("codex-2", "codex-3")):
        assert len(calls) == 1
        index, call_id = calls[0]
        assert messages[index + 1] == {"role": "tool", "tool_call_id": call_id,
                                       "content": next(i["output"] for i in source["input"]
                                                       if i["type"].endswith("_output"))}
        arguments = messages[index]["tool_calls"][0]["function"]["arguments"]
        if name.startswith("codex-3"):
            assert json.loads(arguments)["input"].startswith("*** Begin Patch")
        else:
            assert json.loads(arguments)["cmd"] == "echo hello"
    else:
        assert calls == []
    echo = out.echo
    assert echo["tools"] == [] and echo["store"] is False and echo["tool_choice"] == "auto"


# --------------------------------------------------------------------------------------------
# Byte-identical engines


def test_python_engine_still_writes_the_golden_corpus() -> None:
    """Guards the fixture itself: regenerate it (generate.py) when a rule changes on purpose."""
    want = [json.loads(line) for line in
            (GOLDEN_DIR / "golden.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert GOLDEN.golden_records() == want


def test_engine_reproduces_the_golden_corpus(engine: str) -> None:
    want = [json.loads(line) for line in
            (GOLDEN_DIR / "golden.jsonl").read_text(encoding="utf-8").split("\n") if line]
    got = GOLDEN.golden_records(lambda body, provider, model: raw_convert(engine, body, provider, model))
    mismatched = [(w["case"], w["profile"]) for w, g in zip(want, got) if w != g]
    assert len(got) == len(want) and mismatched == []


def both(body: bytes, provider: str, model: Optional[str] = None) -> tuple:
    results = []
    for engine in ("rust", "python"):
        try:
            results.append(("ok", raw_convert(engine, body, provider, model)))
        except ConversionError as exc:
            message = str(exc)
            if message.startswith("request body is not valid JSON"):
                message = "request body is not valid JSON"  # detail from each engine's parser
            results.append(("error", message))
    return tuple(results)


@pytest.mark.parametrize("provider", PROFILES)
@pytest.mark.parametrize("name", CODEX_FILES)
def test_codex_requests_byte_identical(rust_engine: str, provider: str, name: str) -> None:
    rust, python = both(codex_body(name), provider)
    assert rust == python and rust[0] == "ok"


# Random requests: mixes of known and unknown items, parts, tools and params, with nulls.
_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
_json = st.recursive(_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=12)
_word = st.sampled_from(["", "a", "x y", "é😀", "\u2028", "\n\t\"\\", "\x00\x1f\x7f"]) | st.text(max_size=8)
_maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
_part = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["input_text", "output_text"]), "text": _word}),
    st.fixed_dictionaries({"type": st.just("refusal"), "refusal": _word}),
    st.fixed_dictionaries({"type": st.just("input_image"), "image_url": _maybe(_word),
                           "detail": _maybe(st.sampled_from(["low", "high", "auto"]))}),
    st.fixed_dictionaries({"type": st.sampled_from(["input_file", "input_audio", "weird"])}),
    st.dictionaries(st.sampled_from(["type", "text"]), _scalar, max_size=2),
)
_content = st.one_of(st.none(), _word, st.lists(_part, max_size=4))
_item = st.one_of(
    st.fixed_dictionaries({"type": st.just("message"),
                           "role": st.sampled_from(["user", "assistant", "system", "developer"]),
                           "content": _content}),
    st.fixed_dictionaries({"role": st.sampled_from(["user", "developer"]), "content": _content}),
    st.fixed_dictionaries({"type": st.just("function_call"), "call_id": _word, "name": _word,
                           "arguments": _maybe(_word), "namespace": _maybe(_word)}),
    st.fixed_dictionaries({"type": st.just("custom_tool_call"), "call_id": _word, "name": _word,
                           "input": _maybe(_word)}),
    st.fixed_dictionaries({"type": st.sampled_from(["function_call_output", "custom_tool_call_output"]),
                           "call_id": _word, "output": st.one_of(st.none(), _word, st.lists(_part, max_size=3))}),
    st.fixed_dictionaries({"type": st.just("reasoning"),
                           "summary": st.one_of(st.none(), st.lists(st.fixed_dictionaries(
                               {"type": st.just("summary_text"), "text": _word}), max_size=3)),
                           "content": st.one_of(st.none(), st.lists(st.fixed_dictionaries(
                               {"type": st.just("reasoning_text"), "text": _word}), max_size=2))}),
    st.fixed_dictionaries({"type": st.sampled_from(["item_reference", "web_search_call", "compaction"])}),
    st.dictionaries(st.sampled_from(["type", "role", "content", "call_id"]), _scalar, max_size=3),
)
_fn = st.fixed_dictionaries({"type": st.just("function"), "name": _word},
                            optional={"description": _maybe(_word), "parameters": _json,
                                      "strict": _maybe(st.booleans())})
_tool = st.one_of(
    _fn,
    st.fixed_dictionaries({"type": st.just("custom"), "name": _word},
                          optional={"description": _maybe(_word), "format": st.one_of(
                              st.none(), st.fixed_dictionaries({"type": st.sampled_from(["text", "grammar", "regex"])},
                                                               optional={"syntax": _maybe(_word), "definition": _maybe(_word)}))}),
    st.fixed_dictionaries({"type": st.just("namespace"), "name": _word,
                           "tools": st.lists(st.one_of(_fn, st.fixed_dictionaries({"type": st.just("custom"), "name": _word})), max_size=3)}),
    st.fixed_dictionaries({"type": st.sampled_from(["web_search", "tool_search", "mcp", "file_search"])}),
)
_choice = st.one_of(st.sampled_from(["auto", "none", "required", "bogus"]),
                    st.fixed_dictionaries({"type": st.sampled_from(["function", "custom", "allowed_tools", "mcp"]),
                                           "name": _word}, optional={"namespace": _word, "mode": _word}))
_request = st.fixed_dictionaries(
    {"model": st.sampled_from(["m", "deepseek-chat"]),
     "input": st.one_of(_word, st.lists(_item, min_size=1, max_size=8))},
    optional={
        "instructions": _maybe(_word),
        "tools": st.lists(_tool, max_size=5),
        "tool_choice": _maybe(_choice),
        "parallel_tool_calls": _maybe(st.booleans()),
        "temperature": _maybe(st.floats(0, 2) | st.integers(0, 2)),
        "top_p": _maybe(st.floats(0, 1)),
        "max_output_tokens": _maybe(st.integers(1, 2**40)),
        "stream": _maybe(st.booleans()),
        "text": _maybe(st.fixed_dictionaries({}, optional={
            "format": st.fixed_dictionaries({"type": st.sampled_from(["text", "json_object", "json_schema", "x"])},
                                            optional={"name": _word, "schema": _json, "strict": _scalar}),
            "verbosity": st.sampled_from(["low", "high"])})),
        "reasoning": _maybe(st.fixed_dictionaries({}, optional={"effort": _maybe(st.sampled_from(
            ["none", "minimal", "low", "medium", "high", "xhigh", "max"])), "summary": _word})),
        "metadata": _maybe(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2)),
        "store": _maybe(st.booleans()),
        "user": _maybe(_word), "safety_identifier": _maybe(_word),
        "stop": _json, "seed": _scalar,
        "background": _scalar, "truncation": _maybe(st.sampled_from(["auto", "disabled"])),
        "previous_response_id": _maybe(_word), "prompt": _json, "unknown": _json,
    })


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(body=_request, provider=st.sampled_from(PROFILES),
       model=st.sampled_from([None, "", "override"]), ascii_only=st.booleans())
def test_random_requests_byte_identical(rust_engine: str, body: Dict[str, Any], provider: str,
                                        model: Optional[str], ascii_only: bool) -> None:
    raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8")
    rust, python = both(raw, provider, model)
    assert rust == python


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), provider=st.sampled_from(PROFILES))
def test_mutated_codex_requests_identical_or_same_error(rust_engine: str, data: Any,
                                                        provider: str) -> None:
    """Byte-level damage to a real request: both engines fail the same way or agree exactly."""
    body = bytearray(codex_body(data.draw(st.sampled_from(CODEX_FILES))))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(body) - 1))
        op = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if op == "flip":
            body[at] = data.draw(st.sampled_from(b'{}[]",:0 \\nulx'))
        elif op == "delete":
            del body[at:at + data.draw(st.integers(1, 40))]
        else:
            body[at:at] = data.draw(st.sampled_from([b"null", b"1e999", b'"', b"{}", b"\xff", b"-0"]))
    rust, python = both(bytes(body), provider)
    assert rust == python
