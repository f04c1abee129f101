"""Live updates to WebSocket clients of a stream's groups (docs/streams.md).

A host error is raised as an `eddy.Error`.
"""

import json
from typing import Any, List, Optional, Sequence

from componentize_py_types import Err
from wit_world.imports import streams as host

from .errors import from_host
from .op import Op
from .state import Change, UpdateResult, _dump, _parse, change, updated


def send(stream: str, group: str, event_type: str, data: Any, id: Optional[str] = None) -> None:
    """Pushes the custom event `{type: event_type, data}` to every client of the group;
    clients see `id`, if given, as the frame's id."""
    try:
        host.send(stream, group, id, event_type, _dump(data))
    except Err as e:
        raise from_host(e)


def get(stream: str, group: str, item: str) -> Any:
    """The item, or None."""
    try:
        return _parse(host.get(stream, group, item))
    except Err as e:
        raise from_host(e)


def set(stream: str, group: str, item: str, value: Any) -> Change:
    """Creates or replaces an item and broadcasts `create` or `update`."""
    try:
        return change(host.set(stream, group, item, _dump(value)))
    except Err as e:
        raise from_host(e)


def update(stream: str, group: str, item: str, ops: Sequence[Op]) -> UpdateResult:
    """Applies update ops to an item and broadcasts the change."""
    try:
        return updated(host.update(stream, group, item, _dump(ops)))
    except Err as e:
        raise from_host(e)


def delete(stream: str, group: str, item: str) -> Any:
    """Removes an item, broadcasting `delete` when it existed; returns its old value."""
    try:
        return _parse(host.delete(stream, group, item))
    except Err as e:
        raise from_host(e)


def list(stream: str, group: str) -> List[Any]:
    """The group's items in id order."""
    try:
        return [json.loads(text) for text in host.list(stream, group)]
    except Err as e:
        raise from_host(e)
