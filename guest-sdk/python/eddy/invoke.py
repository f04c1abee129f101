"""Calls to other functions (`todos::list`) and the host's builtins (`state::set`, ...), with
Python values for payloads and results. The callee's error is raised as an `eddy.Error`."""

import json
from typing import Any

from componentize_py_types import Err
from wit_world.imports import invoke as host

from .errors import from_host
from .state import _dump


def call(function_id: str, payload: Any = None) -> Any:
    """Calls `function_id` with `payload` and returns its result."""
    try:
        return json.loads(host.call(function_id, _dump(payload)))
    except Err as e:
        raise from_host(e)


def call_void(function_id: str, payload: Any = None) -> None:
    """Queues a call to `function_id` and returns at once; its result is only logged."""
    try:
        host.call_void(function_id, _dump(payload))
    except Err as e:
        raise from_host(e)
