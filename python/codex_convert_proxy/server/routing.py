"""Which backend answers a request, and what kind of request it is.

Order (the crate's, plus model rules): a backend's `path_prefix` (longest first) decides
outright; else the first backend whose `header` rule matches; else the first backend whose
`model` rule matches the requested model; else the default backend (`default: true`, or the
first one listed).
"""
from __future__ import annotations

import json
import re
from typing import List, Optional, Sequence, Tuple

from .config import Backend

__all__ = ["Route", "Router", "RESPONSES", "PASSTHROUGH", "UNSUPPORTED", "request_model"]

RESPONSES = "responses"
PASSTHROUGH = "passthrough"
UNSUPPORTED = "unsupported"


class Route:
    __slots__ = ("kind", "backend", "rest")

    def __init__(self, kind: str, backend: Optional[Backend], rest: str) -> None:
        self.kind = kind  # RESPONSES | PASSTHROUGH | UNSUPPORTED
        self.backend = backend  # fixed by path prefix, else None (decided from the request)
        self.rest = rest  # for PASSTHROUGH: the path after /v1 (e.g. "/models")


class Router:
    def __init__(self, backends: Sequence[Backend]) -> None:
        self.backends = tuple(backends)
        self.prefixed = sorted((b for b in backends if b.match_rules.path_prefix),
                               key=lambda b: len(b.match_rules.path_prefix or ""), reverse=True)
        self.by_header = [b for b in backends if b.match_rules.header is not None]
        self.by_model = [b for b in backends if b.match_rules.models]
        self.default = next((b for b in backends if b.match_rules.default), backends[0])

    @property
    def needs_model(self) -> bool:
        return bool(self.by_model)

    def route(self, path: str) -> Optional[Route]:
        backend = None
        sub = path
        for candidate in self.prefixed:
            prefix = candidate.match_rules.path_prefix or ""
            if path == prefix or path.startswith(prefix + "/"):
                backend = candidate
                sub = path[len(prefix):] or "/"
                break
        if sub == "/v1/responses" or sub == "/responses":
            return Route(RESPONSES, backend, "")
        if sub.startswith("/v1/responses/") or sub.startswith("/responses/"):
            # Retrieve/delete/cancel a stored response: a Chat upstream has nothing to ask.
            return Route(UNSUPPORTED, backend, "")
        if sub.startswith("/v1/"):
            return Route(PASSTHROUGH, backend, sub[3:])
        return None

    def select(self, headers: List[Tuple[bytes, bytes]], model: Optional[str]) -> Backend:
        if self.by_header:
            for backend in self.by_header:
                rule = backend.match_rules.header
                assert rule is not None
                name = rule.name.encode("latin-1")
                for key, value in headers:
                    if key == name and value.decode("latin-1").strip() == rule.value:
                        return backend
        if model is not None:
            for backend in self.by_model:
                if backend.match_rules.matches_model(model):
                    return backend
        return self.default


_MODEL_RE = re.compile(rb'(?<!\\)"model"\s*:\s*"((?:[^"\\]|\\.)*)"')


def request_model(body: bytes) -> Optional[str]:
    """The top-level `model` of a JSON request body, cheaply.

    One `"model": "..."` in the body (the usual case: nested JSON inside strings is escaped and
    does not match) is taken without parsing the body; otherwise the body is parsed.
    """
    matches = _MODEL_RE.findall(body)
    if len(matches) == 1:
        try:
            value = json.loads(b'"' + matches[0] + b'"')
            return value if isinstance(value, str) else None
        except ValueError:
            return None
    if not matches:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("model") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None
