"""The stream translation rules of docs/engine-contract.md §3, one test per rule, on both engines."""
from __future__ import annotations

import json

import pytest

from streamkit import (
    DONE,
    chunk,
    check_invariants,
    tool_delta,
    translate,
    validate_with_sdk,
)

USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def finish_ok(*parts: bytes, reason: str = "stop") -> bytes:
    return b"".join(parts) + chunk({}, reason) + DONE


def test_text_stream_has_the_full_canonical_sequence(engine):
    r = translate(engine, finish_ok(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}), chunk({"content": "lo"})))
    assert r.types == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed",
    ]
    assert r.output == [{
        "id": "msg_test_0", "type": "message", "status": "completed",
        "content": [{"type": "output_text", "text": "Hello", "annotations": []}], "role": "assistant",
    }]
    check_invariants(r.events)
    final = validate_with_sdk(r.events)
    assert final.output[0].content[0].text == "Hello"
    assert r.translator.status == "completed" and r.translator.done


def test_response_object_carries_ids_model_and_default_echo(engine):
    r = translate(engine, finish_ok(chunk({"content": "x"})), model="deepseek-chat")
    created = r.events[0]["response"]
    assert created["id"] == "resp_test" and created["created_at"] == 1700000000
    assert created["status"] == "in_progress" and created["output"] == [] and created["model"] == "deepseek-chat"
    assert created["tools"] == [] and created["tool_choice"] == "auto" and created["parallel_tool_calls"] is True
    assert r.translator.response == r.response


def test_echo_fields_are_spliced_into_every_response_object(engine):
    echo = b'{"instructions":"be brief","metadata":{"k":"v"},"parallel_tool_calls":false,"temperature":0.5,"tool_choice":"none","tools":[],"top_p":null}'
    r = translate(engine, finish_ok(chunk({"content": "x"})), echo=echo)
    for event in (r.events[0], r.events[-1]):
        assert event["response"]["instructions"] == "be brief"
        assert event["response"]["temperature"] == 0.5 and event["response"]["tool_choice"] == "none"


def test_empty_content_chunks_never_become_deltas(engine):
    # GLM sends content:"" during its reasoning phase (REFERENCE §9: blank replies).
    body = finish_ok(*[chunk({"content": "", "reasoning_content": f"step {i} "}) for i in range(3)], chunk({"content": "answer"}))
    r = translate(engine, body, provider="glm")
    assert [o["type"] for o in r.output] == ["reasoning", "message"]
    assert r.output[0]["summary"] == [{"type": "summary_text", "text": "step 0 step 1 step 2 "}]
    assert all(e["delta"] for e in r.events if "delta" in e)
    check_invariants(r.events)


def test_reasoning_field_is_read_when_reasoning_content_is_absent(engine):
    r = translate(engine, finish_ok(chunk({"reasoning": "hmm"}), chunk({"content": "ok"})))
    assert r.output[0]["summary"][0]["text"] == "hmm"


def test_interleaved_reasoning_and_text_make_separate_items(engine):
    body = finish_ok(chunk({"reasoning_content": "a"}), chunk({"content": "b"}), chunk({"reasoning_content": "c"}), chunk({"content": "d"}))
    r = translate(engine, body)
    assert [o["type"] for o in r.output] == ["reasoning", "message", "reasoning", "message"]
    assert [o["id"] for o in r.output] == ["rs_test_0", "msg_test_1", "rs_test_2", "msg_test_3"]
    validate_with_sdk(r.events)


@pytest.mark.parametrize("split_every", [1, 2, 3, 5, 7])
def test_think_tags_split_across_chunks_never_leak(engine, split_every):
    text = "<think>I should greet.</think>\n\nHello there"
    pieces = [text[i:i + split_every] for i in range(0, len(text), split_every)]
    r = translate(engine, finish_ok(*[chunk({"content": p}) for p in pieces]), provider="minimax")
    assert [o["type"] for o in r.output] == ["reasoning", "message"]
    assert r.output[0]["summary"][0]["text"] == "I should greet."
    assert r.output[1]["content"][0]["text"] == "Hello there"
    assert "<" not in "".join(e.get("delta", "") for e in r.events)


def test_thought_tag_variant(engine):
    r = translate(engine, finish_ok(chunk({"content": "<thought>x</thought>y"})), provider="qwen")
    assert [(o["type"]) for o in r.output] == ["reasoning", "message"]


