"""The Python development engine of `eddy dev` (docs/development.md).

componentize-py builds this module once per toolchain into a component of the `dev-engine`
world; every Python plugin served from source runs on it. When an instance starts it asks the
host for the plugin's files (`dev.sources`), imports the entry module (`app.py`) from them,
and hands every call to the entry module's `Handler`, as the component `eddy build` makes
would. The plugin's own modules are imported from its files; everything else (the standard
library, the SDK `eddy`, `wit_world`, `componentize_py_types`) from the engine.
"""

import importlib.abc
import importlib.util
import sys
import traceback

import componentize_py_types  # noqa: F401
from componentize_py_types import Err

# A component holds the modules its build imported, and no others: componentize-py snapshots
# the interpreter after importing the app. The engine is built before any plugin is seen, so it
# imports the standard library a plugin may use here, at build time; a plugin that imports a
# module left out gets ModuleNotFoundError under `eddy dev` (a built component has every
# module its app imports).
STANDARD_LIBRARY = (
    "abc", "array", "base64", "binascii", "bisect", "calendar", "cmath", "collections",
    "collections.abc", "colorsys", "contextlib", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "email.utils", "enum", "fnmatch", "fractions", "functools", "graphlib",
    "hashlib", "heapq", "hmac", "html", "html.parser", "inspect", "io", "ipaddress", "itertools",
    "json", "keyword", "locale", "logging", "math", "numbers", "operator", "pprint", "random",
    "re", "secrets", "shlex", "statistics", "string", "struct", "textwrap", "time", "timeit",
    "traceback", "types", "typing", "unicodedata", "urllib.parse", "uuid", "warnings",
    "weakref", "zlib", "zoneinfo",
)
for _name in STANDARD_LIBRARY:
    try:
        importlib.import_module(_name)
    except ImportError:
        pass
from wit_world import exports
from wit_world.imports import dev, invoke, log, state, streams, types  # noqa: F401

# The SDK (guest-sdk/python), built into the engine: a plugin's `from eddy import ...` finds it
# already imported.
import eddy  # noqa: E402,F401


class _PluginFiles(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the plugin's modules among its files: `a.b` is `a/b.py` or `a/b/__init__.py`."""

    def __init__(self, files):
        self.files = files

    def find_spec(self, fullname, path=None, target=None):
        base = fullname.replace(".", "/")
        for candidate, package in ((base + ".py", False), (base + "/__init__.py", True)):
            if candidate in self.files:
                return importlib.util.spec_from_loader(
                    fullname, self, origin=candidate, is_package=package
                )
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path = module.__spec__.origin
        module.__file__ = path
        exec(compile(self.files[path], path, "exec"), module.__dict__)


_plugin = None
_failure = None


def _load():
    """The plugin's `Handler()`, loaded on first use; the error that stopped it, raised again."""
    global _plugin, _failure
    if _plugin is None and _failure is None:
        try:
            sources = dev.sources()
            files = {f.path: f.text for f in sources.files}
            sys.meta_path.insert(0, _PluginFiles(files))
            entry = sources.entry[: -len(".py")].replace("/", ".")
            module = importlib.import_module(entry)
            handler = getattr(module, "Handler", None)
            if handler is None:
                raise ImportError(f"{sources.entry} must define class Handler(exports.Handler)")
            _plugin = handler()
        except BaseException as e:  # noqa: BLE001 - any failure is the plugin's, reported
            _failure = e
    if _failure is not None:
        raise _failure
    return _plugin


def _describe(e):
    """The error as the lines a developer needs: the plugin's frames and the message."""
    if isinstance(e, SyntaxError):
        return f"{e.filename}:{e.lineno}:{e.offset}: SyntaxError: {e.msg}"
    lines = traceback.format_exception(type(e), e, e.__traceback__)
    return "".join(lines).strip()


class Handler(exports.Handler):
    def functions(self):
        try:
            return _load().functions()
        except BaseException as e:
            # Loading fails the host's load of this version: stderr carries why, ended by a
            # blank line.
            print(_describe(e) + "\n", file=sys.stderr, flush=True)
            raise

    def handle(self, function, event):
        try:
            plugin = _load()
        except BaseException as e:  # noqa: BLE001
            raise Err(types.Error(types.ErrorCode.INTERNAL, _describe(e)))
        return plugin.handle(function, event)
