"""The stream translation rules of docs/engine-contract.md §3, one test per rule, on both engines."""
from __future__ import annotations

import json

import pytest

from streamkit import (
    APPLY_PATCH,
    DONE,
    TOOL_MAP,
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


# --------------------------------------------------------------------------- contract §1, §3.1, §3.2
# The exact bytes of a small stream: framing, key order, the JSON text rules (no spaces, escapes,
# raw non-ASCII / U+2028 / U+007F), the default echo and the usage shape, written out by hand.

_R_HEAD = '{"id":"resp_test","object":"response","created_at":1700000000,"status":"%s","model":"m","output":[%s],'
_R_ECHO = '"instructions":null,"metadata":{},"parallel_tool_calls":true,"temperature":null,"tool_choice":"auto","tools":[],"top_p":null,'
_R_TAIL = '"error":null,"incomplete_details":null,"usage":%s}'


def test_golden_bytes_of_a_text_stream(engine):
    text = 'Hi "q" \\ \n\t\x01\x1f é \u2028\x7f 😀'
    text_json = '"Hi \\"q\\" \\\\ \\n\\t\\u0001\\u001f é \u2028\x7f 😀"'
    body = chunk({"content": text}) + chunk({}, "stop", usage={"prompt_tokens": 3, "completion_tokens": 1}) + DONE
    r = translate(engine, body, model="m")
    start = (_R_HEAD % ("in_progress", "")) + _R_ECHO + (_R_TAIL % "null")
    part = '{"type":"output_text","text":%s,"annotations":[]}' % text_json
    item = '{"id":"msg_test_0","type":"message","status":"completed","content":[%s],"role":"assistant"}' % part
    ids = '"item_id":"msg_test_0","output_index":0,"content_index":0'
    usage = ('{"input_tokens":3,"input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},'
             '"output_tokens":1,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":4}')
    final = (_R_HEAD % ("completed", item)) + _R_ECHO + (_R_TAIL % usage)
    events = [
        ("response.created", '"response":' + start),
        ("response.in_progress", '"response":' + start),
        ("response.output_item.added", '"output_index":0,"item":{"id":"msg_test_0","type":"message","status":"in_progress","content":[],"role":"assistant"}'),
        ("response.content_part.added", ids + ',"part":{"type":"output_text","text":"","annotations":[]}'),
        ("response.output_text.delta", ids + ',"delta":' + text_json + ',"logprobs":[]'),
        ("response.output_text.done", ids + ',"text":' + text_json + ',"logprobs":[]'),
        ("response.content_part.done", ids + ',"part":' + part),
        ("response.output_item.done", '"output_index":0,"item":' + item),
        ("response.completed", '"response":' + final),
    ]
    expected = "".join(
        f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":{n},{fields}}}\n\n' for n, (kind, fields) in enumerate(events)
    )
    assert r.raw.decode("utf-8") == expected
    assert r.translator.terminal_response == final.encode("utf-8")


def test_golden_bytes_of_call_items(engine):
    body = finish_ok(
        chunk(tool_delta(0, "call_1", "multi_agent_v1__spawn_agent", '{"task": "x"}')),
        chunk(tool_delta(1, "call_2", "apply_patch", json.dumps({"input": "P"}))),
        reason="tool_calls",
    )
    done = [line for line in translate(engine, body, tool_map=TOOL_MAP).raw.decode().split("\n")
            if line.startswith('data: {"type":"response.output_item.done"')]
    assert done == [
        'data: {"type":"response.output_item.done","sequence_number":6,"output_index":0,"item":{"id":"fc_test_0",'
        '"type":"function_call","status":"completed","arguments":"{\\"task\\": \\"x\\"}","call_id":"call_1",'
        '"name":"spawn_agent","namespace":"multi_agent_v1"}}',
        'data: {"type":"response.output_item.done","sequence_number":9,"output_index":1,"item":{"id":"ctc_test_1",'
        '"type":"custom_tool_call","status":"completed","call_id":"call_2","name":"apply_patch","input":"P"}}',
    ]


@pytest.mark.parametrize("response_id,suffix", [("abc", "abc"), ("resp_resp_x", "resp_x"), ("resp_", ""), ("RESP_1", "RESP_1")])
def test_item_ids_derive_from_the_response_id(engine, response_id, suffix):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", response_id, 1, engine=engine)
    out = t.start() + t.feed(finish_ok(chunk({"reasoning_content": "r"}), chunk({"content": "t"}),
                                       chunk(tool_delta(0, None, "f", "{}")), reason="tool_calls")) + t.finish()
    from streamkit import parse_events

    events = parse_events(out)
    check_invariants(events)
    final = events[-1]["response"]
    assert final["id"] == response_id
    assert [o["id"] for o in final["output"]] == [f"rs_{suffix}_0", f"msg_{suffix}_1", f"fc_{suffix}_2"]
    assert final["output"][2]["call_id"] == f"call_{suffix}_2"


def test_start_is_sent_once_and_feed_implies_it(engine):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine)
    from streamkit import parse_events

    first = [e["type"] for e in parse_events(t.feed(chunk({"content": "x"})))]
    assert first[:2] == ["response.created", "response.in_progress"] and first.count("response.in_progress") == 1
    assert t.start() == b""
    assert t.status == "in_progress" and not t.done and t.response is None


