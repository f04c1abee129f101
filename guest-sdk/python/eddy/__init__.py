"""The Eddy SDK for Python plugins: the package `eddy`.

It mirrors the Rust SDK (guest-sdk/src) over the WIT imports, on Python values instead of JSON
text: `state`, `streams`, `invoke`, `log`, the update-op builders `op`, errors (`fail`,
`Error`), and `plugin({...})`, which builds the `Handler` class componentize-py exports
(dispatch, event-kind check, error conversion)::

    from eddy import HttpRequest, http, op, plugin, state

    def hello(request: HttpRequest) -> dict[str, object]:
        counted = state.update("hello", "calls", [op.increment("count")])
        return {"calls": counted.new_value["count"]}

    Handler = plugin({"hello": http(hello)})

`eddy build` puts this package on componentize-py's module path; `eddy dev`'s engine has it
built in.
"""

import json
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, TypeVar

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

from . import invoke, log, op, state, streams
from .errors import Code, Error, fail, to_host

__all__ = [
    "Code", "Error", "Event", "Function", "HttpRequest", "Identity", "Json", "Response",
    "StateChange", "StreamMessage", "fail", "header", "http", "invoke", "json_body", "log",
    "on_call", "on_state", "on_stream", "op", "path_param", "plugin", "query_param",
    "response", "state", "streams",
]

Json = Any
"""Any JSON value: what state holds, streams carry and functions take and return."""

HttpRequest = types.HttpRequest
Identity = types.Identity
Event = types.Event

T = TypeVar("T")


@dataclass
class Response:
    """A full HTTP response, for a function that chooses its status and headers."""

    status: int
    body: Json = None
    headers: List[Tuple[str, str]] = field(default_factory=lambda: [])


def response(
    status: int, body: Json = None, headers: Optional[List[Tuple[str, str]]] = None
) -> Response:
    """A response with `status`, a JSON `body` (None: no body) and `headers`."""
    return Response(status, body, headers if headers is not None else [])


def _first(pairs: List[Tuple[str, str]], name: str) -> Optional[str]:
    for key, value in pairs:
        if key == name:
            return value
    return None


def query_param(request: HttpRequest, name: str) -> Optional[str]:
    """The first query parameter `name` of `request`, or None."""
    return _first(request.query_params, name)


def path_param(request: HttpRequest, name: str) -> Optional[str]:
    """The route's `:name` segment of `request`, or None."""
    return _first(request.path_params, name)


def header(request: HttpRequest, name: str) -> Optional[str]:
    """The header `name` (lower-case) of `request`, or None."""
    return _first(request.headers, name)


def json_body(request: HttpRequest) -> Json:
    """The body of `request` as a value (None without one)."""
    return json.loads(request.body)


@dataclass
class StateChange:
    """A change to a state key, its values parsed (None: no value on that side)."""

    event_type: str
    scope: str
    key: str
    old_value: Json
    new_value: Json


@dataclass
class StreamMessage:
    """Something sent to a stream group, its data parsed."""

    stream_name: str
    group_id: str
    id: Optional[str]
    change: str
    event_type: Optional[str]
    data: Json


Function = Callable[[types.Event], Any]
"""A function of the table `plugin` takes: it gets the WIT event and returns any JSON value,
a `Response`, or None."""


def _parse(text: Optional[str]) -> Json:
    return None if text is None else json.loads(text)


def _name(enum: Any) -> str:
    """A WIT enum case as the WIT spells it: `ChangeKind.CREATED` is `created`."""
    return str(enum.name).lower().replace("_", "-")


def _only(kind: type, convert: Callable[[Any], T], run: Callable[[T], Any]) -> Function:
    """A function that takes only events of `kind`, given to it as `convert` makes them."""
    label = kind.__name__.removeprefix("Event_").lower()

    def function(event: types.Event) -> Any:
        if not isinstance(event, kind):
            taken = type(event).__name__.removeprefix("Event_").lower()
            fail("bad-request", f"this function takes {label} events, not {taken}")
        return run(convert(event.value))

    return function


def http(run: Callable[[HttpRequest], Any]) -> Function:
    """A function for HTTP requests: it gets the request; other events are refused."""
    return _only(types.Event_Http, lambda request: request, run)


def _state_change(e: types.StateEvent) -> StateChange:
    old, new = _parse(e.old_value), _parse(e.new_value)
    return StateChange(_name(e.event_type), e.scope, e.key, old, new)


def on_state(run: Callable[[StateChange], Any]) -> Function:
    """A function for state triggers: it gets the change with its values parsed."""
    return _only(types.Event_State, _state_change, run)


def _stream_message(e: types.StreamEvent) -> StreamMessage:
    data = json.loads(e.data)
    return StreamMessage(e.stream_name, e.group_id, e.id, _name(e.change), e.event_type, data)


def on_stream(run: Callable[[StreamMessage], Any]) -> Function:
    """A function for stream triggers: it gets the event with its data parsed."""
    return _only(types.Event_Stream, _stream_message, run)


def on_call(run: Callable[[Json], Any]) -> Function:
    """A function for `invoke` calls: it gets the payload as a value."""
    return _only(types.Event_Call, json.loads, run)


def _output(value: Any) -> types.Output:
    if isinstance(value, Response):
        body = None if value.body is None else json.dumps(value.body, separators=(",", ":"))
        return types.Output_Http(types.HttpResponse(value.status, value.headers, body))
    return types.Output_Json(json.dumps(value, separators=(",", ":")))


def _wit_error(e: Exception) -> "Err[types.Error]":
    """What a function raised, as the error the caller sees: an `Error` (or a host call's
    error) as it is; anything else is `internal`, its traceback on stderr (the host's log)."""
    if isinstance(e, Error):
        return to_host(e)
    if isinstance(e, Err):
        return e
    traceback.print_exc(file=sys.stderr)
    return Err(types.Error(types.ErrorCode.INTERNAL, f"{type(e).__name__}: {e}"))


def plugin(functions: Mapping[str, Function]) -> type[exports.Handler]:
    """The `Handler` class componentize-py exports, from a table of functions:
    `Handler = plugin({"hello": http(hello)})`. A plain function gets the WIT event as is. The
    table is read at each call, so a function replaced in it later serves from then on."""
    names = list(functions)

    class Handler(exports.Handler):
        def functions(self) -> List[str]:
            return names

        def handle(self, function: str, event: types.Event) -> types.Output:
            run = functions.get(function)
            if run is None:
                raise Err(types.Error(types.ErrorCode.NOT_FOUND, f"no function {function}"))
            try:
                return _output(run(event))
            except Exception as e:  # noqa: BLE001 - every failure reaches the caller as one
                raise _wit_error(e)

    return Handler
