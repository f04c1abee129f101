"""hello-py: plugins/hello in Python. `GET /hello-py` answers {"hello":"world"} and touches
nothing else, so a call to it costs what the host, the wasm boundary and the Python interpreter
cost per call: the `calls` benchmark measures that (bench/src/calls.rs)."""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types


class Handler(exports.Handler):
    """What the host calls: `eddy:plugin/handler`."""

    def functions(self):
        return ["hello"]

    def handle(self, function, event):
        if function != "hello":
            raise Err(types.Error(types.ErrorCode.NOT_FOUND, f"hello-py has no function {function}"))
        return types.Output_Json(json.dumps({"hello": "world"}, separators=(",", ":")))