def test_event_counts_match_what_was_sent(engine):
    r = translate(engine, finish_ok(chunk({"reasoning_content": "r"}), chunk({"content": "a"}), chunk({"content": "b"})))
    counts = r.translator.event_counts()
    assert counts == {kind: r.types.count(kind) for kind in set(r.types)}
    assert counts["response.output_text.delta"] == 2


# --------------------------------------------------------------------------- §3.3 chunk handling


@pytest.mark.parametrize("done", [b"data: [DONE]\n\n", b"data:  [DONE] \t\n\n", b"data:[DONE]\r\n\r\n", b"data: \ndata: [DONE]\n\n"])
def test_done_marker_with_ascii_whitespace_ends_the_stream(engine, done):
    body = chunk({"content": "x"}) + chunk({}, "stop") + done + chunk({"content": "after"})
    r = translate(engine, body)
    assert r.types[-1] == "response.completed" and "after" not in r.raw.decode()


def test_done_marker_with_other_text_is_a_malformed_chunk(engine):
    r = translate(engine, chunk({"content": "x"}) + b"data: [DONE]x\n\n" + chunk({}, "stop"))
    assert r.types[-1] == "response.completed" and r.translator.degraded == ("stream:malformed_chunk",)


def test_empty_and_comment_only_events_are_ignored_silently(engine):
    body = b"data:\n\n: ping\n\ndata: \n\nevent: x\n\n" + finish_ok(chunk({"content": "x"}))
    r = translate(engine, body)
    assert r.output[0]["content"][0]["text"] == "x" and r.translator.degraded == ()


def test_null_error_field_is_not_a_failure(engine):
    body = b'data: {"error":null,"choices":[{"index":0,"delta":{"content":"fine"}}]}\n\n' + chunk({}, "stop") + DONE
    r = translate(engine, body)
    assert r.types[-1] == "response.completed" and r.output[0]["content"][0]["text"] == "fine"


def test_error_of_another_type_is_ignored(engine):
    # Only an object or a string error fails the stream (§3.3.3).
    body = b'data: {"error":5,"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n' + chunk({}, "stop") + DONE
    assert translate(engine, body).types[-1] == "response.completed"


def test_the_last_usage_object_wins(engine):
    first = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    body = finish_ok(chunk({"content": "x"}, usage=first), chunk(usage=USAGE, choices=False))
    assert translate(engine, body).response["usage"]["total_tokens"] == 18


def test_choice_without_index_is_used(engine):
    body = b'data: {"choices":[{"delta":{"content":"no index"}}]}\n\n' + b'data: {"choices":[{"finish_reason":"stop"}]}\n\n'
    r = translate(engine, body)
    assert r.types[-1] == "response.completed" and r.output[0]["content"][0]["text"] == "no index"


def test_choice_zero_is_found_after_another_choice_in_the_same_chunk(engine):
    body = b'data: {"choices":[{"index":1,"delta":{"content":"B"}},{"index":0,"delta":{"content":"A"},"finish_reason":"stop"}]}\n\n'
    r = translate(engine, body)
    assert r.output[0]["content"][0]["text"] == "A" and r.translator.degraded == ("stream:extra_choices",)


