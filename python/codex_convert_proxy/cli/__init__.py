"""`codex-convert-proxy`: serve the proxy, run the mock upstream, write/check configs, print the
Codex config snippet.

Exit codes: 0 ok, 2 usage or configuration error, 1 runtime failure (e.g. the port is taken).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["main"]

DEFAULT_CONFIG_PATH = "config.json"
_LOG_LEVELS = ["critical", "error", "warning", "info", "debug", "trace"]


class UsageError(Exception):
    """A bad combination of arguments or a bad config: exit 2."""


def main(argv: Optional[Sequence[str]] = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # mock-upstream has its own parser (and --help): hand it the rest untouched.
    if args_list and args_list[0] == "mock-upstream":
        from ..mock import main as mock_main

        return _exit_code(lambda: mock_main(args_list[1:]))
    parser = _parser()
    args = parser.parse_args(args_list)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"codex-convert-proxy: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:  # `codex-convert-proxy codex-config | head`: not an error to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _exit_code(call: Any) -> int:
    try:
        return int(call() or 0)
    except SystemExit as exc:  # argparse inside the mock
        return exc.code if isinstance(exc.code, int) else 2


def _version() -> str:
    try:
        from .. import __version__

        return __version__
    except ImportError:  # pragma: no cover
        return "unknown"


# ------------------------------------------------------------------------------- parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codex-convert-proxy",
        description="Let Codex CLI and other OpenAI Responses API clients use providers that "
                    "only speak Chat Completions (DeepSeek, GLM, Kimi, MiniMax, Qwen, vLLM, "
                    "Ollama, OpenRouter, ...).",
        epilog="Exit codes: 0 ok, 2 usage or configuration error, 1 runtime failure.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name in ("serve", "start"):
        p = sub.add_parser(
            name, help="run the proxy" + (" (alias of serve)" if name == "start" else ""),
            description="Run the proxy. Backends come from --config, or from --provider/"
                        "--upstream-url for a single backend; with neither, the proxy serves "
                        "the built-in mock upstream (a demo that works offline).")
        p.add_argument("--config", "-c", metavar="FILE", help="config file (JSON or TOML)")
        p.add_argument("--listen", metavar="HOST:PORT",
                       help="address to listen on (default 127.0.0.1:8280; port 0 = any free)")
        p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="worker processes (default 1)")
        p.add_argument("--engine", choices=["rust", "python"],
                       help="conversion engine (default: rust when built, else python)")
        p.add_argument("--log-level", choices=_LOG_LEVELS, help="log level (default info)")
        p.add_argument("--log-dir", metavar="DIR", help="also write logs to DIR/proxy.log")
        p.add_argument("--log-body", action="store_true",
                       help="dump request/response bodies to LOG_DIR/bodies (keys redacted)")
        single = p.add_argument_group("single backend without a config file")
        single.add_argument("--provider", metavar="NAME",
                            help="provider profile: deepseek, glm, kimi, minimax, qwen, openai "
                                 "(generic)")
        single.add_argument("--upstream-url", metavar="URL",
                            help="upstream base URL, e.g. https://api.deepseek.com/v1")
        key = single.add_mutually_exclusive_group()
        key.add_argument("--api-key", metavar="KEY", help="upstream API key")
        key.add_argument("--api-key-env", metavar="VAR",
                         help="environment variable holding the upstream API key")
        single.add_argument("--model", metavar="M",
                            help="model sent upstream (overrides the client's)")
        p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("mock-upstream", help="run the scripted Chat Completions mock server "
                                             "(see `mock-upstream --help`)", add_help=False)
    p.set_defaults(func=lambda a: 0)

    p = sub.add_parser("init", help="write an example config",
                       description="Write an example config (JSON, or TOML when PATH ends in "
                                   ".toml; '-' prints it).")
    p.add_argument("path", nargs="?", default=DEFAULT_CONFIG_PATH, metavar="PATH",
                   help=f"where to write it (default {DEFAULT_CONFIG_PATH})")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=_cmd_init)

    p = sub.add_parser("check-config", help="validate a config file (exit 0 ok, 2 invalid)",
                       description="Validate a config file: every problem is printed as "
                                   "FILE: FIELD: PROBLEM. Exit 0 when valid, 2 when not.")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--strict", action="store_true",
                   help="treat warnings (unknown fields, unset key variables) as errors")
    p.set_defaults(func=_cmd_check_config)

    p = sub.add_parser("codex-config", help="print the Codex config.toml snippet for this proxy",
                       description="Print the ~/.codex/config.toml lines that point Codex at "
                                   "this proxy (a model_provider with wire_api = \"responses\").")
    p.add_argument("--config", "-c", metavar="FILE", help="the proxy's config file")
    p.add_argument("--backend", metavar="NAME",
                   help="backend to target (its path_prefix and model); default: the default "
                        "backend")
    p.add_argument("--listen", metavar="HOST:PORT", help="where the proxy listens (overrides "
                                                         "the config)")
    p.add_argument("--model", metavar="M", help="model Codex asks for (default: the backend's "
                                                 "model, else YOUR-MODEL)")
    p.add_argument("--env-key", default="CODEX_CONVERT_PROXY_API_KEY", metavar="VAR",
                   help="environment variable Codex reads the key from "
                        "(default CODEX_CONVERT_PROXY_API_KEY)")
    p.set_defaults(func=_cmd_codex_config)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# ------------------------------------------------------------------------------- config


def _load_raw(path: str) -> Dict[str, Any]:
    from ..server.config import ConfigError, decode_text

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    try:
        data = decode_text(text, path)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the top level must be an object/table")
    return data


def _build_config(args: argparse.Namespace) -> Any:
    """The serve config: file, then command-line overrides. Returns (Config, demo: bool)."""
    from ..server.config import ConfigError, parse_config, parse_listen

    single = args.provider or args.upstream_url or args.api_key or args.api_key_env or args.model
    if args.config and (args.provider or args.upstream_url):
        raise UsageError("use either --config or --provider/--upstream-url, not both")
    if (args.api_key or args.api_key_env or args.model) and not (args.provider or
                                                                  args.upstream_url):
        if not args.config:
            raise UsageError("--api-key/--api-key-env/--model need --provider or --upstream-url")
        raise UsageError("--api-key/--api-key-env/--model apply to --provider/--upstream-url; "
                         "with --config set them in the file")
    if args.listen:
        try:
            parse_listen(args.listen)
        except ValueError as exc:
            raise UsageError(f"--listen {args.listen!r}: {exc}") from None

    source = args.config or "<command line>"
    data: Dict[str, Any] = _load_raw(args.config) if args.config else {}
    if single:
        data["backends"] = [_single_backend(args)]
    if args.listen:
        data["listen"] = args.listen
    if args.log_level:
        data["log_level"] = args.log_level
    if args.log_dir:
        data["log_dir"] = args.log_dir
    if args.log_body:
        data["log_body"] = True
    if args.engine:
        data["engine"] = args.engine
    demo = not data.get("backends") and not args.config
    try:
        config = parse_config(data, source, allow_no_backends=demo)
    except ConfigError as exc:
        raise UsageError(str(exc) if args.config else _flag_names(str(exc))) from None
    return config, demo


def _flag_names(message: str) -> str:
    """Config field names → the flags that set them, for command-line-only configs."""
    for field, flag in (("backends[0].url", "--upstream-url"),
                        ("backends[0].provider", "--provider"),
                        ("backends[0].api_key_env", "--api-key-env"),
                        ("backends[0].model", "--model"), ("backends[0].name", "--provider")):
        message = message.replace(f"<command line>: {field}:", f"{flag}:")
    return message.replace("<command line>: ", "")


def _single_backend(args: argparse.Namespace) -> Dict[str, Any]:
    from ..providers import get_profile

    provider = args.provider or "openai"
    backend: Dict[str, Any] = {"name": get_profile(provider).name, "provider": provider,
                               "match_rules": {"default": True}}
    if args.upstream_url:
        backend["url"] = args.upstream_url
    if args.api_key is not None:
        backend["api_key"] = args.api_key
    if args.api_key_env:
        backend["api_key_env"] = args.api_key_env
    if args.model:
        backend["model"] = args.model
    return backend


# ------------------------------------------------------------------------------- serve


def _cmd_serve(args: argparse.Namespace) -> int:
    from .. import _engines
    from ..server.config import parse_config
    from ..server.log import setup_logging

    import warnings

    config, demo = _build_config(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the banner names the engine
        try:
            engine = _engines.resolve_engine(config.engine)
        except ValueError as exc:
            raise UsageError(f"--engine: {exc}") from None
    os.environ[_engines.ENV_VAR] = engine  # worker processes resolve the same engine

    mock = None
    if demo:
        from ..mock import MockUpstream

        mock = MockUpstream().start()
        data = config.to_dict()
        data["backends"] = [{"name": "mock", "url": mock.base_url, "provider": "openai",
                             "match_rules": {"default": True}}]
        config = parse_config(data, "<built-in mock>")

    # After the mock: its uvicorn config would otherwise replace our log handlers.
    log = setup_logging(config.log_level, config.log_dir)
    for warning in config.warnings:
        log.warning("%s", warning)
    if engine == "python" and _engines.rust_engine is None:
        log.info("rust engine not available (%s); using the pure-Python engine",
                 _engines.RUST_IMPORT_ERROR)
    try:
        return _serve(config, engine, args.workers, demo, mock)
    finally:
        if mock is not None:
            mock.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _serve(config: Any, engine: str, workers: int, demo: bool, mock: Any) -> int:
    import uvicorn

    from ..server.app import CONFIG_ENV, ProxyApp
    from ..server.log import LOGGER_NAME
    from ..server.metrics import METRICS_DIR_ENV
    from ..server.store import STORE_DIR_ENV

    import logging

    log = logging.getLogger(LOGGER_NAME)
    host, port = config.host_port
    try:
        sock = _bind(host, port)
    except OSError as exc:
        print(f"codex-convert-proxy: cannot listen on {config.listen}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 1
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it with the previous handler:
    # make that handler a clean exit, so cleanups run (mock, metrics dir) and the status is 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}"

    common = dict(loop="auto", http="auto", ws="none", lifespan="on", access_log=False,
                  log_config=None,
                  log_level=config.log_level if config.log_level != "trace" else "debug",
                  timeout_keep_alive=30, timeout_graceful_shutdown=30, backlog=2048,
                  server_header=False)
    shared_dirs: List[str] = []
    try:
        if workers == 1:
            app = ProxyApp(config, engine=engine)
            uv_config = uvicorn.Config(app, **common)
        else:
            # Workers share metrics snapshots and the previous_response_id store through
            # private directories (in RAM when /dev/shm is there), removed on exit.
            base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
            metrics_dir = tempfile.mkdtemp(prefix="ccp-metrics-", dir=base)
            store_dir = tempfile.mkdtemp(prefix="ccp-store-", dir=base)
            shared_dirs += [metrics_dir, store_dir]
            os.environ[METRICS_DIR_ENV] = metrics_dir
            os.environ[STORE_DIR_ENV] = store_dir
            os.environ[CONFIG_ENV] = json.dumps(config.to_dict())
            uv_config = uvicorn.Config("codex_convert_proxy.server.app:app_from_env",
                                       factory=True, workers=workers, **common)
        _banner(log, config, url, engine, workers, demo, mock)
        if workers == 1:
            server = uvicorn.Server(uv_config)
            server.run(sockets=[sock])
            if not server.started:
                return 1
        else:
            _run_workers(uv_config, sock)
        return 0
    finally:
        sock.close()
        for directory in shared_dirs:
            shutil.rmtree(directory, ignore_errors=True)


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _run_workers(uv_config: Any, sock: socket.socket) -> None:
    import inspect

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if "target" in inspect.signature(Multiprocess.__init__).parameters:  # uvicorn < 0.30
        Multiprocess(uv_config, target=uvicorn.Server(uv_config).run, sockets=[sock]).run()
    else:
        Multiprocess(uv_config, sockets=[sock]).run()


def _banner(log: Any, config: Any, url: str, engine: str, workers: int, demo: bool,
            mock: Any) -> None:
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    lines = [f"codex-convert-proxy {_version()} listening on {url} "
             f"(engine {engine}, {workers} worker{'s' if workers > 1 else ''}, {loop}/{http})"]
    if demo:
        lines.append(f"no backend configured: using the built-in mock upstream at "
                     f"{mock.base_url} (demo mode; `codex-convert-proxy init` writes a real "
                     f"config)")
    default = config.default_backend()
    for b in config.backends:
        rules = []
        if b.match_rules.path_prefix:
            rules.append(f"prefix {b.match_rules.path_prefix}")
        if b.match_rules.header:
            rules.append(f"header {b.match_rules.header.name}={b.match_rules.header.value}")
        if b.match_rules.models:
            rules.append("model " + "|".join(b.match_rules.models))
        if b is default:
            rules.append("default")
        model = f", model {b.model}" if b.model else ""
        lines.append(f"  backend {b.name} (provider {b.provider}{model}) -> {b.chat_url}"
                     + (f" [{'; '.join(rules)}]" if rules else ""))
    lines.append(f"  Responses API: {url}/v1/responses   health: {url}/health   "
                 f"metrics: {url}/metrics")
    for line in lines:
        print(line, flush=True)


# ------------------------------------------------------------------------------- init


_EXAMPLE_JSON: Dict[str, Any] = {
    "listen": "127.0.0.1:8280",
    "log_dir": "logs",
    "log_body": False,
    "conversation_ttl_seconds": 7200,
    "client_api_keys": [],
    "retries": {"count": 2, "backoff_seconds": 0.5, "max_retry_after_seconds": 10},
    "max_body_bytes": 33554432,
    "keepalive_seconds": 15,
    "backends": [
        {"name": "deepseek", "url": "https://api.deepseek.com/v1",
         "api_key_env": "DEEPSEEK_API_KEY", "model": "deepseek-chat", "protocol": "openai",
         "match_rules": {"default": True, "model": ["deepseek-*"]},
         "timeouts": {"connect": 10, "read": 300, "total": 600}},
        {"name": "glm", "url": "https://open.bigmodel.cn/api/paas/v4",
         "api_key_env": "ZHIPU_API_KEY", "model": "glm-4.6", "protocol": "openai",
         "match_rules": {"path_prefix": "/glm", "model": ["glm-*"]}},
        {"name": "kimi", "url": "https://api.moonshot.ai/v1", "api_key_env": "MOONSHOT_API_KEY",
         "model": "kimi-k2-thinking", "protocol": "openai",
         "match_rules": {"header": {"name": "x-backend", "value": "kimi"},
                         "model": ["kimi-*"]}},
    ],
}

_EXAMPLE_TOML = """\
# codex-convert-proxy configuration (TOML; the same fields work in JSON).
# Validate with: codex-convert-proxy check-config {path}

