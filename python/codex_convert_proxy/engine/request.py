"""Request conversion: a Responses API request body → a Chat Completions request body.

The rules are engine contract §4 (docs/engine-contract.md); the Rust twin is rust/src/request.rs
and both produce the same bytes. The converter is lenient where REFERENCE §4 asks for it (unknown
items, parts and tools are skipped and *reported*, null fields are absent) and strict about wrong
types (a ConversionError naming the field, which the server turns into a 400).
"""
from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from ..errors import ConversionError
from ..providers import Profile
from .jsonw import dumps, loads

__all__ = ["ConvertedRequest", "convert_request", "flat_tool_name"]


class ConvertedRequest(NamedTuple):
    body: bytes
    degraded: List[str]
    tool_map: bytes
    echo: bytes
    stream: bool
    model: str


# Texts of one message join with "\n"; texts of different messages merged into one with "\n\n".
PART_JOIN = "\n"
MESSAGE_JOIN = "\n\n"

CUSTOM_TOOL_HINT = (
    "Call this tool with a single argument `input` holding the raw text as a JSON string; "
    "the text itself is free-form, not JSON."
)
CUSTOM_INPUT_DESCRIPTION = "Raw free-form input text."
MOVED_IMAGES_NOTE = "(image output attached in the next user message)"
MAX_TOOL_NAME = 64

_EFFORT_MAP = {
    "low": "low",
    "medium": "medium",
    "high": "high",
    "minimal": "low",
    "xhigh": "high",
    "none": None,
}
_NO_THINKING = ("none", "minimal")
_ROLES = ("user", "assistant", "system", "developer")


def _fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def flat_tool_name(namespace: str, name: str) -> str:
    """The Chat name of a namespace tool: `ns__name`; past 64 characters, cut to 55 + `_` + hash
    (the tool map turns it back into namespace and name)."""
    flat = namespace + "__" + name
    if len(flat) <= MAX_TOOL_NAME:
        return flat
    return "%s_%08x" % (flat[:55], _fnv1a32(flat.encode("utf-8")))


# --------------------------------------------------------------------------------------------
# Field access: null is absent; a present value of the wrong type is a ConversionError.


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _opt_str(obj: Dict[str, Any], key: str, path: str) -> Optional[str]:
    v = obj.get(key)
    if v is None or isinstance(v, str):
        return v
    raise ConversionError(f"{path}{key} must be a string")


def _req_str(obj: Dict[str, Any], key: str, path: str) -> str:
    v = obj.get(key)
    if isinstance(v, str):
        return v
    raise ConversionError(f"{path}{key} must be a string")


def _opt_bool(obj: Dict[str, Any], key: str) -> Optional[bool]:
    v = obj.get(key)
    if v is None or isinstance(v, bool):
        return v
    raise ConversionError(f"{key} must be a boolean")


def _opt_number(obj: Dict[str, Any], key: str) -> Any:
    v = obj.get(key)
    if v is None or _is_number(v):
        return v
    raise ConversionError(f"{key} must be a number")


def _opt_object(obj: Dict[str, Any], key: str, path: str = "") -> Optional[Dict[str, Any]]:
    v = obj.get(key)
    if v is None or isinstance(v, dict):
        return v
    raise ConversionError(f"{path}{key} must be an object")


def _objects(v: Any, path: str) -> List[Dict[str, Any]]:
    """An array whose elements must all be objects (validated up front, in order)."""
    for i, el in enumerate(v):
        if not isinstance(el, dict):
            raise ConversionError(f"{path}[{i}] must be an object")
    return v


def _type_of(obj: Dict[str, Any]) -> Optional[str]:
    t = obj.get("type")
    return t if isinstance(t, str) else None


# --------------------------------------------------------------------------------------------
# Messages under construction.