def test_extra_choices_are_reported_once(engine):
    extra = b'data: {"choices":[{"index":1,"delta":{"content":"o"}}]}\n\n'
    r = translate(engine, finish_ok(extra, chunk({"content": "a"}), extra, extra))
    assert r.translator.degraded == ("stream:extra_choices",)


def test_non_object_delta_still_carries_the_finish_reason(engine):
    body = chunk({"content": "x"}) + b'data: {"choices":[{"index":0,"delta":"oops","finish_reason":"length"}]}\n\n'
    r = translate(engine, body)
    assert r.types[-1] == "response.incomplete"


def test_empty_reasoning_content_falls_back_to_reasoning(engine):
    r = translate(engine, finish_ok(chunk({"reasoning_content": "", "reasoning": "alt"}), chunk({"content": "x"})))
    assert r.output[0]["summary"][0]["text"] == "alt"


def test_reasoning_content_wins_over_reasoning(engine):
    r = translate(engine, finish_ok(chunk({"reasoning_content": "main", "reasoning": "alt"})))
    assert r.output[0]["summary"][0]["text"] == "main"


def test_one_delta_with_every_field_is_read_in_contract_order(engine):
    delta = {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}],
             "refusal": "no", "content": "text", "reasoning_content": "think"}
    r = translate(engine, finish_ok(chunk(delta), reason="tool_calls"))
    assert [o["type"] for o in r.output] == ["reasoning", "message", "function_call"]
    assert r.output[1]["content"] == [{"type": "output_text", "text": "text", "annotations": []},
                                      {"type": "refusal", "refusal": "no"}]
    check_invariants(r.events)


def test_empty_finish_reason_is_not_a_finish_reason(engine):
    r = translate(engine, chunk({"content": "x"}, "") + chunk({}, ""))
    assert r.types[-1] == "response.failed"
    assert r.response["error"]["message"] == "upstream stream ended before a finish_reason"


def test_the_first_finish_reason_wins(engine):
    r = translate(engine, chunk({"content": "x"}) + chunk({}, "length") + chunk({}, "stop") + DONE)
    assert r.types[-1] == "response.incomplete"


@pytest.mark.parametrize("reason", ["tool_calls", "function_call", "eos", "end_turn"])
def test_other_finish_reasons_complete(engine, reason):
    assert translate(engine, finish_ok(chunk({"content": "x"}), reason=reason)).types[-1] == "response.completed"


# --------------------------------------------------------------------------- item lifecycle


def test_refusal_text_refusal_are_three_parts_of_one_message(engine):
    r = translate(engine, finish_ok(chunk({"refusal": "r1"}), chunk({"content": "t"}), chunk({"refusal": "r2"})))
    assert len(r.output) == 1
    assert [(p["type"], p.get("text", p.get("refusal"))) for p in r.output[0]["content"]] == [
        ("refusal", "r1"), ("output_text", "t"), ("refusal", "r2")]
    assert [e["content_index"] for e in r.of("response.content_part.added")] == [0, 1, 2]
    validate_with_sdk(r.events)


def test_reasoning_is_closed_before_a_tool_call_is_announced(engine):
    body = finish_ok(chunk({"reasoning_content": "plan"}), chunk(tool_delta(0, "c", "f", "{}")), reason="tool_calls")
    r = translate(engine, body)
    assert r.types.index("response.output_item.done") < r.types.index("response.output_item.added", 3)
    assert [o["type"] for o in r.output] == ["reasoning", "function_call"]


def test_text_while_calls_are_open_closes_first_and_output_keeps_index_order(engine):
    # A message opened after a call started is closed before the calls at the end (§3.5), but the
    # terminal output lists items in output_index order (§3.1).
    body = finish_ok(
        chunk(tool_delta(0, "a", "f", '{"n":1}')),
        chunk({"content": "meanwhile"}),
        chunk(tool_delta(1, "b", "g", '{"n":2}')),
        reason="tool_calls",
    )
    r = translate(engine, body)
    done_order = [e["output_index"] for e in r.of("response.output_item.done")]
    assert done_order == [1, 0, 2]
    assert [o["type"] for o in r.output] == ["function_call", "message", "function_call"]
    assert [o["id"] for o in r.output] == ["fc_test_0", "msg_test_1", "fc_test_2"]
    check_invariants(r.events)
    validate_with_sdk(r.events)