def test_unclosed_think_at_eof_ends_as_reasoning(engine):
    r = translate(engine, chunk({"content": "<think>still thinking about"}) + chunk({"content": " it"}, "stop"), provider="minimax")
    assert r.types[-1] == "response.completed"
    assert [o["type"] for o in r.output] == ["reasoning"]
    assert r.output[0]["summary"][0]["text"] == "still thinking about it"


def test_implicit_profile_only_closing_tag_means_reasoning_before_it(engine):
    body = finish_ok(chunk({"content": "The user wants "}), chunk({"content": "a greeting.</thi"}), chunk({"content": "nk>\n\nHi!"}))
    r = translate(engine, body, provider="minimax")
    assert [o["type"] for o in r.output] == ["reasoning", "message"]
    assert r.output[0]["summary"][0]["text"] == "The user wants a greeting."
    assert r.output[1]["content"][0]["text"] == "Hi!"


def test_implicit_profile_without_tags_is_plain_text(engine):
    r = translate(engine, finish_ok(chunk({"content": "Just "}), chunk({"content": "text."})), provider="minimax")
    assert [o["type"] for o in r.output] == ["message"]
    assert r.output[0]["content"][0]["text"] == "Just text."


def test_on_profile_close_without_open_is_dropped_and_reported(engine):
    r = translate(engine, finish_ok(chunk({"content": "a</think>b"})), provider="openai")
    assert r.output[0]["content"][0]["text"] == "ab"
    assert "think:close_without_open" in r.translator.degraded


def test_off_profile_keeps_tags_as_text(engine):
    r = translate(engine, finish_ok(chunk({"content": "<think>x</think>"})), provider="deepseek")
    assert r.output[0]["content"][0]["text"] == "<think>x</think>"


def test_refusal_part(engine):
    r = translate(engine, finish_ok(chunk({"refusal": "I can't"}), chunk({"refusal": " help."})))
    assert r.output[0]["content"] == [{"type": "refusal", "refusal": "I can't help."}]
    assert "response.refusal.done" in r.types
    validate_with_sdk(r.events)


def test_text_then_refusal_are_two_parts_of_one_message(engine):
    r = translate(engine, finish_ok(chunk({"content": "a"}), chunk({"refusal": "b"})))
    assert [p["type"] for p in r.output[0]["content"]] == ["output_text", "refusal"]
    assert [e["content_index"] for e in r.of("response.content_part.added")] == [0, 1]


def test_tool_call_with_split_arguments(engine):
    body = finish_ok(
        chunk(tool_delta(0, "call_1", "exec_command", "")),
        chunk(tool_delta(0, None, None, '{"cmd": "ec')),
        chunk(tool_delta(0, None, None, 'ho hi"}')),
        reason="tool_calls",
    )
    r = translate(engine, body)
    assert r.output == [{
        "id": "fc_test_0", "type": "function_call", "status": "completed",
        "arguments": '{"cmd": "echo hi"}', "call_id": "call_1", "name": "exec_command",
    }]
    check_invariants(r.events)
    validate_with_sdk(r.events)


def test_tool_calls_are_done_at_finish_reason_before_usage_arrives(engine):
    body = chunk(tool_delta(0, "c", "f", "{}")) + chunk({}, "tool_calls")
    t_out = translate(engine, body + chunk(usage=USAGE, choices=False) + DONE)
    # Everything up to and including output_item.done must be produced by the finish chunk alone.
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine)
    partial = t.feed(body).decode()
    assert '"type":"response.output_item.done"' in partial and "response.completed" not in partial
    assert t_out.response["usage"]["input_tokens"] == 11


def test_parallel_calls_interleaved_by_index_with_idless_fragments(engine):
    body = finish_ok(
        chunk(tool_delta(0, "call_a", "exec_command", '{"cmd":')),
        chunk(tool_delta(1, "call_b", "exec_command", '{"cmd":')),
        chunk(tool_delta(0, None, None, '"echo a"}')),
        chunk(tool_delta(1, None, None, '"echo b"}')),
        reason="tool_calls",
    )
    r = translate(engine, body)
    calls = [(o["call_id"], o["arguments"]) for o in r.output]
    assert calls == [("call_a", '{"cmd":"echo a"}'), ("call_b", '{"cmd":"echo b"}')]
    check_invariants(r.events)
    validate_with_sdk(r.events)


def test_same_index_with_new_id_is_a_new_call(engine):
    # Some providers send index 0 for every parallel call.
    body = finish_ok(chunk(tool_delta(0, "x1", "f", "{}")), chunk(tool_delta(0, "x2", "g", "{}")), reason="tool_calls")
    r = translate(engine, body)
    assert [(o["call_id"], o["name"]) for o in r.output] == [("x1", "f"), ("x2", "g")]