class _Msg:
    """A Chat message being built. `texts` join by PART_JOIN/MESSAGE_JOIN when written."""

    __slots__ = ("role", "texts", "parts", "reasoning", "tool_calls", "tool_call_id")

    def __init__(self, role: str) -> None:
        self.role = role
        # system: list of message texts (joined "\n\n"); others: see `parts`.
        self.texts: List[str] = []
        # user/assistant/tool content: list of ("text", str) / ("image", dict) in order.
        self.parts: List[Tuple[str, Any]] = []
        self.reasoning: List[str] = []
        self.tool_calls: List[Dict[str, Any]] = []
        self.tool_call_id: Optional[str] = None


class _Converter:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.degraded: Dict[str, None] = {}  # ordered set
        self.messages: List[_Msg] = []
        self.front_system: List[str] = []  # system_at_front: every system text, in order
        self.pending_reasoning: List[str] = []
        self.pending_images: List[Tuple[str, List[Dict[str, Any]]]] = []  # (call_id, images)

    def report(self, name: str) -> None:
        self.degraded.setdefault(name, None)

    # ---- emitting ------------------------------------------------------------------------

    def _last(self) -> Optional[_Msg]:
        return self.messages[-1] if self.messages else None

    def _flush_images(self) -> None:
        if not self.pending_images:
            return
        msg = _Msg("user")
        for call_id, images in self.pending_images:
            msg.parts.append(("text", f"Image output of tool call {call_id}:"))
            for image in images:
                msg.parts.append(("image", image))
        self.pending_images = []
        self.messages.append(msg)

    def _emit(self, msg: _Msg) -> None:
        if msg.role != "tool":
            self._flush_images()
        self.messages.append(msg)

    def add_system(self, text: str) -> None:
        if not text:
            return
        if self.profile.system_at_front:
            self.front_system.append(text)
            return
        self._flush_images()
        last = self._last()
        if last is not None and last.role == "system":
            last.texts.append(text)
            return
        msg = _Msg("system")
        msg.texts.append(text)
        self.messages.append(msg)

    def _take_reasoning(self, msg: _Msg) -> None:
        if self.pending_reasoning:
            msg.reasoning.extend(self.pending_reasoning)
            self.pending_reasoning = []

    def add_user_text(self, text: str) -> None:
        msg = _Msg("user")
        msg.parts = [("text", text)]
        self._emit(msg)

    def add_assistant(self, parts: List[Tuple[str, Any]]) -> None:
        msg = _Msg("assistant")
        msg.parts = parts
        self._take_reasoning(msg)
        self._emit(msg)

    def add_tool_call(self, call: Dict[str, Any]) -> None:
        last = self._last()
        if last is None or last.role != "assistant":
            last = _Msg("assistant")
            self._emit(last)
        self._take_reasoning(last)
        last.tool_calls.append(call)

    # ---- content parts -------------------------------------------------------------------

    def _image(self, part: Dict[str, Any]) -> Optional[Dict[str, Any]]:
        url = part.get("image_url")
        if not isinstance(url, str):
            self.report("image:no_url")
            return None
        image: Dict[str, Any] = {"url": url}
        detail = part.get("detail")
        if isinstance(detail, str):
            image["detail"] = detail
        return image

    def parts_of(self, content: Any, path: str) -> List[Tuple[str, Any]]:
        """Message content → ordered ("text", str) / ("image", {url, detail?}) parts."""
        if content is None:
            return []
        if isinstance(content, str):
            return [("text", content)]
        if not isinstance(content, list):
            raise ConversionError(f"{path} must be a string or an array")
        _objects(content, path)
        out: List[Tuple[str, Any]] = []
        for i, part in enumerate(content):
            ptype = _type_of(part)
            if ptype in ("input_text", "output_text"):
                out.append(("text", _req_str(part, "text", f"{path}[{i}].")))
            elif ptype == "refusal":
                out.append(("text", _req_str(part, "refusal", f"{path}[{i}].")))
            elif ptype == "input_image":
                image = self._image(part)
                if image is not None:
                    out.append(("image", image))
            else:
                self.report("part:" + (ptype if ptype is not None else "unknown"))
        return out

    # ---- items ---------------------------------------------------------------------------

    def message(self, item: Dict[str, Any], path: str) -> None:
        role = item.get("role")
        if role not in _ROLES:
            raise ConversionError(
                f"{path}.role must be one of user, assistant, system, developer"
            )
        parts = self.parts_of(item.get("content"), f"{path}.content")
        if role in ("system", "developer"):
            texts = []
            for kind, value in parts:
                if kind == "text":
                    texts.append(value)
                else:
                    self.report("image:system_message")
            if texts:
                self.add_system(PART_JOIN.join(texts))
            return
        if role == "assistant":
            if any(kind == "image" for kind, _ in parts):
                self.report("image:assistant_message")
                parts = [p for p in parts if p[0] == "text"]
            if parts:
                self.add_assistant(parts)
            return
        if parts:
            msg = _Msg("user")
            msg.parts = parts
            self._emit(msg)

    def function_call(self, item: Dict[str, Any], path: str) -> None:
        prefix = path + "."
        call_id = _req_str(item, "call_id", prefix)
        name = _req_str(item, "name", prefix)
        arguments = _opt_str(item, "arguments", prefix)
        namespace = item.get("namespace")
        if isinstance(namespace, str):
            name = flat_tool_name(namespace, name)
        self.add_tool_call(_tool_call(call_id, name, "{}" if arguments is None else arguments))

    def custom_tool_call(self, item: Dict[str, Any], path: str) -> None:
        prefix = path + "."
        call_id = _req_str(item, "call_id", prefix)
        name = _req_str(item, "name", prefix)
        text = _opt_str(item, "input", prefix)
        arguments = dumps({"input": "" if text is None else text})
        self.add_tool_call(_tool_call(call_id, name, arguments))

    def tool_output(self, item: Dict[str, Any], path: str) -> None:
        call_id = _req_str(item, "call_id", path + ".")
        output = item.get("output")
        msg = _Msg("tool")
        msg.tool_call_id = call_id
        if output is None or isinstance(output, str):
            msg.parts = [("text", output or "")]
        elif isinstance(output, list):
            parts = self.parts_of(output, f"{path}.output")
            images = [value for kind, value in parts if kind == "image"]
            texts = [value for kind, value in parts if kind == "text"]
            if images and self.profile.tool_images:
                msg.parts = parts
            else:
                if images:
                    texts.append(MOVED_IMAGES_NOTE)
                    self.pending_images.append((call_id, images))
                msg.parts = [("text", PART_JOIN.join(texts))]
        else:
            raise ConversionError(f"{path}.output must be a string or an array")
        self._emit(msg)

    def reasoning(self, item: Dict[str, Any]) -> None:
        if not self.profile.replay_reasoning:
            return
        for key in ("summary", "content"):
            entries = item.get(key)
            if not isinstance(entries, list):
                continue
            for entry in entries:
                if isinstance(entry, dict):
                    text = entry.get("text")
                    if isinstance(text, str) and text:
                        self.pending_reasoning.append(text)

    def item(self, item: Dict[str, Any], path: str) -> None:
        itype = _type_of(item)
        if itype == "message" or (item.get("type") is None and item.get("role") is not None):
            self.message(item, path)
        elif itype == "function_call":
            self.function_call(item, path)
        elif itype == "custom_tool_call":
            self.custom_tool_call(item, path)
        elif itype in ("function_call_output", "custom_tool_call_output"):
            self.tool_output(item, path)
        elif itype == "reasoning":
            self.reasoning(item)
        else:
            self.report("item:" + (itype if itype is not None else "unknown"))

    def finish(self) -> None:
        self._flush_images()

    # ---- writing -------------------------------------------------------------------------

    def content_value(self, parts: List[Tuple[str, Any]]) -> Any:
        if all(kind == "text" for kind, _ in parts):
            if len(parts) == 1:
                return parts[0][1]
            if self.profile.string_content:
                return PART_JOIN.join(value for _, value in parts)
        out = []
        for kind, value in parts:
            if kind == "text":
                out.append({"type": "text", "text": value})
            else:
                out.append({"type": "image_url", "image_url": value})
        return out

    def message_objects(self) -> List[Dict[str, Any]]:
        out: List[Dict[str, Any]] = []
        if self.front_system:
            out.append({"role": "system", "content": MESSAGE_JOIN.join(self.front_system)})
        for msg in self.messages:
            if msg.role == "system":
                out.append({"role": "system", "content": MESSAGE_JOIN.join(msg.texts)})
            elif msg.role == "user":
                out.append({"role": "user", "content": self.content_value(msg.parts)})
            elif msg.role == "tool":
                out.append(
                    {
                        "role": "tool",
                        "tool_call_id": msg.tool_call_id,
                        "content": self.content_value(msg.parts),
                    }
                )
            else:
                obj: Dict[str, Any] = {
                    "role": "assistant",
                    "content": self.content_value(msg.parts) if msg.parts else None,
                }
                if msg.reasoning:
                    obj["reasoning_content"] = MESSAGE_JOIN.join(msg.reasoning)
                if msg.tool_calls:
                    obj["tool_calls"] = msg.tool_calls
                out.append(obj)
        return out


