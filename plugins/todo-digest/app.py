"""todo-digest: a daily digest of the todo list.

`record`, a state trigger on `todos`, counts every change of a todo in the summary of the UTC
day it happened (`todo-digest/<YYYY-MM-DD>`): `created`, `completed` (a todo became completed),
`reopened` (it became open again) and `deleted`. It counts with `increment` update ops, which
the host applies at commit, so concurrent changes add up and a retried delivery counts once.
`publish`, a state trigger on `todo-digest` itself, pushes each committed summary to the stream
`todo-digest`, group `daily` (event type `digest_updated`, id = the day): a summary as `record`
saw it inside its transaction may miss a change committed beside it, the committed one does
not. `GET /todo-digest` returns every summary, oldest day first.
"""

import json
from datetime import datetime, timezone

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, state, streams, types

SCOPE = "todo-digest"
STREAM = "todo-digest"
GROUP = "daily"
COUNTS = ("created", "completed", "reopened", "deleted")


def counted(old, new):
    """The counts one change of a todo adds to: `old` and `new` are the todo before and after
    (None when it did not exist on that side)."""
    if old is None and new is not None:
        return ["created"]
    if old is not None and new is None:
        return ["deleted"]
    if old is not None and new is not None:
        was, now = bool(old.get("completed")), bool(new.get("completed"))
        if now and not was:
            return ["completed"]
        if was and not now:
            return ["reopened"]
    return []


def day_of(old, new):
    """The UTC day of a change: the todo's own time of it (`updated_at`, else `created_at`)
    when it has one, so a late or retried delivery counts on the right day; the clock for a
    deletion, which carries no time."""
    if new is not None:
        stamp = new.get("updated_at") or new.get("created_at")
        if isinstance(stamp, str) and len(stamp) >= 10:
            return stamp[:10]
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def record(change: types.StateEvent):
    old = json.loads(change.old_value) if change.old_value is not None else None
    new = json.loads(change.new_value) if change.new_value is not None else None
    names = counted(old, new)
    if not names:
        return None
    day = day_of(old, new)
    ops = [{"type": "set", "path": "day", "value": day}]
    ops += [{"type": "increment", "path": name, "by": 1} for name in names]
    # Zeros for the other counts, so every summary has the same fields.
    ops += [{"type": "increment", "path": name, "by": 0} for name in COUNTS if name not in names]
    state.update(SCOPE, day, json.dumps(ops))
    log.log(log.Level.DEBUG, "digest counted", json.dumps({"day": day, "counted": names}))
    return None


def publish(change: types.StateEvent):
    """Pushes a day's summary, as committed, to the live clients of `todo-digest/daily`."""
    if change.new_value is not None:
        streams.send(STREAM, GROUP, change.key, "digest_updated", change.new_value)
    return None


def summaries(_request: types.HttpRequest):
    return [json.loads(value) for value in state.list(SCOPE, None, None, None)]


FUNCTIONS = {
    "record": (types.Event_State, record),
    "publish": (types.Event_State, publish),
    "summaries": (types.Event_Http, summaries),
}


def failure(code, message):
    """The error a function returns: `raise failure(...)` ends the call with it."""
    return Err(types.Error(code, message))


class Handler(exports.Handler):
    """What the host calls: `eddy:plugin/handler`."""

    def functions(self):
        return list(FUNCTIONS)

    def handle(self, function, event):
        if function not in FUNCTIONS:
            raise failure(types.ErrorCode.NOT_FOUND, f"todo-digest has no function {function}")
        kind, run = FUNCTIONS[function]
        if not isinstance(event, kind):
            raise failure(types.ErrorCode.BAD_REQUEST, f"{function} cannot take this event")
        # An import's error (an `Err` carrying the host's error record) passes through as is.
        return types.Output_Json(json.dumps(run(event.value), separators=(",", ":")))
