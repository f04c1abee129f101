"""Structured logging into the host's log, with the plugin and function named:
`log.info("todo created", {"id": id})`."""

import json
from typing import Any, Mapping, Optional

from wit_world.imports import log as host


def _log(level: host.Level, message: str, fields: Optional[Mapping[str, Any]]) -> None:
    host.log(level, message, "{}" if fields is None else json.dumps(fields))


def trace(message: str, fields: Optional[Mapping[str, Any]] = None) -> None:
    """Step-by-step detail."""
    _log(host.Level.TRACE, message, fields)


def debug(message: str, fields: Optional[Mapping[str, Any]] = None) -> None:
    """Detail for debugging."""
    _log(host.Level.DEBUG, message, fields)


def info(message: str, fields: Optional[Mapping[str, Any]] = None) -> None:
    """Something worth knowing happened."""
    _log(host.Level.INFO, message, fields)


def warn(message: str, fields: Optional[Mapping[str, Any]] = None) -> None:
    """Something looks wrong, but the call goes on."""
    _log(host.Level.WARN, message, fields)


def error(message: str, fields: Optional[Mapping[str, Any]] = None) -> None:
    """The call could not do its job."""
    _log(host.Level.ERROR, message, fields)
