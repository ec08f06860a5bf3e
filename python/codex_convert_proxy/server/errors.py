"""OpenAI-style error bodies and the mapping of upstream failures to client-facing errors.

Every error the proxy answers before the first byte of a response is
`{"error":{"message","type","param","code"}}` with a real HTTP status (REFERENCE §7). The code
normalisation follows the engine contract §3.6, so a failure gets the same code whether it
happens before the first byte (here) or in the stream (the engine's response.failed).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

__all__ = ["ProxyError", "error_body", "normalise_code", "from_upstream", "retry_after_seconds"]

Headers = List[Tuple[bytes, bytes]]


@dataclass(eq=False)
class ProxyError(Exception):
    """An error answered to the client with `status` and an OpenAI-style JSON body."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: Optional[str] = None
    param: Optional[str] = None
    retry_after: Optional[str] = None  # Retry-After header value (429/503)
    kind: str = "error"  # short label for logs/metrics ("connect", "timeout", "upstream_4xx"…)

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.code, self.param)

    def headers(self) -> Headers:
        headers = [(b"content-type", b"application/json")]
        if self.retry_after is not None:
            headers.append((b"retry-after", self.retry_after.encode("latin-1")))
        return headers


def error_body(message: str, type_: str, code: Optional[str] = None,
               param: Optional[str] = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "param": param,
                                 "code": code}}, ensure_ascii=False).encode("utf-8")


def normalise_code(code: Optional[str], type_: Optional[str], message: Optional[str]) -> str:
    """Engine contract §3.6: the Codex-recognised code for an upstream error."""
    text = f"{code or ''} {type_ or ''} {message or ''}".lower()
    if ("context_length" in text or "context length" in text or "maximum context" in text
            or "too long" in text or "too many tokens" in text):
        return "context_length_exceeded"
    if "insufficient_quota" in text or "quota" in text:
        return "insufficient_quota"
    if "rate_limit" in text or "rate limit" in text or "429" in text or "too many requests" in text:
        return "rate_limit_exceeded"
    return code or "server_error"


_TRY_AGAIN = re.compile(r"try again in\s+([0-9]+(?:\.[0-9]+)?)\s*(ms|s|sec|seconds?)?", re.I)


def retry_after_seconds(value: Optional[str], message: str = "") -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds form), else from "try again in N s"."""
    if value:
        try:
            seconds = float(value.strip())
            if seconds >= 0:
                return seconds
        except ValueError:
            pass  # an HTTP-date: rare from LLM APIs; fall back to the message
    match = _TRY_AGAIN.search(message or "")
    if match:
        seconds = float(match.group(1))
        return seconds / 1000.0 if (match.group(2) or "").lower() == "ms" else seconds
    return None


_TYPES_BY_STATUS = {400: "invalid_request_error", 401: "authentication_error",
                    403: "permission_error", 404: "not_found_error", 409: "conflict_error",
                    413: "invalid_request_error", 422: "invalid_request_error",
                    429: "rate_limit_error"}


def _upstream_fields(body: bytes) -> Tuple[str, Optional[str], Optional[str], Optional[str]]:
    """(message, type, code, param) from whatever error shape the upstream sent."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data: Any = json.loads(text) if text else None
    except ValueError:
        data = None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # some gateways wrap the error in a list
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return err, None, None, None
        if isinstance(err, dict):
            message = err.get("message") or err.get("msg") or err.get("detail") or data.get(
                "message") or data.get("detail")
            if not isinstance(message, str):
                message = json.dumps(message, ensure_ascii=False) if message else text[:2000]
            code = err.get("code")
            code = str(code) if code is not None and code != "" else None
            type_ = err.get("type") if isinstance(err.get("type"), str) else None
            param = err.get("param") if isinstance(err.get("param"), str) else None
            return message, type_, code, param
    return (text[:2000] or "(empty body)"), None, None, None


def from_upstream(status: int, body: bytes, retry_after: Optional[str], backend: str) -> ProxyError:
    """Map an upstream non-2xx reply (before the first byte to the client) to a ProxyError.

    4xx keep their status and meaning; 429 always carries Retry-After; 5xx become 502 (503/504
    keep theirs, they tell the client something different).
    """
    message, up_type, up_code, param = _upstream_fields(body)
    code = normalise_code(up_code, up_type, message)
    prefix = f"upstream '{backend}' returned HTTP {status}: "
    if status == 429 or (code == "rate_limit_exceeded" and 400 <= status < 500):
        seconds = retry_after_seconds(retry_after, message)
        ra = retry_after if retry_after else str(max(1, int(seconds + 0.999))) if seconds else "1"
        if code == "insufficient_quota":
            return ProxyError(429, prefix + message, "insufficient_quota", "insufficient_quota",
                              param, retry_after=ra, kind="upstream_4xx")
        return ProxyError(429, prefix + message, "rate_limit_error", "rate_limit_exceeded", param,
                          retry_after=ra, kind="upstream_4xx")
    if 400 <= status < 500:
        if code == "context_length_exceeded":
            return ProxyError(400 if status in (413, 422) else status, prefix + message,
                              "invalid_request_error", code, param, kind="upstream_4xx")
        if status in (401, 403):
            message += f" (the upstream rejected the API key configured for backend '{backend}')"
        type_ = up_type or _TYPES_BY_STATUS.get(status, "invalid_request_error")
        code_out = up_code if up_code else None
        return ProxyError(status, prefix + message, type_, code_out, param, kind="upstream_4xx")
    out_status = status if status in (503, 504) else 502
    if code == "server_error" and up_code is None:
        code = "upstream_error"
    return ProxyError(out_status, prefix + message, "server_error", code, param,
                      retry_after=retry_after if status == 503 else None, kind="upstream_5xx")