def test_incomplete_message_status(engine):
    r = translate(engine, finish_ok(chunk({"content": "cut"}), reason="length"))
    assert r.output[0]["status"] == "incomplete"
    assert r.of("response.output_item.added")[0]["item"]["status"] == "in_progress"


# --------------------------------------------------------------------------- §3.4 tool calls


def test_id_arriving_before_the_name_becomes_the_call_id(engine):
    body = finish_ok(chunk(tool_delta(0, None, None, '{"a":')), chunk(tool_delta(0, "late_id", "f", "1}")), reason="tool_calls")
    r = translate(engine, body)
    assert [(o["call_id"], o["arguments"]) for o in r.output] == [("late_id", '{"a":1}')]


def test_id_arriving_after_the_call_was_announced_keeps_one_call(engine):
    body = finish_ok(chunk(tool_delta(0, None, "f", '{"a":')), chunk(tool_delta(0, "late_id", None, "1}")), reason="tool_calls")
    r = translate(engine, body)
    assert len(r.output) == 1 and r.output[0]["arguments"] == '{"a":1}'
    assert r.output[0]["call_id"] == r.of("response.output_item.added")[0]["item"]["call_id"]


def test_fragment_with_neither_id_nor_index_starts_a_call_when_there_is_none(engine):
    body = finish_ok(chunk({"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}),
                     chunk({"tool_calls": [{"function": {"arguments": ""}}]}), reason="tool_calls")
    r = translate(engine, body)
    assert [(o["call_id"], o["name"], o["arguments"]) for o in r.output] == [("call_test_0", "f", "{}")]


def test_a_later_name_does_not_rename_a_call(engine):
    body = finish_ok(chunk(tool_delta(0, "c", "first", "{}")), chunk(tool_delta(0, None, "second", None)), reason="tool_calls")
    assert translate(engine, body).output[0]["name"] == "first"


def test_arguments_buffered_before_the_name_go_out_as_one_delta(engine):
    body = finish_ok(chunk(tool_delta(0, "c", None, '{"q"')), chunk(tool_delta(0, None, None, ':"x"')),
                     chunk(tool_delta(0, None, "search", ',')), chunk(tool_delta(0, None, None, '"n":1}')), reason="tool_calls")
    r = translate(engine, body)
    # Everything up to and including the naming fragment in one delta, later text as it comes.
    assert [e["delta"] for e in r.of("response.function_call_arguments.delta")] == ['{"q":"x",', '"n":1}']


def test_wrongly_typed_fragment_fields_are_ignored(engine):
    fragment = {"index": "0", "id": 7, "function": {"name": ["f"], "arguments": {"a": 1}}}
    body = finish_ok(chunk({"tool_calls": [fragment, 5, None]}), chunk(tool_delta(0, "c", "f", "{}")), reason="tool_calls")
    r = translate(engine, body)
    assert [(o["name"], o["arguments"]) for o in r.output] == [("f", "{}")]
    assert "stream:tool_call_without_name" in r.translator.degraded  # the fragment with no usable name


@pytest.mark.parametrize("arguments,expected,reported", [
    ('{"input": "P"}', "P", False),
    ('{"patch": "P"}', "P", False),  # exactly one string value
    ('"P"', "P", False),  # a JSON string
    ('{"input": "P", "extra": 1}', "P", False),
    ('{"input": 5}', '{"input": 5}', True),
    ('{"a": "x", "b": "y"}', '{"a": "x", "b": "y"}', True),
    ("[1]", "[1]", True),
    ("", "", True),
])
def test_custom_tool_input_rules(engine, arguments, expected, reported):
    pieces = [chunk(tool_delta(0, "c", "apply_patch", arguments[:3] or None))]
    if arguments[3:]:
        pieces.append(chunk(tool_delta(0, None, None, arguments[3:])))
    r = translate(engine, finish_ok(*pieces, reason="tool_calls"), tool_map=TOOL_MAP)
    assert r.output[0]["type"] == "custom_tool_call" and r.output[0]["input"] == expected
    assert ("custom_tool:input_not_json" in r.translator.degraded) == reported
    assert [e["delta"] for e in r.of("response.custom_tool_call_input.delta")] == ([expected] if expected else [])
    check_invariants(r.events)
    validate_with_sdk(r.events)


def test_custom_tool_call_sends_nothing_until_it_closes(engine):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine, tool_map=TOOL_MAP)
    from streamkit import parse_events

    t.start()
    early = parse_events(t.feed(chunk(tool_delta(0, "c", "apply_patch", '{"input": "*** Begin'))
                                + chunk(tool_delta(0, None, None, ' Patch"}'))))
    assert [e["type"] for e in early] == ["response.output_item.added"]  # announced, nothing more
    assert early[0]["item"]["input"] == "" and early[0]["item"]["status"] == "in_progress"
    late = parse_events(t.feed(chunk({}, "tool_calls")))
    assert [e["type"] for e in late] == ["response.custom_tool_call_input.delta", "response.custom_tool_call_input.done",
                                         "response.output_item.done"]
    assert late[0]["delta"] == "*** Begin Patch" and late[2]["item"]["input"] == "*** Begin Patch"


def test_namespace_is_on_the_added_item_too(engine):
    body = finish_ok(chunk(tool_delta(0, "c", "multi_agent_v1__spawn_agent", "{}")), reason="tool_calls")
    added = translate(engine, body, tool_map=TOOL_MAP).of("response.output_item.added")[0]["item"]
    assert added["name"] == "spawn_agent" and added["namespace"] == "multi_agent_v1"


def test_fragment_for_a_closed_call_is_dropped_and_reported(engine):
    body = (chunk(tool_delta(0, "c", "f", '{"a":1}')) + chunk({}, "tool_calls")
            + chunk(tool_delta(0, "c", None, ',"b":2}')) + DONE)
    r = translate(engine, body)
    assert r.output[0]["arguments"] == '{"a":1}'
    assert r.translator.degraded == ("stream:late_tool_call_fragment",)


# --------------------------------------------------------------------------- §3.6 failures


def test_error_keeps_the_items_already_done(engine):
    body = chunk({"reasoning_content": "r"}) + chunk({"content": "half"}) + b'data: {"error":"boom"}\n\n'
    r = translate(engine, body)
    assert r.types[-1] == "response.failed"
    assert [o["type"] for o in r.output] == ["reasoning"]  # the open message is not closed
    assert r.response["error"] == {"code": "server_error", "message": "boom"}
    check_invariants(r.events)


def test_error_before_any_output(engine):
    # REFERENCE §9: HTTP 200 followed by an SSE error before any output.
    body = b'data: {"error":{"message":"Input is too long for requested model.","code":400}}\n\n'
    r = translate(engine, body)
    assert r.types == ["response.created", "response.in_progress", "response.failed"]
    assert r.response["error"]["code"] == "context_length_exceeded" and r.output == []


@pytest.mark.parametrize("error,code,message", [
    ({"code": "model_not_found", "message": "no such model"}, "model_not_found", "no such model"),
    ({"type": "rate_limit_error", "message": "slow down"}, "rate_limit_exceeded", "slow down"),
    ({"message": "Too Many Tokens in prompt"}, "context_length_exceeded", "Too Many Tokens in prompt"),
    ({"message": "HTTP 429 from upstream"}, "rate_limit_exceeded", "HTTP 429 from upstream"),
    ({"message": "Too Many Requests"}, "rate_limit_exceeded", "Too Many Requests"),
    ({"code": "billing", "message": "monthly quota used up"}, "insufficient_quota", "monthly quota used up"),
    # A numeric code is not part of the text that is searched: only message and type are.
    ({"code": 429, "message": "slow down"}, "server_error", "slow down"),
    ({"code": "", "message": "x"}, "server_error", "x"),
    ({"code": "context_length_exceeded"}, "context_length_exceeded", "upstream error"),
    ({"code": "x", "message": {"nested": True}}, "x", "upstream error"),
    ({}, "server_error", "upstream error"),
    ("", "server_error", ""),
    ("maximum context length reached", "context_length_exceeded", "maximum context length reached"),
])
def test_error_code_and_message_rules(engine, error, code, message):
    r = translate(engine, b"data: " + json.dumps({"error": error}).encode() + b"\n\n")
    assert r.response["error"] == {"code": code, "message": message}
    assert r.translator.status == "failed"


@pytest.mark.parametrize("code,message,expected", [
    ("", "Rate limit hit", "rate_limit_exceeded"),
    ("upstream_timeout", "read timed out", "upstream_timeout"),
    ("server_error", "prompt is too long", "context_length_exceeded"),
    ("", "connection reset", "server_error"),
])
def test_fail_normalises_its_code(engine, code, message, expected):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine)
    out = t.start() + t.fail(code, message)
    from streamkit import parse_events

    events = parse_events(out)
    check_invariants(events)
    assert events[-1]["response"]["error"] == {"code": expected, "message": message}


