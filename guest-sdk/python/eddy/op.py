"""Update ops for `state.update` and `streams.update`, as the Rust SDK's `Op` builds them.

Ops apply in order, atomically for the key; a missing key starts as `{}`. Paths are literal
field names (a dot is part of the name). An op that fails is skipped and reported in the
result's `errors`; the others still apply.
"""

from typing import Any, Dict, List, Optional

Op = Dict[str, Any]
"""One update op: the JSON object the host takes, e.g. `{"type": "increment", ...}`."""


def set(path: str, value: Any) -> Op:
    """Sets the field `path` to `value` (`""` replaces the whole value)."""
    return {"type": "set", "path": path, "value": value}


def merge(value: Dict[str, Any], path: Optional[List[str]] = None) -> Op:
    """Shallow-merges the object `value` into the value, or into the object at the nested
    `path` (missing levels are created)."""
    if path is None:
        return {"type": "merge", "value": value}
    return {"type": "merge", "path": path, "value": value}


def increment(path: str, by: float = 1) -> Op:
    """Adds `by` to the number at `path`; a missing field starts at 0."""
    return {"type": "increment", "path": path, "by": by}


def decrement(path: str, by: float = 1) -> Op:
    """Subtracts `by` from the number at `path`; a missing field starts at 0."""
    return {"type": "decrement", "path": path, "by": by}


def append(path: Optional[str], value: Any) -> Op:
    """Appends `value` to the array or string at `path` (None: to the value itself)."""
    if path is None:
        return {"type": "append", "value": value}
    return {"type": "append", "path": path, "value": value}


def remove(path: str) -> Op:
    """Deletes the field `path`."""
    return {"type": "remove", "path": path}