def test_fragments_without_index_attach_to_the_latest_call(engine):
    body = finish_ok(chunk(tool_delta(None, "c1", "f", '{"a"')), chunk(tool_delta(None, None, None, ":1}")), reason="tool_calls")
    r = translate(engine, body)
    assert r.output[0]["arguments"] == '{"a":1}'


def test_cumulative_arguments_are_not_duplicated(engine):
    body = finish_ok(
        chunk(tool_delta(0, "c", "f", '{"a"')),
        chunk(tool_delta(0, None, None, '{"a":1')),
        chunk(tool_delta(0, None, None, '{"a":1}')),
        chunk(tool_delta(0, None, None, '{"a":1}')),
        reason="tool_calls",
    )
    r = translate(engine, body)
    assert r.output[0]["arguments"] == '{"a":1}'
    assert "".join(e["delta"] for e in r.of("response.function_call_arguments.delta")) == '{"a":1}'


def test_arguments_only_in_the_final_chunk(engine):
    body = chunk(tool_delta(0, "c", "f", "")) + chunk({**tool_delta(0, None, None, '{"x":2}')}, "tool_calls") + DONE
    r = translate(engine, body)
    assert r.output[0]["arguments"] == '{"x":2}'


def test_call_with_no_arguments_gets_an_empty_object(engine):
    r = translate(engine, finish_ok(chunk(tool_delta(0, "c", "get_goal")), reason="tool_calls"))
    assert r.output[0]["arguments"] == "{}"
    assert [e["delta"] for e in r.of("response.function_call_arguments.delta")] == ["{}"]


def test_name_arriving_after_arguments_delays_the_item(engine):
    body = finish_ok(chunk(tool_delta(0, "c", None, '{"q":')), chunk(tool_delta(0, None, "search", '"x"}')), reason="tool_calls")
    r = translate(engine, body)
    assert r.output[0]["name"] == "search" and r.output[0]["arguments"] == '{"q":"x"}'
    assert r.of("response.output_item.added")[0]["item"]["name"] == "search"


def test_call_that_never_gets_a_name_is_dropped_and_reported(engine):
    r = translate(engine, finish_ok(chunk(tool_delta(0, "c", None, "{}")), reason="tool_calls"))
    assert r.output == []
    assert "stream:tool_call_without_name" in r.translator.degraded


def test_call_without_upstream_id_gets_a_deterministic_call_id(engine):
    r = translate(engine, finish_ok(chunk(tool_delta(0, None, "f", "{}")), reason="tool_calls"))
    assert r.output[0]["call_id"] == "call_test_0"


def test_text_before_tool_call_is_closed_first(engine):
    body = finish_ok(chunk({"content": "Let me check."}), chunk(tool_delta(0, "c", "f", "{}")), reason="tool_calls")
    r = translate(engine, body)
    assert [o["type"] for o in r.output] == ["message", "function_call"]
    done_msg = r.types.index("response.output_item.done")
    assert done_msg < r.types.index("response.output_item.added", 3)


APPLY_PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch"
TOOL_MAP = json.dumps({"custom": ["apply_patch"], "namespaces": {"multi_agent_v1__spawn_agent": ["multi_agent_v1", "spawn_agent"]}}).encode()


def test_custom_tool_comes_back_as_custom_tool_call_with_raw_input(engine):
    args = json.dumps({"input": APPLY_PATCH})
    pieces = [args[i:i + 9] for i in range(0, len(args), 9)]
    body = finish_ok(chunk(tool_delta(0, "call_p", "apply_patch", "")), *[chunk(tool_delta(0, None, None, p)) for p in pieces], reason="tool_calls")
    r = translate(engine, body, tool_map=TOOL_MAP)
    assert r.output == [{
        "id": "ctc_test_0", "type": "custom_tool_call", "status": "completed",
        "call_id": "call_p", "name": "apply_patch", "input": APPLY_PATCH,
    }]
    assert [e["input"] for e in r.of("response.custom_tool_call_input.done")] == [APPLY_PATCH]
    assert "response.function_call_arguments.delta" not in r.types
    validate_with_sdk(r.events)


def test_custom_tool_with_raw_text_arguments_is_kept_and_reported(engine):
    body = finish_ok(chunk(tool_delta(0, "c", "apply_patch", APPLY_PATCH)), reason="tool_calls")
    r = translate(engine, body, tool_map=TOOL_MAP)
    assert r.output[0]["input"] == APPLY_PATCH
    assert "custom_tool:input_not_json" in r.translator.degraded