def _tool_call(call_id: str, name: str, arguments: str) -> Dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# --------------------------------------------------------------------------------------------
# Tools.


def _function_tool(
    name: str, description: Optional[str], parameters: Any, strict: bool
) -> Dict[str, Any]:
    function: Dict[str, Any] = {"name": name}
    if description is not None:
        function["description"] = description
    if parameters is not None:
        function["parameters"] = parameters
    if strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def _custom_tool(conv: _Converter, tool: Dict[str, Any], name: str) -> Dict[str, Any]:
    description = tool.get("description")
    if isinstance(description, str) and description:
        description = description + MESSAGE_JOIN + CUSTOM_TOOL_HINT
    else:
        description = CUSTOM_TOOL_HINT
    input_description = CUSTOM_INPUT_DESCRIPTION
    fmt = tool.get("format")
    if isinstance(fmt, dict):
        ftype = _type_of(fmt)
        if ftype != "text":
            conv.report("custom_tool:" + (ftype if ftype is not None else "unknown"))
        if ftype == "grammar":
            definition = fmt.get("definition")
            syntax = fmt.get("syntax")
            if isinstance(definition, str):
                grammar = (syntax + " grammar") if isinstance(syntax, str) else "grammar"
                input_description += f" It must follow this {grammar}:\n{definition}"
    parameters = {
        "type": "object",
        "properties": {"input": {"type": "string", "description": input_description}},
        "required": ["input"],
        "additionalProperties": False,
    }
    return _function_tool(name, description, parameters, False)


