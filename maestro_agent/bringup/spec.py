"""Declarative bringup specs: one YAML file per robot, read by both launchers.

``launch/<robot>.launch.py`` turns a resolved spec into ``launch_ros`` Nodes on a stock ROS
install; ``maestro launch <robot>`` starts the same nodes as supervised processes where no
ROS install (and so no ``ros2 launch``) exists. Errors name the file and line at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from maestro_tools.common.errors import SpecError

SPEC_VERSION = 1
RESPAWN_MAX_DEATHS = 5  # deaths within RESPAWN_WINDOW seconds after which a respawning node is given up
RESPAWN_WINDOW = 60.0
_ARG = re.compile(r"\$\(arg ([A-Za-z_][A-Za-z0-9_]*)\)")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class _Map(dict):
    """A YAML mapping that remembers the line it started on."""

    line: int = 0


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are _Map instances carrying their line number."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    mapping = _Map(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None  # an integer argument's inclusive range (YAML `range: [lo, hi]`)

    def __post_init__(self) -> None:
        self.check(self.default)

    def valid(self) -> str:
        """What the argument takes, in words ("" = any text)."""
        words = [f"one of {', '.join(self.choices)}"] if self.choices else []
        words += [f"an integer from {self.bounds[0]} to {self.bounds[1]}"] if self.bounds else []
        return " and ".join(words)

    def check(self, value: str) -> None:
        """Raise SpecError naming what is valid when ``value`` is not."""
        in_range = self.bounds is None or bool(
            re.fullmatch(r"-?\d+", value.strip()) and self.bounds[0] <= int(value) <= self.bounds[1]
        )
        if not in_range or (self.choices and value not in self.choices):
            raise SpecError(f"argument {self.name!r} must be {self.valid()}; got {value!r}")


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph, before launch arguments are substituted."""

    name: str
    executable: str
    package: str = "maestro"
    namespace: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    param_files: tuple[str, ...] = ()
    remappings: Mapping[str, str] = field(default_factory=dict)
    arguments: tuple[str, ...] = ()
    respawn: bool = False
    respawn_delay: float = 2.0
    respawn_max_deaths: int = RESPAWN_MAX_DEATHS
    respawn_window: float = RESPAWN_WINDOW
    required: bool = False
    # "$(arg x)" (launch when true), "!$(arg x)" (when false), "$(arg x) == value" (when equal); "" = always
    condition: str = ""
    line: int = 0


@dataclass(frozen=True)
class BringupSpec:
    robot: str
    description: str
    namespace: str
    use_sim_time: str
    arguments: tuple[LaunchArgument, ...]
    nodes: tuple[NodeSpec, ...]
    path: Path

    def argument(self, name: str) -> LaunchArgument:
        for argument in self.arguments:
            if argument.name == name:
                return argument
        raise SpecError(f"unknown launch argument {name!r}; valid: {', '.join(self.argument_names)}")

    @property
    def argument_names(self) -> list[str]:
        return [a.name for a in self.arguments]


@dataclass(frozen=True)
class ResolvedNode:
    """A node with every substitution done: what a launcher starts."""

    name: str
    package: str
    executable: str
    namespace: str
    parameters: dict[str, Any]
    param_files: tuple[Path, ...]
    remappings: tuple[tuple[str, str], ...]
    arguments: tuple[str, ...]
    respawn: bool
    respawn_delay: float
    required: bool
    # A respawning node that dies this many times within respawn_window seconds is given up (0: never).
    respawn_max_deaths: int = RESPAWN_MAX_DEATHS
    respawn_window: float = RESPAWN_WINDOW

    @property
    def fully_qualified_name(self) -> str:
        return f"{self.namespace.rstrip('/')}/{self.name}"


_TOP_KEYS = {"version", "robot", "description", "namespace", "use_sim_time", "arguments", "nodes"}
_NODE_KEYS = {
    "name",
    "executable",
    "package",
    "namespace",
    "parameters",
    "param_files",
    "remappings",
    "arguments",
    "respawn",
    "respawn_delay",
    "respawn_max_deaths",
    "respawn_window",
    "required",
    "if",
    "unless",
}


def _fail(path: Path, line: int, message: str) -> SpecError:
    return SpecError(f"{path}:{line}: {message}")