def test_namespace_tool_maps_back_to_its_real_name(engine):
    body = finish_ok(chunk(tool_delta(0, "c", "multi_agent_v1__spawn_agent", '{"task":"x"}')), reason="tool_calls")
    r = translate(engine, body, tool_map=TOOL_MAP)
    assert r.output[0]["name"] == "spawn_agent" and r.output[0]["namespace"] == "multi_agent_v1"
    validate_with_sdk(r.events)


def test_usage_is_responses_shaped_with_integers(engine):
    usage = {"prompt_tokens": 100, "completion_tokens": 20.0, "prompt_cache_hit_tokens": "40",
             "completion_tokens_details": {"reasoning_tokens": 5}}
    r = translate(engine, finish_ok(chunk({"content": "x"}), chunk(usage=usage, choices=False)))
    assert r.response["usage"] == {
        "input_tokens": 100, "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 0},
        "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 5}, "total_tokens": 120,
    }


@pytest.mark.parametrize("usage,cached", [
    ({"prompt_tokens": 9, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 4}}, 4),
    ({"prompt_tokens": 9, "completion_tokens": 1, "cached_tokens": 3}, 3),  # Kimi
    ({"prompt_tokens": 9, "completion_tokens": 1, "prompt_tokens_details": None}, 0),
])
def test_cached_tokens_sources(engine, usage, cached):
    r = translate(engine, finish_ok(chunk({"content": "x"}), chunk(usage=usage, choices=False)))
    assert r.response["usage"]["input_tokens_details"]["cached_tokens"] == cached
    assert r.response["usage"]["output_tokens_details"]["reasoning_tokens"] == 0


def test_no_usage_means_null_usage(engine):
    assert translate(engine, finish_ok(chunk({"content": "x"}))).response["usage"] is None


@pytest.mark.parametrize("reason,expected", [("length", "max_output_tokens"), ("content_filter", "content_filter"), ("sensitive", "content_filter")])
def test_incomplete_finish_reasons(engine, reason, expected):
    r = translate(engine, finish_ok(chunk({"content": "x"}), reason=reason))
    assert r.types[-1] == "response.incomplete"
    assert r.response["incomplete_details"] == {"reason": expected}
    assert r.output[0]["status"] == "incomplete"
    validate_with_sdk(r.events)


def test_finish_without_done_is_completed(engine):
    r = translate(engine, chunk({"content": "x"}) + chunk({}, "stop"))
    assert r.types[-1] == "response.completed"


def test_eof_before_finish_reason_fails(engine):
    body = chunk({"content": "partial"}) + chunk(tool_delta(0, "c", "exec_command", '{"cmd":"rm'))
    r = translate(engine, body)
    assert r.types[-1] == "response.failed"
    assert r.response["error"]["code"] == "server_error"
    # A half-received tool call must never be announced as done (Codex would run it).
    done_types = [e["item"]["type"] for e in r.of("response.output_item.done")]
    assert done_types == ["message"]
    check_invariants(r.events)
    validate_with_sdk(r.events)


def test_done_without_finish_reason_completes_and_reports(engine):
    r = translate(engine, chunk({"content": "x"}) + DONE)
    assert r.types[-1] == "response.completed"
    assert "stream:missing_finish_reason" in r.translator.degraded


@pytest.mark.parametrize("error,code", [
    ({"message": "Provider returned error", "code": 502}, "server_error"),
    ({"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error"}, "context_length_exceeded"),
    ({"message": "Rate limit reached, try again in 2s", "code": "rate_limit_exceeded"}, "rate_limit_exceeded"),
    ({"message": "You exceeded your current quota", "code": "insufficient_quota"}, "insufficient_quota"),
    ("plain string error", "server_error"),
])
def test_in_stream_error_fails_with_a_string_code(engine, error, code):
    body = chunk({"content": "some output"}) + b"data: " + json.dumps({"error": error}).encode() + b"\n\n" + chunk({"content": "ignored"}, "stop")
    r = translate(engine, body)
    assert r.types[-1] == "response.failed"
    assert r.response["error"]["code"] == code and isinstance(r.response["error"]["message"], str)
    assert r.output == [] and "ignored" not in r.raw.decode()
    check_invariants(r.events)


def test_network_error_finish_reason_fails(engine):
    r = translate(engine, finish_ok(chunk({"content": "x"}), reason="network_error"), provider="glm")
    assert r.types[-1] == "response.failed"


def test_fail_after_start(engine):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine)
    out = t.start() + t.feed(chunk({"content": "x"})) + t.fail("timeout", "upstream read timed out")
    events = [json.loads(line[6:]) for line in out.decode().split("\n") if line.startswith("data: ")]
    assert events[-1]["type"] == "response.failed" and t.status == "failed"
    assert t.fail("x", "y") == b"" and t.finish() == b"" and t.feed(chunk({"content": "late"})) == b""