def _plain_function(tool: Dict[str, Any], name: str) -> Dict[str, Any]:
    description = tool.get("description")
    return _function_tool(
        name,
        description if isinstance(description, str) else None,
        tool.get("parameters"),
        tool.get("strict") is True,
    )


def _convert_tools(
    conv: _Converter, tools: List[Dict[str, Any]]
) -> Tuple[List[Dict[str, Any]], List[str], Dict[str, List[str]]]:
    out: List[Dict[str, Any]] = []
    custom: List[str] = []
    namespaces: Dict[str, List[str]] = {}
    for i, tool in enumerate(tools):
        path = f"tools[{i}]."
        ttype = _type_of(tool)
        if ttype == "function":
            out.append(_plain_function(tool, _req_str(tool, "name", path)))
        elif ttype == "custom":
            name = _req_str(tool, "name", path)
            out.append(_custom_tool(conv, tool, name))
            custom.append(name)
        elif ttype == "namespace":
            ns = _req_str(tool, "name", path)
            inner = tool.get("tools")
            if not isinstance(inner, list):
                raise ConversionError(f"{path}tools must be an array")
            _objects(inner, f"{path}tools")
            for j, sub in enumerate(inner):
                stype = _type_of(sub)
                if stype != "function":
                    conv.report("tool:namespace." + (stype if stype is not None else "unknown"))
                    continue
                name = _req_str(sub, "name", f"{path}tools[{j}].")
                flat = flat_tool_name(ns, name)
                out.append(_plain_function(sub, flat))
                if flat not in namespaces:
                    namespaces[flat] = [ns, name]
        else:
            conv.report("tool:" + (ttype if ttype is not None else "unknown"))
    return out, custom, namespaces


