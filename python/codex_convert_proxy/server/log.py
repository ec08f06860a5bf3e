"""Logging: one line per request (never per event), optional body dumps with secrets redacted.

Log lines go to stderr and, when `log_dir` is set, to `log_dir/proxy.log` (a WatchedFileHandler:
safe for several worker processes appending, and compatible with logrotate). Bodies are written
only when `log_body` is on, one file per request and direction under `log_dir/bodies/`, with the
configured upstream and client keys replaced by `***`.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import time
from typing import Iterable, List, Optional, Sequence, Tuple

__all__ = ["LOGGER_NAME", "setup_logging", "BodyDumper", "redact_headers"]

LOGGER_NAME = "codex_convert_proxy"
_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
_LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING,
           "info": logging.INFO, "debug": logging.DEBUG, "trace": logging.DEBUG}


def setup_logging(level: str = "info", log_dir: Optional[str] = None) -> logging.Logger:
    """Configure our logger and uvicorn's (idempotent: safe to call again in each worker)."""
    numeric = _LEVELS.get(level.lower(), logging.INFO)
    formatter = logging.Formatter(_FORMAT)
    handlers: List[logging.Handler] = []
    stream = logging.StreamHandler()
    stream.setFormatter(formatter)
    handlers.append(stream)
    if log_dir:
        try:
            os.makedirs(log_dir, exist_ok=True)
            fh = logging.handlers.WatchedFileHandler(os.path.join(log_dir, "proxy.log"),
                                                     encoding="utf-8")
            fh.setFormatter(formatter)
            handlers.append(fh)
        except OSError as exc:
            logging.getLogger(LOGGER_NAME).warning("cannot write logs to %s: %s", log_dir, exc)
    for name in (LOGGER_NAME, "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_ccp", False):
                logger.removeHandler(old)
        logger.setLevel(numeric)
        logger.propagate = False
        if name != "uvicorn.error":  # uvicorn.error propagates to "uvicorn"
            for handler in handlers:
                handler._ccp = True  # type: ignore[attr-defined]
                logger.addHandler(handler)
        else:
            logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # we log each request ourselves
    return logging.getLogger(LOGGER_NAME)


def redact_headers(headers: Sequence[Tuple[bytes, bytes]],
                   secret_names: Iterable[bytes]) -> List[Tuple[str, str]]:
    secret = set(secret_names)
    return [(n.decode("latin-1"), "***" if n in secret else v.decode("latin-1"))
            for n, v in headers]


class BodyDumper:
    """Writes request/response bodies to `log_dir/bodies/` (only constructed when log_body is on)."""

    def __init__(self, log_dir: str, secrets: Iterable[str]) -> None:
        self.directory = os.path.join(log_dir, "bodies")
        os.makedirs(self.directory, exist_ok=True)
        # Longest first, so a key that contains another key is replaced whole.
        self._secrets = sorted({s.encode("utf-8") for s in secrets if s and len(s) >= 4},
                               key=len, reverse=True)

    def redact(self, data: bytes) -> bytes:
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, b"***")
        return data

    def write(self, response_id: str, kind: str, data: bytes) -> Optional[str]:
        """One file per request and kind; the name is unique (time + random response id) and
        opened with O_EXCL, so concurrent requests and workers never share a file."""
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.time_ns() % 1_000_000_000:09d}-" \
               f"{response_id}-{kind}"
        path = os.path.join(self.directory, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(self.redact(data))
            return path
        except OSError as exc:
            logging.getLogger(LOGGER_NAME).warning("cannot write body dump %s: %s", path, exc)
            return None
