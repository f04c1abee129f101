"""The database: JSON values under keys, grouped in named scopes (docs/state.md).

Values go in and come out as Python values (what `json` reads and writes). A host error is
raised as an `eddy.Error`: `conflict` from the `-if` writes means the key changed since it
was read; read it again and retry.
"""

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from componentize_py_types import Err
from wit_world.imports import state as host
from wit_world.imports import types

from .errors import from_host
from .op import Op


@dataclass
class Change:
    """The result of writing a key: its value before and after (None: there was none)."""

    old_value: Any
    new_value: Any


@dataclass
class UpdateResult:
    """The result of an update: the value before and after, and the ops that were skipped."""

    old_value: Any
    new_value: Any
    errors: List[types.OpError]


def _parse(text: Optional[str]) -> Any:
    """A value the host sent as JSON text; None for none (`streams` uses it too)."""
    return None if text is None else json.loads(text)


def _dump(value: Any) -> str:
    """A value as the compact JSON text the host takes (`streams` and `invoke` use it too)."""
    return json.dumps(value, separators=(",", ":"))


def _expect(value: Any) -> Optional[str]:
    """`expect` of the `-if` writes: None (the key must be missing) or the value as JSON."""
    return None if value is None else _dump(value)


def change(c: types.Change) -> Change:
    return Change(_parse(c.old_value), _parse(c.new_value))


def updated(r: types.UpdateResult) -> UpdateResult:
    return UpdateResult(_parse(r.old_value), _parse(r.new_value), r.errors)


def get(scope: str, key: str) -> Any:
    """The value at `key`, or None."""
    try:
        return _parse(host.get(scope, key))
    except Err as e:
        raise from_host(e)


def set(scope: str, key: str, value: Any) -> Change:
    """Replaces the value at `key`."""
    try:
        return change(host.set(scope, key, _dump(value)))
    except Err as e:
        raise from_host(e)


def update(scope: str, key: str, ops: Sequence[Op]) -> UpdateResult:
    """Applies `ops` (from `eddy.op`) in order, atomically for the key; a missing key starts
    as `{}`."""
    try:
        return updated(host.update(scope, key, _dump(ops)))
    except Err as e:
        raise from_host(e)


def delete(scope: str, key: str) -> Any:
    """Removes `key`, returning its old value (None if it was missing)."""
    try:
        return _parse(host.delete(scope, key))
    except Err as e:
        raise from_host(e)


def set_if(scope: str, key: str, expect: Any, value: Any) -> Change:
    """`set` only if the key holds `expect` (None: only if it is missing); otherwise raises
    `conflict` and changes nothing."""
    try:
        return change(host.set_if(scope, key, _expect(expect), _dump(value)))
    except Err as e:
        raise from_host(e)


def update_if(scope: str, key: str, expect: Any, ops: Sequence[Op]) -> UpdateResult:
    """`update` on a condition, as `set_if`."""
    try:
        return updated(host.update_if(scope, key, _expect(expect), _dump(ops)))
    except Err as e:
        raise from_host(e)


def delete_if(scope: str, key: str, expect: Any) -> None:
    """Removes `key` only if it holds `expect`."""
    try:
        host.delete_if(scope, key, _dump(expect))
    except Err as e:
        raise from_host(e)


def list(
    scope: str,
    prefix: Optional[str] = None,
    after: Optional[str] = None,
    limit: Optional[int] = None,
) -> List[Any]:
    """The values of `scope` in key order: only keys starting with `prefix`, only keys after
    `after` (for paging), at most `limit` of them."""
    try:
        return [json.loads(text) for text in host.list(scope, prefix, after, limit)]
    except Err as e:
        raise from_host(e)


def list_groups() -> List[str]:
    """Every scope that holds at least one key, sorted."""
    try:
        return host.list_groups()
    except Err as e:
        raise from_host(e)