listen = "127.0.0.1:8280"        # HOST:PORT
log_dir = "logs"                 # also log to logs/proxy.log; omit for stderr only
log_body = false                 # dump bodies to log_dir/bodies (keys redacted) - debugging only
conversation_ttl_seconds = 7200  # previous_response_id memory (0 disables it)
client_api_keys = []             # inbound keys clients must send (empty: no inbound auth)
max_body_bytes = 33554432        # larger requests get 413
keepalive_seconds = 15           # keep-alive event after this much stream silence

[retries]                        # before the first byte only: connect errors, 5xx, short 429s
count = 2
backoff_seconds = 0.5
max_retry_after_seconds = 10     # a 429 asking to wait longer goes to the client

[[backends]]
name = "deepseek"                # also selects the provider profile unless `provider` is set
url = "https://api.deepseek.com/v1"
api_key_env = "DEEPSEEK_API_KEY" # or api_key = "sk-..."
model = "deepseek-chat"          # sent upstream whatever the client asked for
protocol = "openai"
[backends.match_rules]
default = true
model = ["deepseek-*"]           # requests for these models come here
[backends.timeouts]
connect = 10
read = 300                       # idle read timeout (streams have no total timeout)
total = 600                      # non-streaming requests

[[backends]]
name = "glm"
url = "https://open.bigmodel.cn/api/paas/v4"
api_key_env = "ZHIPU_API_KEY"
model = "glm-4.6"
[backends.match_rules]
path_prefix = "/glm"             # http://127.0.0.1:8280/glm/v1/responses