def test_repeated_finish_reason_and_late_usage(engine):
    body = chunk({"content": "x"}) + chunk({}, "stop") + chunk({}, "stop") + chunk(usage=USAGE, choices=False) + DONE
    r = translate(engine, body)
    assert r.types.count("response.output_item.done") == 1
    assert r.response["usage"]["total_tokens"] == 18


def test_malformed_chunk_is_skipped_and_reported(engine):
    body = chunk({"content": "a"}) + b"data: {not json\n\n" + b"data: [1,2]\n\n" + finish_ok(chunk({"content": "b"}))
    r = translate(engine, body)
    assert r.output[0]["content"][0]["text"] == "ab"
    assert r.translator.degraded == ("stream:malformed_chunk",)


def test_extra_choices_are_ignored_and_reported(engine):
    extra = b'data: {"choices":[{"index":1,"delta":{"content":"other"}}]}\n\n'
    r = translate(engine, finish_ok(chunk({"content": "a"}), extra))
    assert r.output[0]["content"][0]["text"] == "a"
    assert "stream:extra_choices" in r.translator.degraded


def test_wrong_types_are_ignored(engine):
    weird = b'data: {"choices":[{"index":0,"delta":{"content":5,"reasoning_content":["x"],"tool_calls":"no"},"finish_reason":7}]}\n\n'
    r = translate(engine, finish_ok(weird, b'data: {"choices":"nope","usage":[1]}\n\n', chunk({"content": "ok"})))
    assert r.output[0]["content"][0]["text"] == "ok"


def test_sse_details_crlf_comments_bom_and_unicode(engine):
    body = "\ufeff: OPENROUTER PROCESSING\n\n".encode() + finish_ok(chunk({"content": "日本\u2028語 😀"}))
    r = translate(engine, body.replace(b"\n", b"\r\n"), splits=[1, 2, 40, 41])
    assert r.output[0]["content"][0]["text"] == "日本\u2028語 😀"


def test_any_resplitting_gives_the_same_bytes(engine):
    body = finish_ok(
        chunk({"reasoning_content": "r"}), chunk({"content": "<think>x</think>é😀"}),
        chunk(tool_delta(0, "c", "f", '{"a":"\u2028"}')), reason="tool_calls",
    )
    whole = translate(engine, body, provider="qwen").raw
    for step in (1, 2, 3, 13):
        assert translate(engine, body, provider="qwen", splits=range(step, len(body), step)).raw == whole


def test_nothing_after_the_terminal_event(engine):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine)
    out = t.feed(finish_ok(chunk({"content": "x"})) + chunk({"content": "after"}))
    assert t.done and b"after" not in out
    assert t.finish() == b""


def test_usage_on_the_choice_is_read_when_there_is_no_top_level_usage(engine):
    # Moonshot/Kimi stream usage inside choices[0].
    kimi_final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
                               "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34, "cached_tokens": 8}}]}
    body = chunk({"content": "x"}) + b"data: " + json.dumps(kimi_final).encode() + b"\n\n" + DONE
    usage = translate(engine, body, provider="kimi").response["usage"]
    assert usage["input_tokens"] == 30 and usage["input_tokens_details"]["cached_tokens"] == 8


def test_top_level_usage_wins_over_choice_usage(engine):
    both = {"usage": {"prompt_tokens": 1, "completion_tokens": 1},
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": {"prompt_tokens": 99, "completion_tokens": 1}}]}
    body = chunk({"content": "x"}) + b"data: " + json.dumps(both).encode() + b"\n\n" + DONE
    assert translate(engine, body).response["usage"]["input_tokens"] == 1


def test_failing_finish_reason_closes_nothing(engine):
    body = chunk(tool_delta(0, "c", "exec_command", '{"cmd":"rm -rf /tm')) + chunk({}, "network_error") + DONE
    r = translate(engine, body, provider="glm")
    assert r.types[-1] == "response.failed" and "response.output_item.done" not in r.types


def test_keepalive_is_an_in_progress_event_in_sequence(engine):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine)
    out = t.keepalive()  # before anything: the stream start
    out += t.feed(chunk({"content": "a"})) + t.keepalive() + t.feed(chunk({}, "stop") + DONE)
    events = [json.loads(line[6:]) for line in out.decode().split("\n") if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds.count("response.in_progress") == 2
    check_invariants(events)
    validate_with_sdk(events)
    assert t.keepalive() == b""
