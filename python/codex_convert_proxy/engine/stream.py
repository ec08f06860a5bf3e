"""Chat Completions SSE → Responses SSE, in pure Python (engine contract §3).

The Rust engine (`rust/src/stream/`) implements the same rules and must write the same bytes. This
module is the readable reference and the fallback; it is written for clarity first and speed
second, but it avoids needless work on the per-chunk path (one dict walk, f-strings, one join per
feed).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..errors import ConversionError
from ..providers import Profile
from ..wire.sse import SseDecoder
from .jsonw import dump_str, loads

__all__ = ["Translator", "normalize_error_code", "usage_json"]

_ASCII_WS = " \t\n\r\x0c"
_OPEN_TAGS = ("<think>", "<thought>")
_CLOSE_TAGS = ("</think>", "</thought>")
_ALL_TAGS = _OPEN_TAGS + _CLOSE_TAGS
_MAX_COUNT = 2**53

# finish_reason values that end the response as incomplete, and why.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter", "sensitive": "content_filter"}
# finish_reason values that mean the generation broke: items are not closed, the response fails.
_FAILING = frozenset({"network_error"})

_DEFAULT_ECHO = (
    '"instructions":null,"metadata":{},"parallel_tool_calls":true,"temperature":null,'
    '"tool_choice":"auto","tools":[],"top_p":null'
)


def normalize_error_code(code: Optional[str], kind: str, message: str) -> str:
    """Map an upstream error to a code Codex and the SDKs act on (contract §3.6)."""
    hay = f"{code or ''} {kind} {message}".encode("utf-8", "surrogatepass").lower()
    if (
        b"context_length" in hay
        or b"context length" in hay
        or b"maximum context" in hay
        or b"too long" in hay
        or b"too many tokens" in hay
    ):
        return "context_length_exceeded"
    if b"insufficient_quota" in hay or b"quota" in hay:
        return "insufficient_quota"
    if b"rate_limit" in hay or b"rate limit" in hay or b"429" in hay or b"too many requests" in hay:
        return "rate_limit_exceeded"
    return code if code else "server_error"


def _count(value: object) -> Optional[int]:
    """A usage count as the contract reads it: int, float (truncated) or ASCII digits; clamped."""
    kind = type(value)
    if kind is int:
        n = value  # type: ignore[assignment]
    elif kind is float:
        n = int(value)  # type: ignore[arg-type]
    elif kind is str and value and value.isascii() and value.isdigit():  # type: ignore[union-attr]
        n = int(value)  # type: ignore[arg-type]
    else:
        return None
    if n < 0:
        return 0
    return n if n < _MAX_COUNT else _MAX_COUNT


def _first_count(usage: dict, paths: Tuple[Tuple[str, ...], ...]) -> Optional[int]:
    for path in paths:
        node: object = usage
        for key in path:
            node = node.get(key) if type(node) is dict else None  # type: ignore[union-attr]
        found = _count(node)
        if found is not None:
            return found
    return None


def usage_json(usage: dict) -> str:
    """Responses-shaped usage object for a Chat usage object (contract §3.8)."""
    i = _first_count(usage, (("prompt_tokens",), ("input_tokens",)))
    o = _first_count(usage, (("completion_tokens",), ("output_tokens",)))
    i = i or 0
    o = o or 0
    total = _first_count(usage, (("total_tokens",),))
    if total is None:
        total = i + o
    cached = _first_count(
        usage,
        (
            ("prompt_tokens_details", "cached_tokens"),
            ("prompt_cache_hit_tokens",),
            ("cached_tokens",),
            ("input_tokens_details", "cached_tokens"),
        ),
    ) or 0
    written = _first_count(
        usage,
        (("prompt_tokens_details", "cache_write_tokens"), ("input_tokens_details", "cache_write_tokens")),
    ) or 0
    reasoning = _first_count(
        usage,
        (("completion_tokens_details", "reasoning_tokens"), ("output_tokens_details", "reasoning_tokens")),
    ) or 0
    return (
        f'{{"input_tokens":{i},"input_tokens_details":{{"cached_tokens":{cached},'
        f'"cache_write_tokens":{written}}},"output_tokens":{o},'
        f'"output_tokens_details":{{"reasoning_tokens":{reasoning}}},"total_tokens":{total}}}'
    )


def _held_prefix_len(text: str, tags: Tuple[str, ...]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of one of `tags`.

    Tags hold a single "<", at their start, so only the suffix from the last "<" can qualify.
    """
    start = text.rfind("<", max(0, len(text) - 9))
    if start == -1:
        return 0
    tail = text[start:]
    for tag in tags:
        if len(tail) < len(tag) and tag.startswith(tail):
            return len(tail)
    return 0


