"""The mock upstream: a scripted Chat Completions server (format in MOCK_SCRIPT.md).

`codex-convert-proxy mock-upstream` runs `main(argv)`; tests embed it with `MockUpstream` or
serve `create_app(...)` with any ASGI server.
"""
from __future__ import annotations

from .app import MockUpstreamApp, create_app
from .scenarios import SCENARIOS, scenario_names
from .script import ScriptError, load_script
from .server import DEFAULT_LISTEN, MockUpstream, main

__all__ = [
    "create_app",
    "main",
    "MockUpstream",
    "MockUpstreamApp",
    "ScriptError",
    "load_script",
    "SCENARIOS",
    "scenario_names",
    "DEFAULT_LISTEN",
]
