"""The agent's side of tool calls: the real tool objects, their API as the stubs see it, and dispatch.

A tool is an object whose public methods (defined on its class, names not starting with '_') the
sandboxed code may call, and whose upper-case class attributes are constants copied into the stub.
Every call is checked before it runs: the tool and method exist, the arguments bind to the method's
signature, and each argument matches its annotation (numbers, strings, sequences, arrays, the
registered dataclasses, unions, literals). The method then runs in the agent with the run's
``CallContext`` installed, and its result (or typed error) is what the stub returns (or raises).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any

import numpy as np

from maestro_agent.sandbox import channel, wire
from maestro_tools.common.errors import InvalidArgumentError, MaestroError

_CHECKED_ITEMS = 1000  # elements of a sequence checked against its item type


def _short(value: Any) -> str:
    text = f"array of shape {value.shape}" if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` fits the annotation ``hint`` (unknown annotations pass: the tool checks)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint is float:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if hint in (str, bool, np.ndarray) or dataclasses.is_dataclass(hint):
        return isinstance(value, hint)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return (
            isinstance(value, list | tuple | np.ndarray)
            and len(value) == len(args)
            and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        )
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, list | tuple | np.ndarray) or isinstance(value, str):
            return False
        item = args[0] if args else Any
        return all(_matches(v, item) for v in list(value)[:_CHECKED_ITEMS])
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    return True


class ToolHost:
    """The tools the sandboxed code may call (``tools``: name -> object) and the dataclasses that cross."""

    def __init__(self, tools: Mapping[str, Any], value_types: Mapping[str, type] | None = None) -> None:
        self.tools = dict(tools)
        self.types = dict(value_types or {})
        self.encoder = wire.Encoder(self.types)
        self.methods: dict[tuple[str, str], Any] = {}
        self.signatures: dict[tuple[str, str], inspect.Signature] = {}
        self.hints: dict[tuple[str, str], dict[str, Any]] = {}
        for name, obj in self.tools.items():
            for attr, member in inspect.getmembers(type(obj), inspect.isfunction):
                if attr.startswith("_"):
                    continue
                key = (name, attr)
                self.methods[key] = getattr(obj, attr)
                target = inspect.unwrap(member)
                self.signatures[key] = inspect.signature(target)
                try:
                    self.hints[key] = typing.get_type_hints(target)
                except Exception:  # an annotation that does not resolve: the tool checks for itself
                    self.hints[key] = {}

    def new_trial(self) -> None:
        """Tell the tools a new trial starts: each that keeps per-trial state defines ``_new_trial``
        (private, so the code cannot call it)."""
        for obj in self.tools.values():
            hook = getattr(obj, "_new_trial", None)
            if callable(hook):
                hook()

    def spec(self) -> tuple[dict[str, Any], Any, list[bytes]]:
        """What the child needs to build the stubs: (tools spec, constants tree, blobs)."""
        spec: dict[str, Any] = {}
        constants: dict[str, dict[str, Any]] = {}
        for name, obj in self.tools.items():
            methods = {}
            for (tool, attr), bound in self.methods.items():
                if tool == name:
                    signature = _signature_text(self.signatures[(tool, attr)])
                    methods[attr] = {"doc": inspect.getdoc(bound) or "", "signature": signature}
            spec[name] = {
                "class": type(obj).__name__,
                "doc": inspect.getdoc(type(obj)) or "",
                "methods": methods,
            }
            constants[name] = {a: getattr(obj, a) for a in vars(type(obj)) if a.isupper()}
        tree, blobs = self.encoder.encode(constants)
        return spec, tree, blobs

    def type_names(self) -> dict[str, str]:
        return {name: f"{cls.__module__}:{cls.__qualname__}" for name, cls in self.types.items()}

    def dispatch(
        self, call: Mapping[str, Any], region: memoryview, context: channel.CallContext
    ) -> tuple[dict[str, Any], list[bytes]]:
        """Check and run one call; the reply header (without id) and its blobs. Never raises."""
        try:
            result = self._run(call, region, context)
            tree, blobs = self.encoder.encode(result)
        except (Exception, channel.SandboxCancelled, channel.SandboxTimeout) as exc:
            return _error_reply(exc), []  # the code sees the error as the tool raised it
        return {"ok": True, "value": tree}, blobs

    def _run(self, call: Mapping[str, Any], region: memoryview, context: channel.CallContext) -> Any:
        tool, method = call.get("tool"), call.get("method")
        if tool not in self.tools:
            raise InvalidArgumentError(f"there is no tool {str(tool)[:80]!r}; tools: {', '.join(self.tools)}")
        key = (str(tool), str(method))
        if key not in self.methods:
            names = sorted(attr for name, attr in self.methods if name == tool)
            raise AttributeError(f"{tool} has no method {str(method)[:80]!r}; methods: {', '.join(names)}")
        try:
            value = wire.decode(call.get("value"), region, self.types)
        except wire.WireError as e:
            raise TypeError(f"{tool}.{method}(): {e}") from None
        if not isinstance(value, dict) or not isinstance(value.get("args"), list):
            raise TypeError(f"{tool}.{method}(): malformed call")
        args, kwargs = value["args"], value.get("kwargs")
        if not isinstance(kwargs, dict):
            raise TypeError(f"{tool}.{method}(): malformed keyword arguments")
        self._check(key, args, kwargs)
        with channel.serving(context):
            channel.check_interrupt()
            return self.methods[key](*args, **kwargs)

    def _check(self, key: tuple[str, str], args: list[Any], kwargs: dict[str, Any]) -> None:
        signature, hints = self.signatures[key], self.hints[key]
        where = f"{key[0]}.{key[1]}{_signature_text(signature)}"
        try:
            bound = signature.bind(None, *args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{where}: {e}") from None
        for name, value in list(bound.arguments.items())[1:]:
            hint = hints.get(name, Any)
            kind = signature.parameters[name].kind
            values = value if kind is inspect.Parameter.VAR_POSITIONAL else [value]
            if kind is inspect.Parameter.VAR_KEYWORD:
                values = list(value.values())
            for item in values:
                if not _matches(item, hint):
                    expected = _annotation(signature.parameters[name].annotation)
                    raise TypeError(
                        f"{where}: {name} must be {expected}, got {type(item).__name__} {_short(item)}"
                    )


def _annotation(value: Any) -> str:
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _signature_text(signature: inspect.Signature) -> str:
    """``(position: Sequence[float], speed: float = 1.0) -> RobotState``, without ``self`` or quotes."""
    parts = []
    for name, p in list(signature.parameters.items())[1:]:
        text = {p.VAR_POSITIONAL: f"*{name}", p.VAR_KEYWORD: f"**{name}"}.get(p.kind, name)
        if p.annotation is not p.empty:
            text += f": {_annotation(p.annotation)}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    returns = signature.return_annotation
    arrow = "" if returns is signature.empty else f" -> {_annotation(returns)}"
    return f"({', '.join(parts)}){arrow}"


def _error_reply(exc: BaseException) -> dict[str, Any]:
    try:
        message = str(exc)
    except Exception:
        message = "<the error message could not be rendered>"
    reply: dict[str, Any] = {"ok": False, "error_type": type(exc).__name__, "message": message[:20_000]}
    if isinstance(exc, MaestroError):
        reply["code"] = int(exc.code)
    return reply
