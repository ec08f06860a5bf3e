"""Provider profiles: provider differences as data, read from profiles.json.

The Rust engine compiles the same file in (include_str!), so there is one table for both engines.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Tuple

__all__ = ["Profile", "get_profile", "profile_names", "DEFAULT_PROFILE"]

DEFAULT_PROFILE = "openai"
_TABLE_PATH = Path(__file__).with_name("profiles.json")


@dataclass(frozen=True)
class Profile:
    name: str
    aliases: Tuple[str, ...]
    default_base_url: str
    max_tokens_field: str  # "max_tokens" | "max_completion_tokens"
    string_content: bool  # text-only content sent as one string
    system_at_front: bool  # all system/developer text merged into one leading system message
    replay_reasoning: bool  # reasoning replayed as reasoning_content on assistant messages
    reasoning_param: str  # "reasoning_effort" | "thinking" | "enable_thinking" | "none"
    think_tags: str  # "off" | "on" | "implicit"
    tool_images: bool  # images may stay inside tool messages


@lru_cache(maxsize=None)
def _table() -> Dict[str, Profile]:
    raw = json.loads(_TABLE_PATH.read_text(encoding="utf-8"))
    table: Dict[str, Profile] = {}
    for name, fields in raw.items():
        if name.startswith("_"):
            continue
        fields = dict(fields)
        fields["aliases"] = tuple(fields.get("aliases", ()))
        table[name] = Profile(name=name, **fields)
    return table


@lru_cache(maxsize=None)
def _index() -> Dict[str, Profile]:
    index: Dict[str, Profile] = {}
    for profile in _table().values():
        index[profile.name] = profile
        for alias in profile.aliases:
            index[alias] = profile
    return index


def get_profile(name: str | None) -> Profile:
    """The profile for a provider or backend name (case-insensitive, aliases allowed).

    Unknown names get the generic OpenAI-compatible profile.
    """
    key = (name or "").strip().lower()
    return _index().get(key) or _table()[DEFAULT_PROFILE]


def profile_names() -> Tuple[str, ...]:
    return tuple(_table())