def test_fail_before_start_still_sends_a_whole_stream(engine):
    import codex_convert_proxy as ccp
    from streamkit import parse_events

    t = ccp.StreamTranslator("openai", "m", "resp_test", 1, engine=engine)
    events = parse_events(t.fail("server_error", "upstream connect failed"))
    assert [e["type"] for e in events] == ["response.created", "response.in_progress", "response.failed"]
    check_invariants(events)


# --------------------------------------------------------------------------- §3.7 think tags


def test_on_profile_think_block_in_the_middle_of_text(engine):
    r = translate(engine, finish_ok(chunk({"content": "Before <think>inner</think> after"})), provider="openai")
    assert [(o["type"]) for o in r.output] == ["message", "reasoning", "message"]
    assert r.output[0]["content"][0]["text"] == "Before "
    assert r.output[1]["summary"][0]["text"] == "inner"
    assert r.output[2]["content"][0]["text"] == "after"  # whitespace after the switch dropped


@pytest.mark.parametrize("provider", ["openai", "qwen", "minimax"])
def test_a_held_tag_prefix_at_the_end_is_text(engine, provider):
    r = translate(engine, finish_ok(chunk({"content": "a <thi"})), provider=provider)
    assert [o["type"] for o in r.output] == ["message"] and r.output[0]["content"][0]["text"] == "a <thi"


