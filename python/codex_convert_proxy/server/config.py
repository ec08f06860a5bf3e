"""Proxy configuration: the crate's JSON format (unchanged), TOML, and this project's additions.

`load_config(path)` reads a file, `parse_config(data, source)` validates a dict. Every problem is
reported as `FILE: FIELD: PROBLEM` (all of them at once, in a `ConfigError`); unknown fields are
warnings (the crate ignored them too), with a "did you mean" hint for typos.
"""
from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

from ..providers import get_profile, profile_names

__all__ = [
    "Backend",
    "Config",
    "ConfigError",
    "HeaderRule",
    "MatchRules",
    "Retries",
    "Timeouts",
    "DEFAULT_LISTEN",
    "load_config",
    "parse_config",
    "parse_listen",
]

DEFAULT_LISTEN = "127.0.0.1:8280"
MIB = 1024 * 1024

# Accepted spellings of the one upstream protocol this proxy speaks (Chat Completions).
_CHAT_PROTOCOLS = {"openai", "chat", "chat_completions", "chat-completions", "openai-chat",
                   "openai_chat", "openai-compatible", "openai_compatible"}
# Headers a backend may not set: they belong to the HTTP connection or are computed per request.
_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive",
                      "upgrade", "te", "trailer", "proxy-connection"}
