"""Loading and checking mock scripts (`{"turns": [TURN, ...]}`, format in MOCK_SCRIPT.md)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Union

from .chunks import is_control_event

__all__ = ["ScriptError", "load_script", "check_script"]


class ScriptError(ValueError):
    """A script that does not follow the format; the message names the turn and the problem."""


def load_script(source: Union[str, Path, dict, list]) -> List[dict]:
    """Turns from a path to a JSON file, a parsed `{"turns": [...]}` object, or a list of turns."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ScriptError(f"cannot read script {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ScriptError(f"script {path} is not valid JSON: {exc}") from None
        try:
            return check_script(data)
        except ScriptError as exc:
            raise ScriptError(f"script {path}: {exc}") from None
    return check_script(source)


def check_script(data: Any) -> List[dict]:
    turns = data.get("turns") if isinstance(data, dict) else data
    if not isinstance(turns, list) or not turns:
        raise ScriptError('expected {"turns": [TURN, ...]} with at least one turn')
    for number, turn in enumerate(turns, 1):
        _check_turn(number, turn)
    return turns


def _check_turn(number: int, turn: Any) -> None:
    where = f"turn {number}"
    if not isinstance(turn, dict):
        raise ScriptError(f"{where}: a turn is an object, got {type(turn).__name__}")
    if not any(key in turn for key in ("stream", "json", "status")):
        raise ScriptError(f'{where}: needs "stream", "json" or "status"')
    status = turn.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ScriptError(f"{where}: status must be an HTTP status code, got {status!r}")
    headers = turn.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, (str, int)) for v in headers.values()):
        raise ScriptError(f"{where}: headers must be an object of strings")
    for key in ("pace_ms",):
        value = turn.get(key, 0)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ScriptError(f"{where}: {key} must be a number >= 0")
    if "text" in turn and not isinstance(turn["text"], str):
        raise ScriptError(f"{where}: text must be a string")
    if "stream" not in turn:
        return
    stream = turn["stream"]
    if not isinstance(stream, list):
        raise ScriptError(f"{where}: stream must be a list of events")
    for index, ev in enumerate(stream):
        at = f"{where}, event {index}"
        if isinstance(ev, str):
            continue
        if not isinstance(ev, dict):
            raise ScriptError(f"{at}: an event is a chunk object or a string, got {type(ev).__name__}")
        if is_control_event(ev):
            sleep = ev.get("sleep_ms", 0)
            if not isinstance(sleep, (int, float)) or isinstance(sleep, bool) or sleep < 0:
                raise ScriptError(f"{at}: sleep_ms must be a number >= 0")
            if "raw" in ev and not isinstance(ev["raw"], str):
                raise ScriptError(f"{at}: raw must be a string")