def test_a_lone_angle_bracket_is_released_as_text(engine):
    r = translate(engine, finish_ok(chunk({"content": "1 <"}), chunk({"content": " 2 </b>"})), provider="qwen")
    assert r.output[0]["content"][0]["text"] == "1 < 2 </b>"


def test_implicit_profile_whitespace_before_the_opening_tag(engine):
    r = translate(engine, finish_ok(chunk({"content": "\n\n"}), chunk({"content": "<think>x</think>y"})), provider="minimax")
    assert [o["type"] for o in r.output] == ["reasoning", "message"]
    assert r.output[0]["summary"][0]["text"] == "x" and r.output[1]["content"][0]["text"] == "y"


def test_implicit_profile_held_text_is_released_by_a_tool_call(engine):
    body = finish_ok(chunk({"content": "Let me run it."}), chunk(tool_delta(0, "c", "f", "{}")), reason="tool_calls")
    r = translate(engine, body, provider="minimax")
    assert [o["type"] for o in r.output] == ["message", "function_call"]
    assert r.output[0]["content"][0]["text"] == "Let me run it."


def test_implicit_profile_held_text_is_released_by_the_finish_reason(engine):
    import codex_convert_proxy as ccp

    t = ccp.StreamTranslator("minimax", "m", "resp_test", 1, engine=engine)
    assert b"output_text.delta" not in t.feed(chunk({"content": "plain answer"}))  # still undecided
    assert b'"delta":"plain answer"' in t.feed(chunk({}, "stop"))


def test_implicit_profile_thought_tag_opens_too(engine):
    r = translate(engine, finish_ok(chunk({"content": "<thought>a</thought>b"})), provider="minimax")
    assert [o["type"] for o in r.output] == ["reasoning", "message"]


def test_whitespace_only_after_the_closing_tag_makes_no_message(engine):
    r = translate(engine, finish_ok(chunk({"content": "<think>x</think>\n\n"})), provider="qwen")
    assert [o["type"] for o in r.output] == ["reasoning"]


