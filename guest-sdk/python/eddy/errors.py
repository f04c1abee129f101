"""The error a function ends with, and the conversion of the host's errors to it."""

from typing import Literal, NoReturn

from componentize_py_types import Err
from wit_world.imports import types

Code = Literal[
    "bad-request", "unauthorized", "forbidden", "not-found", "conflict", "timeout",
    "unavailable", "internal",
]
"""The WIT error codes; each becomes one HTTP status (400, 401, 403, 404, 409, 504, 503,
500)."""


class Error(Exception):
    """An error a function ends with or a host call reports: the caller sees `code` and
    `message`, which should say what to fix."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code: Code = code
        self.message = message


def fail(code: Code, message: str) -> NoReturn:
    """Ends the call with the error `code` and `message` (raises an `Error`)."""
    raise Error(code, message)


_CODES: dict[types.ErrorCode, Code] = {
    types.ErrorCode.BAD_REQUEST: "bad-request",
    types.ErrorCode.UNAUTHORIZED: "unauthorized",
    types.ErrorCode.FORBIDDEN: "forbidden",
    types.ErrorCode.NOT_FOUND: "not-found",
    types.ErrorCode.CONFLICT: "conflict",
    types.ErrorCode.TIMEOUT: "timeout",
    types.ErrorCode.UNAVAILABLE: "unavailable",
    types.ErrorCode.INTERNAL: "internal",
}


def from_host(e: "Err[types.Error]") -> Error:
    """A host call's error (componentize-py's `Err`) as an `Error`."""
    return Error(_CODES.get(e.value.code, "internal"), e.value.message)


def to_host(e: Error) -> "Err[types.Error]":
    """An `Error` as the WIT error record componentize-py returns."""
    for code, name in _CODES.items():
        if name == e.code:
            return Err(types.Error(code, e.message))
    return Err(types.Error(types.ErrorCode.INTERNAL, e.message))