def _find_tag(text: str, tags: Tuple[str, ...]) -> Tuple[int, str]:
    """Earliest position of any of `tags` in `text` (and which), or (-1, "")."""
    best, which = -1, ""
    for tag in tags:
        at = text.find(tag)
        if at != -1 and (best == -1 or at < best):
            best, which = at, tag
    return best, which


class _Call:
    __slots__ = (
        "up_id", "up_index", "name", "args", "visible", "closed", "sent",
        "output_index", "item_id", "call_id", "kind", "real_name", "namespace",
    )

    def __init__(self, up_id: Optional[str], up_index: Optional[int]) -> None:
        self.up_id = up_id
        self.up_index = up_index
        self.name: Optional[str] = None
        self.args = ""
        self.visible = False
        self.closed = False
        self.sent = False
        self.output_index = -1
        self.item_id = ""
        self.call_id = ""
        self.kind = "function"  # "function" | "custom"
        self.real_name = ""
        self.namespace: Optional[str] = None


class Translator:
    """One upstream stream → one Responses event stream. Not thread-safe; one per request."""

    def __init__(
        self,
        profile: Profile,
        model: str,
        response_id: str,
        created_at: int,
        tool_map: Optional[bytes] = None,
        echo: Optional[bytes] = None,
    ) -> None:
        self._profile = profile
        self._model_json = dump_str(model)
        self._rid_json = dump_str(response_id)
        self._suffix = response_id[5:] if response_id.startswith("resp_") else response_id
        self._created_at = int(created_at)
        self._custom: frozenset = frozenset()
        self._namespaces: Dict[str, Tuple[str, str]] = {}
        if tool_map:
            self._load_tool_map(tool_map)
        self._echo = _DEFAULT_ECHO
        if echo:
            text = echo.decode("utf-8") if isinstance(echo, (bytes, bytearray)) else str(echo)
            text = text.strip(_ASCII_WS)
            if len(text) < 2 or text[0] != "{" or text[-1] != "}":
                raise ConversionError("echo must be a JSON object")
            self._echo = text[1:-1]

        self._decoder = SseDecoder()
        self._out: List[str] = []
        self._seq = 0
        self._counts: Dict[str, int] = {}
        self._degraded: List[str] = []
        self._started = False
        self._done = False
        self._status = "in_progress"
        self._terminal: Optional[bytes] = None
        self._next_index = 0
        # (output_index, item JSON) in the order items were done; an open message can be done
        # after tool calls that started before it, so the terminal event sorts them (§3.1).
        self._finished_items: List[Tuple[int, str]] = []
        self._finish: Optional[str] = None
        self._usage: Optional[dict] = None
        self._extra_choices_reported = False
        # The open reasoning-or-message item.
        self._cur = ""  # "" | "reasoning" | "message"
        self._cur_id = ""
        self._cur_index = -1
        self._cur_text: List[str] = []  # reasoning text, or the open content part's text
        self._parts: List[str] = []  # finished content parts (JSON) of the open message
        self._part = ""  # "" | "output_text" | "refusal"
        # Tool calls in creation order, and how fragments find them.
        self._calls: List[_Call] = []
        self._by_id: Dict[str, _Call] = {}
        self._by_index: Dict[int, _Call] = {}
        # Think-tag splitter (§3.7).
        mode = profile.think_tags
        self._think = mode  # "off" | "on" | "implicit"
        self._tmode = "undecided" if mode == "implicit" else "text"  # text|think|undecided|held
        self._pending = ""
        self._skip_ws = False

    # ----------------------------------------------------------------- public surface
    def start(self) -> bytes:
        if self._started:
            return b""
        self._begin()
        return self._flush()

    def feed(self, data: bytes) -> bytes:
        if not self._started:
            self._begin()
        if not self._done:
            for payload in self._decoder.feed(data):
                self._on_payload(payload)
                if self._done:
                    break
        return self._flush()

    def finish(self) -> bytes:
        if not self._started:
            self._begin()
        if not self._done:
            for payload in self._decoder.finish():
                self._on_payload(payload)
                if self._done:
                    break
        if not self._done:
            self._end(eof=True)
        return self._flush()

    def fail(self, code: str, message: str) -> bytes:
        if not self._started:
            self._begin()
        if not self._done:
            self._fail(normalize_error_code(code or None, "", message), message)
        return self._flush()

    def keepalive(self) -> bytes:
        """A `response.in_progress` event, for a long upstream silence (empty once done).

        Codex's idle timer ignores SSE comments; a real event with the next sequence number keeps
        it alive, and the SDKs accept a repeated in_progress snapshot with no output.
        """
        if not self._started:
            self._begin()
            return self._flush()
        if not self._done:
            pending = self._response_json("in_progress", "", "null", "null", "null")
            self._emit("response.in_progress", f',"response":{pending}')
        return self._flush()

    @property
    def status(self) -> str:
        return self._status

    @property
    def done(self) -> bool:
        return self._done

    @property
    def terminal_response(self) -> Optional[bytes]:
        return self._terminal

    @property
    def degraded(self) -> List[str]:
        return self._degraded

    def event_counts(self) -> Dict[str, int]:
        return dict(self._counts)

    # Used by the non-streaming conversion: one already-framed payload, then the end.
    def feed_payload(self, payload: str) -> None:
        if not self._started:
            self._begin()
        self._on_payload(payload)

    def end_of_stream(self) -> None:
        if not self._done:
            self._end(eof=False)

    # ----------------------------------------------------------------- plumbing
    def _load_tool_map(self, tool_map: bytes) -> None:
        data = loads(tool_map, "tool_map")
        if type(data) is not dict:
            raise ConversionError("tool_map must be a JSON object")
        custom = data.get("custom")
        if type(custom) is list:
            self._custom = frozenset(n for n in custom if type(n) is str)
        spaces = data.get("namespaces")
        if type(spaces) is dict:
            for flat, pair in spaces.items():
                if type(pair) is list and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str:
                    self._namespaces[flat] = (pair[0], pair[1])

    def _report(self, name: str) -> None:
        if name not in self._degraded:
            self._degraded.append(name)

    def _flush(self) -> bytes:
        if not self._out:
            return b""
        data = "".join(self._out).encode("utf-8")
        self._out.clear()
        return data

    def _emit(self, kind: str, body: str) -> None:
        seq = self._seq
        self._seq = seq + 1
        self._counts[kind] = self._counts.get(kind, 0) + 1
        self._out.append(f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":{seq}{body}}}\n\n')

    def _response_json(self, status: str, output: str, error: str, incomplete: str, usage: str) -> str:
        return (
            f'{{"id":{self._rid_json},"object":"response","created_at":{self._created_at},'
            f'"status":"{status}","model":{self._model_json},"output":[{output}],{self._echo},'
            f'"error":{error},"incomplete_details":{incomplete},"usage":{usage}}}'
        )

    def _begin(self) -> None:
        self._started = True
        pending = self._response_json("in_progress", "", "null", "null", "null")
        self._emit("response.created", f',"response":{pending}')
        self._emit("response.in_progress", f',"response":{pending}')

    # ----------------------------------------------------------------- chunks
    def _on_payload(self, payload: str) -> None:
        stripped = payload.strip(_ASCII_WS)
        if not stripped:
            return
        if stripped == "[DONE]":
            self._end(eof=False)
            return
        try:
            chunk = loads(payload, "chunk")
        except ConversionError:
            self._report("stream:malformed_chunk")
            return
        if type(chunk) is not dict:
            self._report("stream:malformed_chunk")
            return
        self._on_chunk(chunk)

    def _on_chunk(self, chunk: dict) -> None:
        error = chunk.get("error")
        if type(error) is dict or type(error) is str:
            self._on_error(error)
            return
        usage = chunk.get("usage")
        if type(usage) is dict:
            self._usage = usage
        choices = chunk.get("choices")
        if type(choices) is not list:
            return
        for choice in choices:
            if type(choice) is not dict:
                continue
            index = choice.get("index")
            if index is not None and not (type(index) is int and index == 0):
                if not self._extra_choices_reported:
                    self._extra_choices_reported = True
                    self._report("stream:extra_choices")
                continue
            if type(usage) is not dict:
                inner = choice.get("usage")  # Moonshot/Kimi put usage on the choice
                if type(inner) is dict:
                    self._usage = inner
            self._on_choice(choice)
            if self._done:
                return

    def _on_choice(self, choice: dict) -> None:
        delta = choice.get("delta")
        if type(delta) is dict:
            reasoning = delta.get("reasoning_content")
            if not (type(reasoning) is str and reasoning):
                reasoning = delta.get("reasoning")
            if type(reasoning) is str and reasoning:
                self._reasoning(reasoning)
            content = delta.get("content")
            if type(content) is str and content:
                if self._think == "off":
                    self._text(content)
                else:
                    self._split_think(content)
            refusal = delta.get("refusal")
            if type(refusal) is str and refusal:
                self._refusal(refusal)
            calls = delta.get("tool_calls")
            if type(calls) is list:
                for fragment in calls:
                    if type(fragment) is dict:
                        self._on_fragment(fragment)
        reason = choice.get("finish_reason")
        if type(reason) is str and reason and self._finish is None:
            self._finish = reason
            if reason not in _FAILING:
                self._close_all()

    def _on_error(self, error: object) -> None:
        if type(error) is dict:
            code = error.get("code")
            kind = error.get("type")
            message = error.get("message")
            code_s = code if type(code) is str and code else None
            kind_s = kind if type(kind) is str else ""
            message_s = message if type(message) is str else "upstream error"
        else:
            code_s, kind_s, message_s = None, "", error  # type: ignore[assignment]
        self._fail(normalize_error_code(code_s, kind_s, message_s), message_s)  # type: ignore[arg-type]

    # ----------------------------------------------------------------- think tags
    def _split_think(self, content: str) -> None:
        pending = self._pending + content
        self._pending = ""
        while pending:
            if self._skip_ws:
                pending = pending.lstrip(_ASCII_WS)
                if not pending:
                    return
                self._skip_ws = False
            mode = self._tmode
            if mode == "undecided":
                lead = pending.lstrip(_ASCII_WS)
                if not lead:
                    self._pending = pending
                    return
                tag = next((t for t in _OPEN_TAGS if lead.startswith(t)), None)
                if tag is not None:
                    pending = lead[len(tag):]
                    self._tmode = "think"
                    self._skip_ws = True
                    continue
                if any(t.startswith(lead) for t in _OPEN_TAGS):
                    self._pending = pending
                    return
                self._tmode = "held"
                continue
            if mode == "held":
                at, tag = _find_tag(pending, _CLOSE_TAGS)
                if at == -1:
                    self._pending = pending
                    return
                self._reasoning(pending[:at])
                pending = pending[at + len(tag):]
                self._tmode = "text"
                self._skip_ws = True
                continue
            tags = _ALL_TAGS if mode == "text" else _CLOSE_TAGS
            at, tag = _find_tag(pending, tags)
            if at == -1:
                keep = _held_prefix_len(pending, tags)
                visible = pending[: len(pending) - keep]
                if visible:
                    self._text(visible) if mode == "text" else self._reasoning(visible)
                self._pending = pending[len(pending) - keep:]
                return
            if at:
                self._text(pending[:at]) if mode == "text" else self._reasoning(pending[:at])
            pending = pending[at + len(tag):]
            if mode == "think":
                self._tmode = "text"
            elif tag in _OPEN_TAGS:
                self._tmode = "think"
            else:
                self._report("think:close_without_open")
            self._skip_ws = True

    def _flush_think(self) -> None:
        """Send held content in the current mode (end of stream, a tool call, a finish_reason)."""
        held = self._pending
        self._pending = ""
        if self._tmode in ("held", "undecided"):
            self._tmode = "text"
        if held:
            self._reasoning(held) if self._tmode == "think" else self._text(held)

    # ----------------------------------------------------------------- items
    def _reasoning(self, text: str) -> None:
        if not text:
            return
        if self._cur == "message":
            self._close_current()
        if self._cur == "":
            index = self._next_index
            self._next_index = index + 1
            self._cur, self._cur_index, self._cur_id = "reasoning", index, f"rs_{self._suffix}_{index}"
            self._cur_text = []
            ident = dump_str(self._cur_id)
            self._emit(
                "response.output_item.added",
                f',"output_index":{index},"item":{{"id":{ident},"type":"reasoning","summary":[]}}',
            )
            self._emit(
                "response.reasoning_summary_part.added",
                f',"item_id":{ident},"output_index":{index},"summary_index":0,'
                f'"part":{{"type":"summary_text","text":""}}',
            )
        self._cur_text.append(text)
        self._emit(
            "response.reasoning_summary_text.delta",
            f',"item_id":{dump_str(self._cur_id)},"output_index":{self._cur_index},'
            f'"summary_index":0,"delta":{dump_str(text)}',
        )

    def _open_message(self) -> None:
        if self._cur == "reasoning":
            self._close_current()
        if self._cur == "":
            index = self._next_index
            self._next_index = index + 1
            self._cur, self._cur_index, self._cur_id = "message", index, f"msg_{self._suffix}_{index}"
            self._parts = []
            self._part = ""
            self._emit(
                "response.output_item.added",
                f',"output_index":{index},"item":{{"id":{dump_str(self._cur_id)},"type":"message",'
                f'"status":"in_progress","content":[],"role":"assistant"}}',
            )

    def _open_part(self, kind: str) -> None:
        if self._part == kind:
            return
        if self._part:
            self._close_part()
        self._part = kind
        self._cur_text = []
        empty = '{"type":"output_text","text":"","annotations":[]}' if kind == "output_text" else '{"type":"refusal","refusal":""}'
        self._emit(
            "response.content_part.added",
            f',"item_id":{dump_str(self._cur_id)},"output_index":{self._cur_index},'
            f'"content_index":{len(self._parts)},"part":{empty}',
        )

    def _text(self, text: str) -> None:
        if not text:
            return
        self._open_message()
        self._open_part("output_text")
        self._cur_text.append(text)
        self._emit(
            "response.output_text.delta",
            f',"item_id":{dump_str(self._cur_id)},"output_index":{self._cur_index},'
            f'"content_index":{len(self._parts)},"delta":{dump_str(text)},"logprobs":[]',
        )

    def _refusal(self, text: str) -> None:
        self._open_message()
        self._open_part("refusal")
        self._cur_text.append(text)
        self._emit(
            "response.refusal.delta",
            f',"item_id":{dump_str(self._cur_id)},"output_index":{self._cur_index},'
            f'"content_index":{len(self._parts)},"delta":{dump_str(text)}',
        )

    def _close_part(self) -> None:
        text = dump_str("".join(self._cur_text))
        head = f',"item_id":{dump_str(self._cur_id)},"output_index":{self._cur_index},"content_index":{len(self._parts)}'
        if self._part == "output_text":
            part = f'{{"type":"output_text","text":{text},"annotations":[]}}'
            self._emit("response.output_text.done", f'{head},"text":{text},"logprobs":[]')
        else:
            part = f'{{"type":"refusal","refusal":{text}}}'
            self._emit("response.refusal.done", f'{head},"refusal":{text}')
        self._emit("response.content_part.done", f'{head},"part":{part}')
        self._parts.append(part)
        self._part = ""
        self._cur_text = []

    def _item_status(self) -> str:
        return "incomplete" if self._finish in _INCOMPLETE else "completed"

    def _close_current(self) -> None:
        kind = self._cur
        if not kind:
            return
        ident = dump_str(self._cur_id)
        index = self._cur_index
        if kind == "reasoning":
            text = dump_str("".join(self._cur_text))
            self._emit(
                "response.reasoning_summary_text.done",
                f',"item_id":{ident},"output_index":{index},"summary_index":0,"text":{text}',
            )
            self._emit(
                "response.reasoning_summary_part.done",
                f',"item_id":{ident},"output_index":{index},"summary_index":0,'
                f'"part":{{"type":"summary_text","text":{text}}}',
            )
            item = f'{{"id":{ident},"type":"reasoning","summary":[{{"type":"summary_text","text":{text}}}]}}'
        else:
            if self._part:
                self._close_part()
            item = (
                f'{{"id":{ident},"type":"message","status":"{self._item_status()}",'
                f'"content":[{",".join(self._parts)}],"role":"assistant"}}'
            )
            self._parts = []
        self._emit("response.output_item.done", f',"output_index":{index},"item":{item}')
        self._finished_items.append((index, item))
        self._cur = ""
        self._cur_text = []

    # ----------------------------------------------------------------- tool calls
    def _find_call(self, up_id: Optional[str], up_index: Optional[int]) -> _Call:
        if up_id is not None:
            call = self._by_id.get(up_id)
            if call is not None:
                return call
            if up_index is not None:
                call = self._by_index.get(up_index)
                if call is not None and call.up_id is None:
                    call.up_id = up_id
                    self._by_id[up_id] = call
                    return call
        elif up_index is not None:
            call = self._by_index.get(up_index)
            if call is not None:
                return call
        elif self._calls:
            return self._calls[-1]
        call = _Call(up_id, up_index)
        self._calls.append(call)
        if up_id is not None:
            self._by_id[up_id] = call
        if up_index is not None:
            self._by_index[up_index] = call
        return call

    def _on_fragment(self, fragment: dict) -> None:
        up_id = fragment.get("id")
        if not (type(up_id) is str and up_id):
            up_id = None
        up_index = fragment.get("index")
        if type(up_index) is not int:
            up_index = None
        function = fragment.get("function")
        if type(function) is not dict:
            function = {}
        name = function.get("name")
        args = function.get("arguments")
        call = self._find_call(up_id, up_index)
        if call.closed:
            self._report("stream:late_tool_call_fragment")
            return
        if call.name is None and type(name) is str and name:
            call.name = name
        new = ""
        if type(args) is str and args:
            acc = call.args
            if args != acc:
                if len(args) > len(acc) > 0 and args.startswith(acc):
                    new = args[len(acc):]
                else:
                    new = args
                call.args = acc + new
        if call.visible:
            if new and call.kind == "function":
                self._emit_args_delta(call, new)
        elif call.name is not None:
            self._show_call(call)

    def _show_call(self, call: _Call) -> None:
        self._flush_think()
        self._close_current()
        index = self._next_index
        self._next_index = index + 1
        call.visible = True
        call.output_index = index
        name = call.name or ""
        call.call_id = call.up_id or f"call_{self._suffix}_{index}"
        if name in self._custom:
            call.kind, call.real_name = "custom", name
            call.item_id = f"ctc_{self._suffix}_{index}"
        else:
            spaced = self._namespaces.get(name)
            if spaced is not None:
                call.namespace, call.real_name = spaced
            else:
                call.real_name = name
            call.item_id = f"fc_{self._suffix}_{index}"
        self._emit("response.output_item.added", f',"output_index":{index},"item":{self._call_item(call, "in_progress", "")}')
        if call.args and call.kind == "function":
            self._emit_args_delta(call, call.args)

    def _call_item(self, call: _Call, status: str, payload: str) -> str:
        if call.kind == "custom":
            return (
                f'{{"id":{dump_str(call.item_id)},"type":"custom_tool_call","status":"{status}",'
                f'"call_id":{dump_str(call.call_id)},"name":{dump_str(call.real_name)},"input":{dump_str(payload)}}}'
            )
        namespace = "" if call.namespace is None else f',"namespace":{dump_str(call.namespace)}'
        return (
            f'{{"id":{dump_str(call.item_id)},"type":"function_call","status":"{status}",'
            f'"arguments":{dump_str(payload)},"call_id":{dump_str(call.call_id)},'
            f'"name":{dump_str(call.real_name)}{namespace}}}'
        )

    def _emit_args_delta(self, call: _Call, delta: str) -> None:
        call.sent = True
        self._emit(
            "response.function_call_arguments.delta",
            f',"item_id":{dump_str(call.item_id)},"output_index":{call.output_index},"delta":{dump_str(delta)}',
        )

    def _custom_input(self, args: str) -> str:
        try:
            value = loads(args, "custom tool input")
        except ConversionError:
            value = None
        if type(value) is dict:
            text = value.get("input")
            if type(text) is str:
                return text
            if len(value) == 1:
                (only,) = value.values()
                if type(only) is str:
                    return only
        elif type(value) is str:
            return value
        self._report("custom_tool:input_not_json")
        return args

    def _close_call(self, call: _Call) -> None:
        call.closed = True
        if not call.visible:
            self._report("stream:tool_call_without_name")
            return
        head = f',"item_id":{dump_str(call.item_id)},"output_index":{call.output_index}'
        if call.kind == "custom":
            payload = self._custom_input(call.args)
            if payload:
                self._emit("response.custom_tool_call_input.delta", f'{head},"delta":{dump_str(payload)}')
            self._emit("response.custom_tool_call_input.done", f'{head},"input":{dump_str(payload)}')
        else:
            if not call.sent and not call.args:
                call.args = "{}"
                self._emit_args_delta(call, call.args)
            payload = call.args
            self._emit("response.function_call_arguments.done", f'{head},"arguments":{dump_str(payload)}')
        item = self._call_item(call, self._item_status(), payload)
        self._emit("response.output_item.done", f',"output_index":{call.output_index},"item":{item}')
        self._finished_items.append((call.output_index, item))

    # ----------------------------------------------------------------- endings
    def _close_all(self) -> None:
        self._flush_think()
        self._close_current()
        for call in self._calls:
            if not call.closed:
                self._close_call(call)

    def _end(self, eof: bool) -> None:
        finish = self._finish
        if finish is None:
            if eof:
                self._fail("server_error", "upstream stream ended before a finish_reason")
                return
            self._report("stream:missing_finish_reason")
        elif finish in _FAILING:
            self._fail("server_error", f"upstream reported {finish}")
            return
        self._close_all()
        reason = _INCOMPLETE.get(finish) if finish is not None else None
        if reason is None:
            self._terminate("response.completed", "completed", "null", "null")
        else:
            self._terminate("response.incomplete", "incomplete", "null", f'{{"reason":"{reason}"}}')

    def _fail(self, code: str, message: str) -> None:
        error = f'{{"code":{dump_str(code)},"message":{dump_str(message)}}}'
        self._terminate("response.failed", "failed", error, "null")

    def _terminate(self, kind: str, status: str, error: str, incomplete: str) -> None:
        usage = usage_json(self._usage) if self._usage is not None else "null"
        output = ",".join(item for _, item in sorted(self._finished_items))
        response = self._response_json(status, output, error, incomplete, usage)
        self._emit(kind, f',"response":{response}')
        self._terminal = response.encode("utf-8")
        self._status = status
        self._done = True