def _tool_choice(conv: _Converter, choice: Any) -> Any:
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return choice
        conv.report("tool_choice:" + choice)
        return "auto"
    ctype = _type_of(choice)
    if ctype in ("function", "custom"):
        name = _req_str(choice, "name", "tool_choice.")
        namespace = choice.get("namespace")
        if isinstance(namespace, str):
            name = flat_tool_name(namespace, name)
        return {"type": "function", "function": {"name": name}}
    if ctype == "allowed_tools":
        conv.report("tool_choice:allowed_tools")
        mode = choice.get("mode")
        return mode if mode in ("auto", "required") else "auto"
    conv.report("tool_choice:" + (ctype if ctype is not None else "unknown"))
    return "auto"


# --------------------------------------------------------------------------------------------
# Parameters.


def _response_format(conv: _Converter, fmt: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    ftype = _type_of(fmt)
    if ftype == "text":
        return None
    if ftype == "json_object":
        return {"type": "json_object"}
    if ftype == "json_schema":
        schema: Dict[str, Any] = {}
        name = fmt.get("name")
        schema["name"] = name if isinstance(name, str) else "response"
        if fmt.get("description") is not None:
            schema["description"] = fmt["description"]
        if fmt.get("schema") is not None:
            schema["schema"] = fmt["schema"]
        if isinstance(fmt.get("strict"), bool):
            schema["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": schema}
    conv.report("param:text.format")
    return None


def _reasoning_param(conv: _Converter, reasoning: Optional[Dict[str, Any]]) -> Any:
    """(key, value) of the profile's reasoning parameter, or None."""
    if reasoning is None:
        return None
    effort = reasoning.get("effort")
    kind = conv.profile.reasoning_param
    if kind == "reasoning_effort":
        if effort is None:
            return None
        if effort not in _EFFORT_MAP:
            conv.report("param:reasoning.effort")
            return None
        mapped = _EFFORT_MAP[effort]
        return None if mapped is None else ("reasoning_effort", mapped)
    if kind == "thinking":
        return ("thinking", {"type": "disabled" if effort in _NO_THINKING else "enabled"})
    if kind == "enable_thinking":
        return ("enable_thinking", effort not in _NO_THINKING)
    return None


def _report_params(conv: _Converter, body: Dict[str, Any]) -> None:
    if body.get("background") is True:
        conv.report("param:background")
    if body.get("truncation") == "auto":
        conv.report("param:truncation")
    for key in ("prompt", "conversation", "top_logprobs"):
        if body.get(key) is not None:
            conv.report("param:" + key)


def _echo(body: Dict[str, Any], instructions: Optional[str]) -> Dict[str, Any]:
    echo: Dict[str, Any] = {
        "instructions": instructions,
        "metadata": body.get("metadata") if body.get("metadata") is not None else {},
        "parallel_tool_calls": (
            body["parallel_tool_calls"] if body.get("parallel_tool_calls") is not None else True
        ),
        "temperature": body.get("temperature"),
        "tool_choice": body.get("tool_choice") if body.get("tool_choice") is not None else "auto",
        "tools": [],
        "top_p": body.get("top_p"),
    }
    for key in ("max_output_tokens", "previous_response_id", "reasoning", "text", "store"):
        if body.get(key) is not None:
            echo[key] = body[key]
    return echo


# --------------------------------------------------------------------------------------------


def convert_request(body: bytes, profile: Profile, model: Optional[str] = None) -> ConvertedRequest:
    """Convert a Responses request body to a Chat Completions request body (contract §4)."""
    req = loads(body, "request body")
    if not isinstance(req, dict):
        raise ConversionError("request body must be a JSON object")

    # 1. Field types, in a fixed order (both engines report the same first error).
    body_model = _opt_str(req, "model", "")
    model = model or body_model
    if model is None:
        raise ConversionError("model is required")
    instructions = _opt_str(req, "instructions", "")
    stream = bool(_opt_bool(req, "stream"))
    parallel = _opt_bool(req, "parallel_tool_calls")
    _opt_bool(req, "store")
    temperature = _opt_number(req, "temperature")
    top_p = _opt_number(req, "top_p")
    max_tokens = req.get("max_output_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)):
        raise ConversionError("max_output_tokens must be an integer")
    user = _opt_str(req, "user", "")
    safety_identifier = _opt_str(req, "safety_identifier", "")
    _opt_str(req, "previous_response_id", "")
    _opt_object(req, "metadata")
    reasoning = _opt_object(req, "reasoning")
    if reasoning is not None:
        _opt_str(reasoning, "effort", "reasoning.")
    text = _opt_object(req, "text")
    text_format = _opt_object(text, "format", "text.") if text is not None else None
    tool_choice = req.get("tool_choice")
    if tool_choice is not None and not isinstance(tool_choice, (str, dict)):
        raise ConversionError("tool_choice must be a string or an object")
    tools = req.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise ConversionError("tools must be an array")
        _objects(tools, "tools")
    items = req.get("input")
    if items is not None:
        if isinstance(items, list):
            _objects(items, "input")
        elif not isinstance(items, str):
            raise ConversionError("input must be a string or an array of items")

    # 2. Messages.
    conv = _Converter(profile)
    if instructions:
        conv.add_system(instructions)
    if isinstance(items, str):
        conv.add_user_text(items)
    elif items is not None:
        for i, item in enumerate(items):
            conv.item(item, f"input[{i}]")
    conv.finish()
    messages = conv.message_objects()
    if not messages:
        raise ConversionError("request has no messages (input and instructions are empty)")

    # 3. Tools, then the parameters, in output order.
    chat_tools, custom, namespaces = _convert_tools(conv, tools or [])
    choice = _tool_choice(conv, tool_choice) if tool_choice is not None else None

    out: Dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if stream:
        out["stream_options"] = {"include_usage": True}
    if chat_tools:
        out["tools"] = chat_tools
        if choice is not None:
            out["tool_choice"] = choice
        if parallel is not None:
            out["parallel_tool_calls"] = parallel
    if temperature is not None:
        out["temperature"] = temperature
    if top_p is not None:
        out["top_p"] = top_p
    if max_tokens is not None:
        out[profile.max_tokens_field] = max_tokens
    if text_format is not None:
        response_format = _response_format(conv, text_format)
        if response_format is not None:
            out["response_format"] = response_format
    reasoning_param = _reasoning_param(conv, reasoning)
    if reasoning_param is not None:
        out[reasoning_param[0]] = reasoning_param[1]
    if req.get("stop") is not None:
        out["stop"] = req["stop"]
    if user is not None or safety_identifier is not None:
        out["user"] = user if user is not None else safety_identifier
    if req.get("seed") is not None:
        out["seed"] = req["seed"]
    _report_params(conv, req)

    tool_map = {"custom": custom, "namespaces": namespaces}
    return ConvertedRequest(
        body=dumps(out).encode("utf-8"),
        degraded=list(conv.degraded),
        tool_map=dumps(tool_map).encode("utf-8"),
        echo=dumps(_echo(req, instructions)).encode("utf-8"),
        stream=stream,
        model=model,
    )
