"""Run-time layers behind the syntax check, installed in the sandbox child only.

* restricted builtins: no open/exec/eval/compile/getattr/... however they are reached;
* an import hook that admits only the allowlist and hands out read-only module views, so that
  ``dataclasses.sys`` or ``typing.operator`` (modules imported by allowed modules) stay out of reach;
* an audit hook that refuses files, processes, sockets, ctypes and
  frame/code introspection when reached from the submitted code (directly or through the standard
  library / numpy), and source compilation that fails the policy (e.g. evaluated string annotations).
  Code of the proxy and other packages (and the import system) is trusted.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import types
from collections.abc import Callable
from typing import Any

from maestro_agent.sandbox.policy import ALLOWED_IMPORTS, NUMPY_DENIED, check_code, import_refusal

SAFE_BUILTIN_NAMES = (  # noqa: SIM905
    "abs all any ascii bin bool bytearray bytes callable chr classmethod complex dict dir divmod "
    "enumerate filter float format frozenset hasattr hash hex id int isinstance issubclass iter len "
    "list map max min next object oct ord pow print property range repr reversed round set slice "
    "sorted staticmethod str sum super tuple type zip Ellipsis NotImplemented __build_class__ "
    "ArithmeticError AssertionError AttributeError BufferError EOFError Exception FloatingPointError "
    "ImportError IndexError KeyError LookupError MemoryError ModuleNotFoundError NameError "
    "NotImplementedError OSError OverflowError RecursionError ReferenceError RuntimeError "
    "StopIteration StopAsyncIteration SyntaxError TimeoutError TypeError UnboundLocalError "
    "UnicodeError ValueError ZeroDivisionError Warning UserWarning "
    "DeprecationWarning RuntimeWarning"
).split()

# Functions of allowed modules that evaluate strings as code or read attributes by name.
DENIED_MEMBERS = frozenset(
    {"typing.get_type_hints", "functools.update_wrapper", "functools.wraps"}
    # json's classes and submodules: patching them would change how the worker frames its messages
    | {"json.JSONEncoder", "json.JSONDecoder", "json.encoder", "json.decoder", "json.scanner"}
)

_GATED_PREFIXES = frozenset(
    {"open", "os", "shutil", "subprocess", "socket", "ctypes", "pty", "fcntl", "mmap", "glob", "tempfile",
     "urllib", "http", "ftplib", "smtplib", "webbrowser", "marshal", "pickle", "code", "function"}
)  # fmt: skip
_GATED_EXACT = frozenset({"sys.addaudithook", "sys._current_frames"})  # not sys.settrace: CPython
# audits it when it drops a trace function that raised (the interrupt landing in the tracer)
# Generated source these stdlib modules compile for dataclasses and namedtuples (names are validated).
_CODEGEN_MODULES = ("dataclasses", "collections")
USER_MODULE = "__substep__"  # __name__ in the namespace of submitted code


def make_builtins(import_hook: Callable[..., Any]) -> dict[str, Any]:
    safe = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES}
    safe["__import__"] = import_hook
    return safe


class ModuleView(types.ModuleType):
    """A read-only view of an allowed module: public members only, no modules outside the allowlist."""

    def __getattr__(self, name: str) -> Any:
        real, allowed = _VIEW_TARGETS[self.__name__]
        if name == "__all__":
            names = getattr(real, "__all__", None) or [n for n in dir(real) if not n.startswith("_")]
            return [n for n in names if isinstance(n, str) and _member_refusal(real, n, allowed) is None]
        if (reason := _member_refusal(real, name, allowed)) is not None:
            raise AttributeError(reason)
        value = getattr(real, name)
        return view(value, allowed) if isinstance(value, types.ModuleType) else value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"module {self.__name__!r} is read-only in the sandbox")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"module {self.__name__!r} is read-only in the sandbox")

    def __dir__(self) -> list[str]:
        return sorted(self.__getattr__("__all__"))

    def __repr__(self) -> str:
        return f"<module {self.__name__!r} (sandboxed)>"


_VIEW_TARGETS: dict[str, tuple[types.ModuleType, frozenset[str]]] = {}
_VIEWS: dict[str, ModuleView] = {}


def _member_refusal(real: types.ModuleType, name: str, allowed: frozenset[str]) -> str | None:
    module = real.__name__
    if name.startswith("_"):
        return f"{module}.{name} is private and not available in the sandbox"
    if module.split(".")[0] == "numpy" and name in NUMPY_DENIED:
        return f"numpy.{name} (file, pickle or C access) is not available in the sandbox"
    if f"{module}.{name}" in DENIED_MEMBERS:
        return f"{module}.{name} is not available in the sandbox"
    value = real.__dict__.get(name)
    if isinstance(value, types.ModuleType) and import_refusal(value.__name__, allowed) is not None:
        return f"{module}.{name} is the module {value.__name__!r}, which is not available in the sandbox"
    return None


def view(module: types.ModuleType, allowed: frozenset[str]) -> ModuleView:
    cached = _VIEWS.get(module.__name__)
    if cached is None:
        _VIEW_TARGETS[module.__name__] = (module, allowed)
        cached = _VIEWS[module.__name__] = ModuleView(module.__name__, module.__doc__)
    return cached


def make_import(allowed: frozenset[str] = ALLOWED_IMPORTS) -> Callable[..., Any]:
    real_import = builtins.__import__

    def restricted_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> types.ModuleType:
        if isinstance(fromlist, list) and not fromlist and level == 0:
            # PyImport_Import from native code (numpy importing its own parts while the user's frame
            # is the innermost Python frame); import statements pass None or a tuple.
            return real_import(name, globals, locals, fromlist, 0)
        if level:
            raise ImportError("relative imports are not allowed in the sandbox")
        if (reason := import_refusal(name, allowed)) is not None:
            raise ImportError(reason)
        for item in fromlist or ():
            if item != "*" and (reason := import_refusal(f"{name}.{item}", allowed)) is not None:
                raise ImportError(reason)
        module = real_import(name, None, None, fromlist, 0)
        return view(module, allowed)

    return restricted_import


def preload(allowed: frozenset[str] = ALLOWED_IMPORTS) -> None:
    """Import the allowed modules now, so runs do not pay for (or trip the audit hook on) them."""
    for name in sorted(allowed):
        with contextlib.suppress(ImportError):  # a missing entry simply stays unavailable
            __import__(name)
    if "numpy" in sys.modules:  # array printing imports more of numpy on first use
        np = sys.modules["numpy"]
        str(np.zeros((2, 2))), repr(np.float32(1.5))


def _frame_kind(frame: types.FrameType) -> str:
    """'user', 'import' (the import system), 'library' (reachable from user code) or 'trusted'.

    Decided by the frame's module name: reading ``f_code`` would itself be an audited event.
    """
    name = frame.f_globals.get("__name__")
    if name == USER_MODULE:
        return "user"
    if not isinstance(name, str):  # generated code, e.g. a dataclass __init__
        return "library"
    if name.startswith(("importlib._bootstrap", "_frozen_importlib")):
        return "import"
    root = name.partition(".")[0]
    return "library" if root in sys.stdlib_module_names or root == "numpy" else "trusted"


def _reached_from_user(frame: types.FrameType | None) -> bool:
    """Whether the innermost caller that is not the standard library or numpy is submitted code."""
    while frame is not None:
        kind = _frame_kind(frame)
        if kind == "user":
            return True
        if kind != "library":
            return False
        frame = frame.f_back
    return False


def install_audit_hook() -> None:
    """Gate events by who reached them, armed or not: user code also runs outside a run (a ``__del__``
    called by the garbage collector, a callback called by a proxy thread)."""
    getframe = sys._getframe

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "object.__getattr__":  # frame/code attributes read directly by submitted code
            if _frame_kind(getframe(1)) == "user":
                raise RuntimeError(f"reading {args[1]!r} is not allowed in the sandbox")
            return
        if event == "compile":
            _check_compile(getframe(1), args)
            return
        if event not in _GATED_EXACT and event.partition(".")[0] not in _GATED_PREFIXES:
            return
        if _reached_from_user(getframe(1)):
            raise PermissionError(f"{event} is not allowed in the sandbox (no files, processes or sockets)")

    sys.addaudithook(hook)


def _check_compile(frame: types.FrameType, args: tuple[Any, ...]) -> None:
    if not _reached_from_user(frame):
        return
    if frame.f_globals.get("__name__") in _CODEGEN_MODULES:
        return
    source = args[0]
    if isinstance(source, bytes):
        source = source.decode("utf-8", "replace")
    if not isinstance(source, str) or check_code(source):
        raise PermissionError("compiling code at run time is not allowed in the sandbox")
