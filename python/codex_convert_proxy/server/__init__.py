"""The HTTP proxy: a raw ASGI app on uvicorn (see app.py), its config, upstream client,
streaming relay, errors, metrics and conversation store."""
from __future__ import annotations

from .app import ProxyApp, app_from_env, create_app
from .config import Config, ConfigError, load_config, parse_config

__all__ = ["ProxyApp", "create_app", "app_from_env", "Config", "ConfigError", "load_config",
           "parse_config"]