[[backends]]
name = "kimi"
url = "https://api.moonshot.ai/v1"
api_key_env = "MOONSHOT_API_KEY"
model = "kimi-k2-thinking"
[backends.match_rules]
header = {{ name = "x-backend", value = "kimi" }}
model = ["kimi-*"]
"""


def _cmd_init(args: argparse.Namespace) -> int:
    path = args.path
    toml = path.lower().endswith(".toml")
    text = (_EXAMPLE_TOML.format(path=path) if toml
            else json.dumps(_EXAMPLE_JSON, indent=2) + "\n")
    if path == "-":
        sys.stdout.write(text)
        return 0
    target = Path(path)
    if target.exists() and not args.force:
        print(f"codex-convert-proxy: {path} exists (use --force to overwrite)", file=sys.stderr)
        return 1
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"codex-convert-proxy: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}; set the API key variables it names, then: "
          f"codex-convert-proxy serve --config {path}")
    return 0


# ------------------------------------------------------------------------------- check-config


def _cmd_check_config(args: argparse.Namespace) -> int:
    from ..server.config import ConfigError, load_config

    try:
        config = load_config(args.path, resolve_env=False)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.strict and config.warnings:
        return 2
    default = config.default_backend()
    print(f"{args.path}: ok — listen {config.listen}, {len(config.backends)} backend(s)")
    for b in config.backends:
        mark = " (default)" if b is default else ""
        print(f"  {b.name}: provider {b.provider} -> {b.chat_url}{mark}")
    return 0


# ------------------------------------------------------------------------------- codex-config


def _cmd_codex_config(args: argparse.Namespace) -> int:
    from ..server.config import DEFAULT_LISTEN, ConfigError, load_config, parse_listen

    config = None
    if args.config:
        try:
            config = load_config(args.config, resolve_env=False)
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
            return 2
    listen = args.listen or (config.listen if config else DEFAULT_LISTEN)
    try:
        host, port = parse_listen(listen)
    except ValueError as exc:
        raise UsageError(f"--listen {listen!r}: {exc}") from None
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    backend = None
    if config is not None:
        if args.backend:
            backend = next((b for b in config.backends if b.name == args.backend), None)
            if backend is None:
                names = ", ".join(b.name for b in config.backends)
                raise UsageError(f"--backend {args.backend!r}: no such backend (have {names})")
        else:
            backend = config.default_backend()
    elif args.backend:
        raise UsageError("--backend needs --config")

    prefix = backend.match_rules.path_prefix if backend and backend.match_rules.path_prefix \
        else ""
    if args.model:
        model = args.model
    elif backend is not None and backend.model:
        model = backend.model
    elif backend is not None and backend.match_rules.models and \
            "*" not in backend.match_rules.models[0]:
        model = backend.match_rules.models[0]
    else:
        model = "YOUR-MODEL"
    provider_id = "codex-convert-proxy" + (f"-{backend.name}" if backend else "")
    label = f"codex-convert-proxy ({backend.name})" if backend else "codex-convert-proxy"
    auth = (f"# export {args.env_key}=<one of the proxy's client_api_keys>"
            if config is not None and config.client_api_keys else
            f"# export {args.env_key}=anything  (the proxy has no client_api_keys, any value "
            "works)")
    lines = [
        "# ~/.codex/config.toml — point Codex at codex-convert-proxy",
        auth,
        f'model = "{model}"',
        f'model_provider = "{provider_id}"',
        "",
        f"[model_providers.{provider_id}]",
        f'name = "{label}"',
        f'base_url = "http://{shown}:{port}{prefix}/v1"',
        'wire_api = "responses"',
        f'env_key = "{args.env_key}"',
    ]
    print("\n".join(lines))
    return 0
