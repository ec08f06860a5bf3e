"""Inbound authentication: optional client API keys, compared in constant time."""
from __future__ import annotations

import hmac
from typing import Iterable, List, Optional, Tuple

__all__ = ["ClientAuth", "SECRET_HEADERS"]

# Client headers that carry credentials: checked here, never forwarded upstream, redacted in logs.
SECRET_HEADERS = frozenset({b"authorization", b"x-api-key", b"api-key", b"proxy-authorization",
                            b"cookie"})


class ClientAuth:
    def __init__(self, keys: Iterable[str]) -> None:
        self._keys: Tuple[bytes, ...] = tuple(k.encode("utf-8") for k in keys)

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def allows(self, headers: List[Tuple[bytes, bytes]]) -> bool:
        if not self._keys:
            return True
        presented = _presented_key(headers)
        if presented is None:
            return False
        ok = False
        for key in self._keys:  # no early exit: the time taken does not depend on which key
            ok |= hmac.compare_digest(presented, key)
        return ok


def _presented_key(headers: List[Tuple[bytes, bytes]]) -> Optional[bytes]:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
        elif name in (b"x-api-key", b"api-key") and value.strip():
            return value.strip()
    return None