# Paths the proxy serves itself; a backend's path_prefix may not shadow them.
_RESERVED_PREFIXES = ("/v1", "/responses", "/health", "/metrics")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class ConfigError(Exception):
    """One or more configuration problems; `problems` holds `FILE: FIELD: PROBLEM` lines."""

    def __init__(self, problems: List[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0  # TCP+TLS connect, including waiting for a pooled connection
    read: float = 300.0  # idle read: max silence from the upstream (headers or between reads)
    total: float = 600.0  # whole exchange for non-streaming requests (streams have no total)


@dataclass(frozen=True)
class Retries:
    count: int = 2  # extra attempts after the first, only before the first byte to the client
    backoff_seconds: float = 0.5  # base of the exponential backoff (jittered)
    max_retry_after_seconds: float = 10.0  # a 429 asking to wait longer is passed to the client


@dataclass(frozen=True)
class HeaderRule:
    name: str  # lower-case
    value: str


@dataclass(frozen=True)
class MatchRules:
    path_prefix: Optional[str] = None  # normalised: leading "/", no trailing "/"
    header: Optional[HeaderRule] = None
    default: bool = False
    models: Tuple[str, ...] = ()  # exact names or fnmatch globs ("deepseek-*")

    def matches_model(self, model: str) -> bool:
        for pattern in self.models:
            if pattern == model or fnmatch.fnmatchcase(model, pattern):
                return True
        return False


@dataclass(frozen=True)
class Backend:
    name: str
    url: str  # base URL as configured (e.g. https://api.deepseek.com/v1)
    provider: str  # profile name used by the engine
    api_key: Optional[str] = field(default=None, repr=False)
    api_key_env: Optional[str] = None
    model: Optional[str] = None  # overrides the model the client asked for
    protocol: str = "openai"
    match_rules: MatchRules = MatchRules()
    timeouts: Timeouts = Timeouts()
    headers: Tuple[Tuple[str, str], ...] = ()
    extra_body: Optional[Dict[str, Any]] = None
    max_connections: int = 512

    @property
    def chat_url(self) -> str:
        return chat_completions_url(self.url)

    def passthrough_url(self, rest: str) -> str:
        """Upstream URL for a client path `/v1<rest>` (rest starts with "/")."""
        return versioned_base(self.url) + rest


@dataclass(frozen=True)
class Config:
    backends: Tuple[Backend, ...]
    listen: str = DEFAULT_LISTEN
    log_dir: Optional[str] = None
    log_body: bool = False
    log_level: str = "info"
    conversation_ttl_seconds: float = 7200.0
    conversation_max_entries: int = 4096
    conversation_max_bytes: int = 128 * MIB
    client_api_keys: Tuple[str, ...] = field(default=(), repr=False)
    retries: Retries = Retries()
    max_body_bytes: int = 32 * MIB
    keepalive_seconds: float = 15.0
    engine: Optional[str] = None
    trust_env: bool = False
    source: str = "<config>"
    warnings: Tuple[str, ...] = ()

    @property
    def host_port(self) -> Tuple[str, int]:
        return parse_listen(self.listen)

    def default_backend(self) -> Backend:
        for backend in self.backends:
            if backend.match_rules.default:
                return backend
        return self.backends[0]

    def to_dict(self) -> Dict[str, Any]:
        """The config in its own input format (for worker processes): parse_config(to_dict())
        gives the same Config. Keys read from the environment stay references to it."""
        backends = []
        for b in self.backends:
            entry: Dict[str, Any] = {"name": b.name, "url": b.url, "provider": b.provider,
                                     "protocol": b.protocol, "max_connections": b.max_connections}
            if b.api_key_env:
                entry["api_key_env"] = b.api_key_env
            elif b.api_key is not None:
                entry["api_key"] = b.api_key
            if b.model is not None:
                entry["model"] = b.model
            rules: Dict[str, Any] = {"default": b.match_rules.default}
            if b.match_rules.path_prefix:
                rules["path_prefix"] = b.match_rules.path_prefix
            if b.match_rules.header:
                rules["header"] = {"name": b.match_rules.header.name,
                                   "value": b.match_rules.header.value}
            if b.match_rules.models:
                rules["model"] = list(b.match_rules.models)
            entry["match_rules"] = rules
            entry["timeouts"] = {"connect": b.timeouts.connect, "read": b.timeouts.read,
                                 "total": b.timeouts.total}
            if b.headers:
                entry["headers"] = dict(b.headers)
            if b.extra_body is not None:
                entry["extra_body"] = b.extra_body
            backends.append(entry)
        out: Dict[str, Any] = {
            "listen": self.listen,
            "log_body": self.log_body,
            "log_level": self.log_level,
            "conversation_ttl_seconds": self.conversation_ttl_seconds,
            "conversation_max_entries": self.conversation_max_entries,
            "conversation_max_bytes": self.conversation_max_bytes,
            "client_api_keys": list(self.client_api_keys),
            "retries": {"count": self.retries.count,
                        "backoff_seconds": self.retries.backoff_seconds,
                        "max_retry_after_seconds": self.retries.max_retry_after_seconds},
            "max_body_bytes": self.max_body_bytes,
            "keepalive_seconds": self.keepalive_seconds,
            "trust_env": self.trust_env,
            "backends": backends,
        }
        if self.log_dir is not None:
            out["log_dir"] = self.log_dir
        if self.engine is not None:
            out["engine"] = self.engine
        return out


# --------------------------------------------------------------------------------------------
# URL helpers


_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*$")


def versioned_base(url: str) -> str:
    """The OpenAI-style base (".../v1") for an upstream URL.

    `https://api.deepseek.com/v1` and GLM's `https://open.bigmodel.cn/api/paas/v4` are used as
    given; a bare host (`http://127.0.0.1:8000`) gets `/v1`; a full endpoint URL ending in
    `/chat/completions` is cut back to its base.
    """
    base = url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base[: -len("/chat/completions")]
    if not urlsplit(base).path:
        return base + "/v1"
    return base


def chat_completions_url(url: str) -> str:
    base = url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return versioned_base(base) + "/chat/completions"


def parse_listen(listen: str) -> Tuple[str, int]:
    """`HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces) → (host, port)."""
    text = listen.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError("expected [IPV6]:PORT")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8280")
        if ":" in host:
            raise ValueError("write IPv6 addresses as [ADDR]:PORT")
        host = host or "0.0.0.0"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} is not a number in 0..65535")
    return host, int(port)


# --------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | os.PathLike, *, resolve_env: bool = True) -> Config:
    """Read and validate a JSON or TOML config file. Raises ConfigError."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    data = decode_text(text, source)
    return parse_config(data, source, resolve_env=resolve_env)


def decode_text(text: str, source: str) -> Any:
    """JSON or TOML text → data (by the file extension; JSON then TOML when it says nothing)."""
    suffix = Path(source).suffix.lower()
    if suffix == ".toml":
        return _decode_toml(text, source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if suffix == ".json":
            raise ConfigError([f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: "
                               f"{exc.msg}"]) from None
        try:  # no telling extension: TOML is the other format we read
            return _decode_toml(text, source)
        except ConfigError:
            raise ConfigError([f"{source}: neither valid JSON (line {exc.lineno} column "
                               f"{exc.colno}: {exc.msg}) nor valid TOML"]) from None


def _decode_toml(text: str, source: str) -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.9/3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: invalid TOML: {exc}"]) from None


# --------------------------------------------------------------------------------------------
# Validation


_TOP_KEYS = {"listen", "log_dir", "log_body", "log_level", "conversation_ttl_seconds",
             "conversation_max_entries", "conversation_max_bytes", "client_api_keys",
             "client_api_keys_env", "retries", "max_body_bytes", "keepalive_seconds", "engine",
             "trust_env", "backends"}
_BACKEND_KEYS = {"name", "url", "api_key", "api_key_env", "provider", "model", "protocol",
                 "match_rules", "timeouts", "headers", "extra_body", "max_connections"}
_RULE_KEYS = {"path_prefix", "header", "default", "model"}
_HEADER_KEYS = {"name", "value"}
_TIMEOUT_KEYS = {"connect", "read", "total"}
_RETRY_KEYS = {"count", "backoff_seconds", "max_retry_after_seconds"}
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class _Checker:
    """Collects problems and warnings while walking the config dict."""

    def __init__(self, source: str):
        self.source = source
        self.problems: List[str] = []
        self.warnings: List[str] = []

    def error(self, where: str, problem: str) -> None:
        self.problems.append(f"{self.source}: {where}: {problem}")

    def unknown_keys(self, obj: Dict[str, Any], known: set, where: str) -> None:
        for key in obj:
            if key in known or key.startswith("_") or key in ("comment", "$schema"):
                continue
            hint = difflib.get_close_matches(key, sorted(known), n=1)
            suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
            path = f"{where}.{key}" if where else key
            self.warnings.append(f"{self.source}: {path}: unknown field, ignored{suffix}")

    # Typed getters: return the default (and record a problem) when the type is wrong.
    def string(self, obj: Dict[str, Any], key: str, where: str, default: Optional[str] = None,
               required: bool = False, allow_empty: bool = False) -> Optional[str]:
        value = obj.get(key)
        if value is None:
            if required:
                self.error(where, "is required")
            return default
        if not isinstance(value, str):
            self.error(where, f"must be a string, not {_type_name(value)}")
            return default
        if not allow_empty and not value.strip():
            self.error(where, "must not be empty")
            return default
        return value

    def boolean(self, obj: Dict[str, Any], key: str, where: str, default: bool) -> bool:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(where, f"must be true or false, not {_type_name(value)}")
            return default
        return value

    def number(self, obj: Dict[str, Any], key: str, where: str, default: float, *,
               minimum: float = 0.0, integer: bool = False, positive: bool = False) -> Any:
        value = obj.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                integer and not isinstance(value, int)):
            kind = "an integer" if integer else "a number"
            self.error(where, f"must be {kind}, not {_type_name(value)}")
            return default
        if value != value or value in (float("inf"), float("-inf")):
            self.error(where, "must be a finite number")
            return default
        if positive and value <= 0:
            self.error(where, f"must be greater than 0, got {value}")
            return default
        if value < minimum:
            self.error(where, f"must be at least {minimum:g}, got {value}")
            return default
        return value

    def table(self, obj: Dict[str, Any], key: str, where: str) -> Optional[Dict[str, Any]]:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.error(where, f"must be an object/table, not {_type_name(value)}")
            return None
        return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_config(data: Any, source: str = "<config>", *, resolve_env: bool = True,
                 allow_no_backends: bool = False) -> Config:
    """Validate a config dict. `resolve_env=False` (check-config) reports unset `api_key_env`
    variables as warnings instead of errors. Raises ConfigError listing every problem."""
    c = _Checker(source)
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: the top level must be an object/table, "
                           f"not {_type_name(data)}"])
    c.unknown_keys(data, _TOP_KEYS, "")

    listen = c.string(data, "listen", "listen", DEFAULT_LISTEN) or DEFAULT_LISTEN
    try:
        parse_listen(listen)
    except ValueError as exc:
        c.error("listen", f"{listen!r}: {exc}")
        listen = DEFAULT_LISTEN

    log_dir = c.string(data, "log_dir", "log_dir")
    log_body = c.boolean(data, "log_body", "log_body", False)
    log_level = (c.string(data, "log_level", "log_level", "info") or "info").lower()
    if log_level not in _LOG_LEVELS:
        c.error("log_level", f"{log_level!r} is not one of {', '.join(_LOG_LEVELS)}")
        log_level = "info"
    ttl = c.number(data, "conversation_ttl_seconds", "conversation_ttl_seconds", 7200.0)
    max_entries = c.number(data, "conversation_max_entries", "conversation_max_entries", 4096,
                           integer=True)
    max_bytes = c.number(data, "conversation_max_bytes", "conversation_max_bytes", 128 * MIB,
                         integer=True)
    max_body = c.number(data, "max_body_bytes", "max_body_bytes", 32 * MIB, integer=True,
                        positive=True)
    keepalive = c.number(data, "keepalive_seconds", "keepalive_seconds", 15.0)
    trust_env = c.boolean(data, "trust_env", "trust_env", False)
    engine = c.string(data, "engine", "engine")
    if engine is not None and engine not in ("rust", "python"):
        c.error("engine", f"{engine!r} is not 'rust' or 'python'")
        engine = None

    client_keys = _client_keys(c, data, resolve_env)
    retries = _retries(c, data.get("retries"))

    backends: List[Backend] = []
    raw_backends = data.get("backends")
    if raw_backends is None:
        if not allow_no_backends:
            c.error("backends", "is required: a list with at least one backend")
    elif not isinstance(raw_backends, list):
        c.error("backends", f"must be a list, not {_type_name(raw_backends)}")
    elif not raw_backends and not allow_no_backends:
        c.error("backends", "must list at least one backend")
    else:
        for i, raw in enumerate(raw_backends):
            backend = _backend(c, raw, f"backends[{i}]", resolve_env)
            if backend is not None:
                backends.append(backend)
        _check_backend_set(c, raw_backends, backends)

    if c.problems:
        raise ConfigError(c.problems)
    return Config(
        backends=tuple(backends), listen=listen, log_dir=log_dir, log_body=log_body,
        log_level=log_level, conversation_ttl_seconds=float(ttl),
        conversation_max_entries=int(max_entries), conversation_max_bytes=int(max_bytes),
        client_api_keys=client_keys, retries=retries, max_body_bytes=int(max_body),
        keepalive_seconds=float(keepalive), engine=engine, trust_env=trust_env, source=source,
        warnings=tuple(c.warnings))


def _client_keys(c: _Checker, data: Dict[str, Any], resolve_env: bool) -> Tuple[str, ...]:
    keys: List[str] = []
    raw = data.get("client_api_keys")
    if raw is not None:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list):
            c.error("client_api_keys", f"must be a list of strings, not {_type_name(raw)}")
        else:
            for i, key in enumerate(raw):
                if not isinstance(key, str) or not key.strip():
                    c.error(f"client_api_keys[{i}]", "must be a non-empty string")
                else:
                    keys.append(key.strip())
    env_name = c.string(data, "client_api_keys_env", "client_api_keys_env")
    if env_name:
        value = os.environ.get(env_name)
        if value is None:
            msg = f"environment variable {env_name} is not set"
            if resolve_env:
                c.error("client_api_keys_env", msg)
            else:
                c.warnings.append(f"{c.source}: client_api_keys_env: {msg}")
        else:
            keys.extend(k.strip() for k in value.split(",") if k.strip())
    return tuple(keys)


def _retries(c: _Checker, raw: Any) -> Retries:
    if raw is None:
        return Retries()
    if isinstance(raw, bool) or not isinstance(raw, (int, dict)):
        c.error("retries", f"must be a count or an object, not {_type_name(raw)}")
        return Retries()
    if isinstance(raw, int):
        if raw < 0:
            c.error("retries", f"must be at least 0, got {raw}")
            return Retries()
        return Retries(count=raw)
    c.unknown_keys(raw, _RETRY_KEYS, "retries")
    return Retries(
        count=int(c.number(raw, "count", "retries.count", 2, integer=True)),
        backoff_seconds=float(c.number(raw, "backoff_seconds", "retries.backoff_seconds", 0.5)),
        max_retry_after_seconds=float(c.number(raw, "max_retry_after_seconds",
                                               "retries.max_retry_after_seconds", 10.0)))


def _backend(c: _Checker, raw: Any, where: str, resolve_env: bool) -> Optional[Backend]:
    if not isinstance(raw, dict):
        c.error(where, f"must be an object/table, not {_type_name(raw)}")
        return None
    c.unknown_keys(raw, _BACKEND_KEYS, where)
    before = len(c.problems)

    name = c.string(raw, "name", f"{where}.name", required=True) or ""
    if name and not _NAME_RE.match(name):
        c.error(f"{where}.name", f"{name!r} may only hold letters, digits, '.', '_' and '-' "
                                 "(at most 64 characters)")

    provider_name = c.string(raw, "provider", f"{where}.provider")
    if provider_name is not None:
        key = provider_name.strip().lower()
        if not _known_provider(key):
            c.error(f"{where}.provider", f"unknown provider {provider_name!r}; known: "
                                         f"{', '.join(sorted(profile_names()))} (and aliases)")
        provider = get_profile(key).name
    else:
        # The crate's way: the backend name selects the profile ("glm", "kimi", ...); any other
        # name is a generic OpenAI-compatible upstream.
        provider = get_profile(name).name

    url = c.string(raw, "url", f"{where}.url")
    if url is None and "url" not in raw:
        if provider == "openai":
            c.error(f"{where}.url", "is required (a generic backend has no default upstream)")
        else:
            url = get_profile(provider).default_base_url
    if url is not None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            c.error(f"{where}.url", f"{url!r} is not an http(s) URL with a host")
        elif parts.query or parts.fragment:
            c.error(f"{where}.url", f"{url!r} must not carry a query or fragment")
        else:
            try:
                parts.port
            except ValueError:
                c.error(f"{where}.url", f"{url!r} has an invalid port")
        url = url.strip()

    api_key = raw.get("api_key")
    api_key_env = c.string(raw, "api_key_env", f"{where}.api_key_env")
    if api_key is not None and not isinstance(api_key, str):
        c.error(f"{where}.api_key", f"must be a string, not {_type_name(api_key)}")
        api_key = None
    if api_key and api_key_env:
        c.error(f"{where}.api_key_env", "set either api_key or api_key_env, not both")
    if api_key_env:
        env_value = os.environ.get(api_key_env)
        if env_value is None:
            msg = f"environment variable {api_key_env} is not set"
            if resolve_env:
                c.error(f"{where}.api_key_env", msg)
            else:
                c.warnings.append(f"{c.source}: {where}.api_key_env: {msg}")
        api_key = env_value
    if api_key == "":
        api_key = None  # the crate's configs use "" for keyless local servers

    model = c.string(raw, "model", f"{where}.model")
    protocol = (c.string(raw, "protocol", f"{where}.protocol", "openai") or "openai")
    if protocol.strip().lower() not in _CHAT_PROTOCOLS:
        hint = (" (this proxy converts to Chat Completions upstreams only)"
                if protocol.strip().lower() in ("anthropic", "responses", "claude") else "")
        c.error(f"{where}.protocol", f"{protocol!r} is not supported; use \"openai\"{hint}")
    protocol = "openai"

    rules = _match_rules(c, raw.get("match_rules"), f"{where}.match_rules")
    timeouts = _timeouts(c, raw.get("timeouts"), f"{where}.timeouts")

    headers: List[Tuple[str, str]] = []
    raw_headers = c.table(raw, "headers", f"{where}.headers")
    for key, value in (raw_headers or {}).items():
        hw = f"{where}.headers.{key}"
        if not _HEADER_NAME_RE.match(key):
            c.error(hw, "is not a valid HTTP header name")
        elif key.lower() in _FORBIDDEN_HEADERS:
            c.error(hw, "is managed by the proxy and cannot be set")
        elif not isinstance(value, str) or "\n" in value or "\r" in value:
            c.error(hw, "must be a single-line string")
        else:
            headers.append((key, value))
    extra_body = c.table(raw, "extra_body", f"{where}.extra_body")
    max_conn = c.number(raw, "max_connections", f"{where}.max_connections", 512, integer=True,
                        positive=True)

    if len(c.problems) > before:
        return None
    return Backend(name=name, url=url or "", provider=provider, api_key=api_key,
                   api_key_env=api_key_env, model=model, protocol=protocol, match_rules=rules,
                   timeouts=timeouts, headers=tuple(headers), extra_body=extra_body,
                   max_connections=int(max_conn))


def _known_provider(key: str) -> bool:
    for name in profile_names():
        if key == name or key in get_profile(name).aliases:
            return True
    return False


def _match_rules(c: _Checker, raw: Any, where: str) -> MatchRules:
    if raw is None:
        return MatchRules()
    if not isinstance(raw, dict):
        c.error(where, f"must be an object/table, not {_type_name(raw)}")
        return MatchRules()
    c.unknown_keys(raw, _RULE_KEYS, where)
    prefix = c.string(raw, "path_prefix", f"{where}.path_prefix")
    if prefix is not None:
        prefix = "/" + prefix.strip().strip("/")
        if prefix == "/":
            prefix = None  # "/" matches everything: same as no prefix
        elif any(ch in prefix for ch in "?#% ") or "//" in prefix:
            c.error(f"{where}.path_prefix", f"{prefix!r} is not a plain URL path")
        elif any(prefix == r or prefix.startswith(r + "/") for r in _RESERVED_PREFIXES):
            c.error(f"{where}.path_prefix", f"{prefix!r} would shadow the proxy's own routes "
                                            f"({', '.join(_RESERVED_PREFIXES)})")
    header = None
    raw_header = c.table(raw, "header", f"{where}.header")
    if raw_header is not None:
        c.unknown_keys(raw_header, _HEADER_KEYS, f"{where}.header")
        hname = c.string(raw_header, "name", f"{where}.header.name", required=True)
        hvalue = c.string(raw_header, "value", f"{where}.header.value", required=True,
                          allow_empty=True)
        if hname is not None and not _HEADER_NAME_RE.match(hname):
            c.error(f"{where}.header.name", f"{hname!r} is not a valid HTTP header name")
        elif hname is not None and hvalue is not None:
            header = HeaderRule(hname.lower(), hvalue)
    default = c.boolean(raw, "default", f"{where}.default", False)
    models: List[str] = []
    raw_models = raw.get("model")
    if raw_models is not None:
        if isinstance(raw_models, str):
            raw_models = [raw_models]
        if not isinstance(raw_models, list):
            c.error(f"{where}.model", f"must be a model name or a list of them, not "
                                      f"{_type_name(raw_models)}")
        else:
            for i, m in enumerate(raw_models):
                if not isinstance(m, str) or not m.strip():
                    c.error(f"{where}.model[{i}]", "must be a non-empty string")
                else:
                    models.append(m.strip())
    return MatchRules(path_prefix=prefix, header=header, default=default, models=tuple(models))


def _timeouts(c: _Checker, raw: Any, where: str) -> Timeouts:
    if raw is None:
        return Timeouts()
    if not isinstance(raw, dict):
        c.error(where, f"must be an object/table, not {_type_name(raw)}")
        return Timeouts()
    c.unknown_keys(raw, _TIMEOUT_KEYS, where)
    d = Timeouts()
    return Timeouts(
        connect=float(c.number(raw, "connect", f"{where}.connect", d.connect, positive=True)),
        read=float(c.number(raw, "read", f"{where}.read", d.read, positive=True)),
        total=float(c.number(raw, "total", f"{where}.total", d.total, positive=True)))


def _check_backend_set(c: _Checker, raw: List[Any], backends: List[Backend]) -> None:
    if len(backends) != len(raw):
        return  # the broken entries were reported already
    seen: Dict[str, int] = {}
    prefixes: Dict[str, int] = {}
    defaults = []
    for i, b in enumerate(backends):
        if b.name in seen:
            c.error(f"backends[{i}].name", f"{b.name!r} is already used by backends[{seen[b.name]}]")
        seen.setdefault(b.name, i)
        p = b.match_rules.path_prefix
        if p:
            if p in prefixes:
                c.error(f"backends[{i}].match_rules.path_prefix",
                        f"{p!r} is already used by backends[{prefixes[p]}]")
            prefixes.setdefault(p, i)
        if b.match_rules.default:
            defaults.append(i)
    if len(defaults) > 1:
        c.error(f"backends[{defaults[1]}].match_rules.default",
                f"only one backend can be the default (backends[{defaults[0]}] is already)")