def test_think_tag_in_reasoning_content_is_not_split(engine):
    # Only `content` goes through the splitter (§3.3.b).
    r = translate(engine, finish_ok(chunk({"reasoning_content": "<think>r</think>"})), provider="minimax")
    assert r.output[0]["summary"][0]["text"] == "<think>r</think>"


# --------------------------------------------------------------------------- §3.8 usage


@pytest.mark.parametrize("usage,expected", [
    ({"input_tokens": 5, "output_tokens": 2}, (5, 0, 0, 2, 0, 7)),
    ({"prompt_tokens": None, "input_tokens": 5, "completion_tokens": 1}, (5, 0, 0, 1, 0, 6)),
    ({"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 99}, (10, 0, 0, 2, 0, 99)),
    ({"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 4}},
     (10, 3, 4, 2, 0, 12)),
    ({"input_tokens": 10, "output_tokens": 2, "input_tokens_details": {"cached_tokens": 6, "cache_write_tokens": 1},
      "output_tokens_details": {"reasoning_tokens": 2}}, (10, 6, 1, 2, 2, 12)),
    ({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 2}, "prompt_cache_hit_tokens": 9}, (10, 2, 0, 0, 0, 10)),
    ({"prompt_tokens": -4, "completion_tokens": 2**60}, (0, 0, 0, 2**53, 0, 2**53)),
    ({"prompt_tokens": 3.9, "completion_tokens": "007"}, (3, 0, 0, 7, 0, 10)),
    ({"prompt_tokens": True, "completion_tokens": "12a", "total_tokens": "", "cached_tokens": " 1"}, (0, 0, 0, 0, 0, 0)),
    ({"prompt_tokens": "٣", "completion_tokens": [1], "total_tokens": {"n": 1}}, (0, 0, 0, 0, 0, 0)),
    ({}, (0, 0, 0, 0, 0, 0)),
])
def test_usage_value_rules(engine, usage, expected):
    r = translate(engine, finish_ok(chunk({"content": "x"}), chunk(usage=usage, choices=False)))
    u = r.response["usage"]
    got = (u["input_tokens"], u["input_tokens_details"]["cached_tokens"], u["input_tokens_details"]["cache_write_tokens"],
           u["output_tokens"], u["output_tokens_details"]["reasoning_tokens"], u["total_tokens"])
    assert got == expected
    check_invariants(r.events)


def test_usage_is_kept_on_a_failed_response(engine):
    body = chunk({"content": "x"}, usage=USAGE) + b'data: {"error":"boom"}\n\n'
    assert translate(engine, body).response["usage"]["total_tokens"] == 18


# --------------------------------------------------------------------------- SSE at the translator (REFERENCE §8)


def test_last_event_without_its_blank_line_is_still_processed(engine):
    body = chunk({"content": "x"}) + b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    assert translate(engine, body).types[-1] == "response.completed"


@pytest.mark.parametrize("newline", [b"\r", b"\r\n"])
def test_cr_framings_with_a_cut_between_cr_and_lf(engine, newline):
    body = finish_ok(chunk({"content": "a"}), chunk({"content": "b"})).replace(b"\n", newline)
    cuts = [i + 1 for i in range(len(body)) if body[i:i + 1] == b"\r"]
    r = translate(engine, body, splits=cuts)
    assert r.output[0]["content"][0]["text"] == "ab" and r.types[-1] == "response.completed"
    assert r.raw == translate(engine, body).raw


def test_data_split_over_lines_is_joined_with_newlines(engine):
    body = b'data: {"choices":[{"index":0,\ndata: "delta":{"content":"j"}}]}\n\n' + chunk({}, "stop")
    assert translate(engine, body).output[0]["content"][0]["text"] == "j"


def test_bom_split_across_reads_is_dropped(engine):
    body = b"\xef\xbb\xbf" + finish_ok(chunk({"content": "x"}))
    r = translate(engine, body, splits=[1, 2])
    assert r.output[0]["content"][0]["text"] == "x" and r.translator.degraded == ()


def test_utf8_split_across_reads_is_not_replaced(engine):
    body = finish_ok(chunk({"content": "é😀日"}))
    at = body.index("😀".encode())
    r = translate(engine, body, splits=[at + 1, at + 2, at + 3, at + 5])
    assert r.output[0]["content"][0]["text"] == "é😀日"


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
