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

from datetime import datetime, timezone
from typing import Any, List, Optional

from eddy import HttpRequest, StateChange, http, log, on_state, op, plugin, state, streams

SCOPE = "todo-digest"
STREAM = "todo-digest"
GROUP = "daily"
COUNTS = ("created", "completed", "reopened", "deleted")


def counted(old: Optional[dict[str, Any]], new: Optional[dict[str, Any]]) -> List[str]:
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


def day_of(old: Optional[dict[str, Any]], new: Optional[dict[str, Any]]) -> str:
    """The UTC day of a change: the todo's own time of it (`updated_at`, else `created_at`)
    when it has one, so a late or retried delivery counts on the right day; the clock for a
    deletion, which carries no time."""
    if new is not None:
        stamp = new.get("updated_at") or new.get("created_at")
        if isinstance(stamp, str) and len(stamp) >= 10:
            return stamp[:10]
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def record(change: StateChange) -> None:
    names = counted(change.old_value, change.new_value)
    if not names:
        return None
    day = day_of(change.old_value, change.new_value)
    ops = [op.set("day", day)]
    ops += [op.increment(name) for name in names]
    # Zeros for the other counts, so every summary has the same fields.
    ops += [op.increment(name, 0) for name in COUNTS if name not in names]
    state.update(SCOPE, day, ops)
    log.debug("digest counted", {"day": day, "counted": names})
    return None


def publish(change: StateChange) -> None:
    """Pushes a day's summary, as committed, to the live clients of `todo-digest/daily`."""
    if change.new_value is not None:
        streams.send(STREAM, GROUP, "digest_updated", change.new_value, id=change.key)
    return None


def summaries(_request: HttpRequest) -> List[Any]:
    return state.list(SCOPE)


# The functions the host may call, each for its kind of event.
FUNCTIONS = {
    "record": on_state(record),
    "publish": on_state(publish),
    "summaries": http(summaries),
}

# What the host calls: `eddy:plugin/handler`.
Handler = plugin(FUNCTIONS)