def _check_keys(path: Path, data: _Map, allowed: set[str], what: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _fail(path, data.line, f"unknown key(s) {unknown} in {what}; valid keys: {sorted(allowed)}")


def load_spec(path: Path) -> BringupSpec:
    """Parse and validate a bringup spec file; raise SpecError naming the offending line."""
    try:
        data = yaml.load(path.read_text(), Loader=_LineLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise _fail(path, line, f"not valid YAML: {exc.problem or exc}") from None
    except OSError as exc:
        raise SpecError(f"cannot read bringup spec {path}: {exc.strerror}") from None
    if not isinstance(data, _Map):
        raise _fail(path, 1, "a bringup spec must be a mapping with 'robot', 'arguments' and 'nodes'")
    _check_keys(path, data, _TOP_KEYS, "the spec")
    if data.get("version") != SPEC_VERSION:
        raise _fail(path, data.line, f"'version' must be {SPEC_VERSION}, got {data.get('version')!r}")
    for key in ("robot", "nodes"):
        if key not in data:
            raise _fail(path, data.line, f"missing required key {key!r}")

    arguments = tuple(_parse_argument(path, name, raw) for name, raw in (data.get("arguments") or {}).items())
    raw_nodes = data["nodes"]
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise _fail(path, data.line, "'nodes' must be a non-empty list of nodes")
    nodes = tuple(_parse_node(path, raw) for raw in raw_nodes)
    names = [f"{n.namespace}/{n.name}" for n in nodes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _fail(path, data.line, f"node names must be unique per namespace; repeated: {duplicates}")

    spec = BringupSpec(
        robot=str(data["robot"]),
        description=str(data.get("description", "")),
        namespace=str(data.get("namespace", "")),
        use_sim_time=str(data.get("use_sim_time", "false")),
        arguments=arguments,
        nodes=nodes,
        path=path,
    )
    _check_substitutions(spec)
    return spec


def _parse_argument(path: Path, name: str, raw: Any) -> LaunchArgument:
    if not _NAME.match(str(name)):
        raise _fail(path, getattr(raw, "line", 0), f"argument name {name!r} is not an identifier")
    if not isinstance(raw, _Map) or "default" not in raw or not raw.get("description"):
        raise _fail(path, getattr(raw, "line", 0), f"argument {name!r} needs a 'default' and a 'description'")
    _check_keys(path, raw, {"default", "description", "choices", "range"}, f"argument {name!r}")
    choices = tuple(_as_text(c) for c in raw.get("choices") or ())
    bounds = raw.get("range")
    if bounds is not None and not (
        isinstance(bounds, list) and [type(b) for b in bounds] == [int, int] and bounds[0] <= bounds[1]
    ):
        raise _fail(path, raw.line, f"argument {name!r}: range is [lowest, highest], two integers")
    try:
        default, description = _as_text(raw["default"]), str(raw["description"])
        return LaunchArgument(name, default, description, choices, tuple(bounds) if bounds else None)
    except SpecError as exc:
        raise _fail(path, raw.line, str(exc)) from None


def _parse_node(path: Path, raw: Any) -> NodeSpec:
    if not isinstance(raw, _Map):
        raise _fail(path, 0, f"each node must be a mapping, got {raw!r}")
    _check_keys(path, raw, _NODE_KEYS, f"node {raw.get('name', '?')!r}")
    for key in ("name", "executable"):
        if not raw.get(key):
            raise _fail(path, raw.line, f"node is missing {key!r}")
    if "if" in raw and "unless" in raw:
        raise _fail(path, raw.line, f"node {raw['name']!r} has both 'if' and 'unless'; use one")
    condition = str(raw["if"]) if "if" in raw else (f"!{raw['unless']}" if "unless" in raw else "")
    parameters = raw.get("parameters") or {}
    remappings = raw.get("remappings") or {}
    if not isinstance(parameters, Mapping) or not isinstance(remappings, Mapping):
        raise _fail(path, raw.line, f"node {raw['name']!r}: 'parameters' and 'remappings' must be mappings")
    try:
        respawn_delay = float(raw.get("respawn_delay", 2.0))
        respawn_window = float(raw.get("respawn_window", RESPAWN_WINDOW))
        if not respawn_delay >= 0 or not respawn_window > 0:
            raise ValueError
    except (TypeError, ValueError):
        raise _fail(
            path, raw.line, f"node {raw['name']!r}: 'respawn_delay' and 'respawn_window' must be seconds"
        ) from None
    respawn_max_deaths = raw.get("respawn_max_deaths", RESPAWN_MAX_DEATHS)
    if (
        isinstance(respawn_max_deaths, bool)
        or not isinstance(respawn_max_deaths, int)
        or respawn_max_deaths < 0
    ):
        raise _fail(
            path,
            raw.line,
            f"node {raw['name']!r}: 'respawn_max_deaths' must be a whole number >= 0 (0: never give up)",
        )
    return NodeSpec(
        name=str(raw["name"]),
        executable=str(raw["executable"]),
        package=str(raw.get("package", "maestro")),
        namespace=str(raw.get("namespace", "")),
        parameters=dict(parameters),
        param_files=tuple(str(p) for p in raw.get("param_files") or ()),
        remappings={str(k): str(v) for k, v in remappings.items()},
        arguments=tuple(str(a) for a in raw.get("arguments") or ()),
        respawn=bool(raw.get("respawn", False)),
        respawn_delay=respawn_delay,
        respawn_max_deaths=respawn_max_deaths,
        respawn_window=respawn_window,
        required=bool(raw.get("required", False)),
        condition=condition,
        line=raw.line,
    )


def _as_text(value: Any) -> str:
    """Argument values are text, like ROS launch's; YAML booleans become 'true'/'false'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _check_substitutions(spec: BringupSpec) -> None:
    valid = set(spec.argument_names)
    for node in spec.nodes:
        texts = [
            node.namespace,
            node.condition,
            *_strings(dict(node.parameters)),
            *node.param_files,
            *node.remappings.values(),
            *node.arguments,
        ]
        for text in texts:
            for name in _ARG.findall(text):
                if name not in valid:
                    raise _fail(
                        spec.path,
                        node.line,
                        f"node {node.name!r} uses unknown argument {name!r}; "
                        f"declared arguments: {', '.join(sorted(valid)) or 'none'}",
                    )
    for name in _ARG.findall(spec.use_sim_time):
        if name not in valid:
            raise _fail(spec.path, 1, f"'use_sim_time' uses unknown argument {name!r}")


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["sim:=false", "task:=ball"]`` -> ``{"sim": "false", "task": "ball"}``."""
    overrides: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not _NAME.match(name):
            raise SpecError(f"launch arguments are written name:=value, got {item!r}")
        overrides[name] = value
    return overrides


def is_true(value: str, what: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SpecError(f"{what} must be true or false, got {value!r}")


def _holds(condition: str, what: str) -> bool:
    """A substituted node condition: ``a == b`` compares the two texts; anything else is a boolean."""
    left, equals, right = condition.partition("==")
    return left.strip() == right.strip() if equals else is_true(condition, what)


def resolve(spec: BringupSpec, overrides: Mapping[str, str], share_dir: Path) -> list[ResolvedNode]:
    """Substitute launch arguments and return the nodes to start, with use_sim_time set on each."""
    values = {a.name: a.default for a in spec.arguments}
    for name, value in overrides.items():
        spec.argument(name).check(value)
        values[name] = value

    def substitute(text: str) -> str:
        return _ARG.sub(lambda m: values[m.group(1)], text)

    def typed(value: Any) -> Any:
        if isinstance(value, str) and _ARG.search(value):
            return yaml.safe_load(substitute(value)) if substitute(value) else ""
        if isinstance(value, Mapping):
            return {k: typed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [typed(v) for v in value]
        return value

    use_sim_time = is_true(substitute(spec.use_sim_time), "use_sim_time")
    resolved = []
    for node in spec.nodes:
        if node.condition:
            negate = node.condition.startswith("!")
            active = _holds(substitute(node.condition.lstrip("!")), f"condition of node {node.name!r}")
            if active == negate:
                continue
        namespace = substitute(node.namespace) if node.namespace else spec.namespace
        parameters = {"use_sim_time": use_sim_time, **typed(dict(node.parameters))}
        param_files = []
        for raw in node.param_files:
            file = share_dir / substitute(raw)
            if not file.is_file():
                raise _fail(spec.path, node.line, f"node {node.name!r}: parameter file {file} does not exist")
            param_files.append(file)
        resolved.append(
            ResolvedNode(
                name=node.name,
                package=node.package,
                executable=node.executable,
                namespace="/" + namespace.strip("/") if namespace.strip("/") else "/",
                parameters=parameters,
                param_files=tuple(param_files),
                remappings=tuple((k, substitute(v)) for k, v in node.remappings.items()),
                arguments=tuple(substitute(a) for a in node.arguments),
                respawn=node.respawn,
                respawn_delay=node.respawn_delay,
                required=node.required,
                respawn_max_deaths=node.respawn_max_deaths,
                respawn_window=node.respawn_window,
            )
        )
    return resolved
