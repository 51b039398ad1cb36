"""Sweep specs: robot x tasks x perturbation axes x seeds x configurations x trials per setting.

A spec is a versioned YAML file (``config/eval/*.yaml``)::

    version: 1
    name: ci_ball_in_bowl
    robot: franka
    tasks: [ball_in_bowl]
    axes: [none, pose]
    seeds: [0]
    trials: 1                 # trials per setting (repeats)
    matrix:                   # configuration dimensions (see DIMENSIONS), crossed; one graph config each
      vlm: [scripted]         # "backend", "backend:model" or {backend: ..., model: ...}
      harness: [true]
    launch: {real_time_factor: 3.0}   # launch arguments every graph gets
    retries: 2                # infrastructure failures retried per trial (the graph restarted)

A configuration is one value per dimension; its dimensions become launch arguments, so trials are grouped
into ``Batch``es of one graph configuration (robot + launch arguments) and one graph runs many trials. A
new dimension is one more entry in ``DIMENSIONS``. ``faults`` (evaluation-only fault injection,
maestro_agent/proxy/faults.py): ``[none, "tool_error:0.2", "empty:0.2", "grasp_slip:0.3"]``; ``tools``
(the ablation's tool groups, maestro_agent/proxy/registry.py): ``[S0, S1, S2, S3]``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from maestro_agent.evaluation.sweep import AXES, Setting
from maestro_agent.proxy.faults import FaultSpec
from maestro_agent.proxy.registry import FULL_GROUP as FULL_TOOL_GROUP
from maestro_agent.proxy.registry import TOOL_GROUPS
from maestro_tools.common.errors import InvalidArgumentError, SpecError

SPEC_VERSION = 1
KEYS = {
    "version", "name", "description", "robot", "tasks", "axes", "seeds", "trials", "matrix", "launch",
    "retries", "max_substeps", "trials_per_graph", "server_timeout_s",
}  # fmt: skip
TASK_REGISTRIES = {  # robot -> module:attribute naming its task registry (the sim the bringup starts)
    "franka": "maestro_tools.sim.tasks:TASKS",
    "go2w_piper": "maestro_tools.sim.mobile.tasks:HOUSE_TASKS",
    "libero": "maestro_tools.sim.libero.suites:TASK_NAMES",  # names only: LIBERO is not imported
}


@dataclass(frozen=True)
class Dimension:
    """One configuration dimension: canonical value from YAML, its launch arguments, a short label."""

    name: str
    parse: Callable[[Any], Any]  # YAML value -> canonical JSON value (raises SpecError)
    launch: Callable[[Any], dict[str, str]]
    label: Callable[[Any], str]
    default: Any


def _vlm(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        backend, _, model = value.partition(":")
        value = {"backend": backend, "model": model}
    if not isinstance(value, Mapping) or set(value) - {"backend", "model"} or not value.get("backend"):
        raise SpecError(f"a vlm value is 'backend', 'backend:model' or {{backend, model}}; got {value!r}")
    return {"backend": str(value["backend"]), "model": str(value.get("model") or "")}


def _flag(name: str) -> Callable[[Any], bool]:
    def parse(value: Any) -> bool:
        if not isinstance(value, bool):
            raise SpecError(f"{name} values are true or false; got {value!r}")
        return value

    return parse


def _faults(value: Any) -> str:
    try:
        return str(FaultSpec.parse(value if isinstance(value, str) else str(value)))
    except InvalidArgumentError as exc:
        raise SpecError(str(exc)) from None


def _tool_group(value: Any) -> str:
    if value not in TOOL_GROUPS:
        raise SpecError(f"a tools value is one of the tool groups {', '.join(TOOL_GROUPS)}; got {value!r}")
    return str(value)


def _register(*dimensions: Dimension) -> dict[str, Dimension]:
    names = [d.name for d in dimensions]
    if len(set(names)) != len(names):
        raise ValueError(f"dimension names repeat: {names}")
    return {d.name: d for d in dimensions}


DIMENSIONS = _register(
    Dimension(
        "vlm",
        _vlm,
        lambda v: {"vlm": v["backend"], "model": v["model"]},
        lambda v: v["backend"] + (f":{v['model']}" if v["model"] else ""),
        {"backend": "scripted", "model": ""},
    ),
    Dimension(
        "harness",
        _flag("harness"),
        lambda v: {"harness": "true" if v else "false"},
        lambda v: "harness" if v else "no-harness",
        True,
    ),
    Dimension(  # evaluation-only fault injection (maestro_agent/proxy/faults.py); "none" adds nothing
        "faults",
        _faults,
        lambda v: {} if v == "none" else {"faults": v},
        lambda v: "" if v == "none" else f"faults={v}",
        "none",
    ),
    Dimension(  # the ablation's tool groups (maestro_agent/proxy/registry.py); S3 = every tool
        "tools",
        _tool_group,
        lambda v: {} if v == FULL_TOOL_GROUP else {"tool_group": v},
        lambda v: "" if v == FULL_TOOL_GROUP else f"tools={v}",
        FULL_TOOL_GROUP,
    ),
)


@dataclass(frozen=True)
class Configuration:
    """One value per dimension (``values``: canonical JSON), its label and launch arguments."""

    label: str
    values_json: str
    launch: tuple[str, ...]  # name:=value

    @property
    def values(self) -> dict[str, Any]:
        return json.loads(self.values_json)


@dataclass(frozen=True)
class Trial:
    """One trial of a sweep; ``key`` names it in the results file (resume skips recorded keys)."""

    task: str
    axis: str
    seed: int
    config: Configuration
    repeat: int = 0

    @property
    def key(self) -> str:
        return f"{self.task}/{self.axis}/{self.seed}/{self.config.label}/{self.repeat}"

    @property
    def setting(self) -> Setting:
        return Setting(self.task, self.seed, self.axis)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "task": self.task, "axis": self.axis, "seed": self.seed, "repeat": self.repeat,
            "config": self.config.label, "dimensions": self.config.values,
        }  # fmt: skip


@dataclass(frozen=True)
class Batch:
    """Trials that one graph runs: the same robot and launch arguments (one graph configuration)."""

    robot: str
    launch: tuple[str, ...]
    trials: tuple[Trial, ...]
    namespace: str = "/maestro"

    def to_json(self) -> dict[str, Any]:
        return {
            "robot": self.robot, "launch": list(self.launch), "namespace": self.namespace,
            "trials": [t.to_json() for t in self.trials],
        }  # fmt: skip


@dataclass(frozen=True)
class SweepSpec:
    name: str
    robot: str
    tasks: tuple[str, ...]
    axes: tuple[str, ...] = ("none",)
    seeds: tuple[int, ...] = (0,)
    trials: int = 1
    matrix: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # dimension -> canonical values
    launch: tuple[tuple[str, str], ...] = ()
    retries: int = 2
    max_substeps: int = 0
    trials_per_graph: int = 0  # 0: no limit (a graph runs its whole share)
    server_timeout_s: float = 180.0
    description: str = ""
    namespace: str = field(default="/maestro", compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.axes) - set(AXES))
        if unknown:
            raise SpecError(f"unknown perturbation axes {unknown}; valid: {', '.join(AXES)}")
        if not self.tasks or not self.axes or not self.seeds:
            raise SpecError("a sweep needs at least one task, axis and seed")
        if self.trials < 1 or self.retries < 0 or self.max_substeps < 0 or self.trials_per_graph < 0:
            raise SpecError("trials must be >= 1; retries, max_substeps and trials_per_graph >= 0")
        for name, values in self.matrix:
            if name not in DIMENSIONS:
                raise SpecError(f"unknown matrix dimension {name!r}; valid: {', '.join(DIMENSIONS)}")
            if not values:
                raise SpecError(f"matrix dimension {name!r} has no values")

    def configurations(self) -> list[Configuration]:
        given = dict(self.matrix)
        names = list(DIMENSIONS)
        columns = [given.get(n, (DIMENSIONS[n].default,)) for n in names]
        configs = []
        for combo in itertools.product(*columns):
            values = dict(zip(names, combo, strict=True))
            arguments: dict[str, str] = {}
            for name, value in values.items():
                arguments.update(DIMENSIONS[name].launch(value))
            label = "+".join(filter(None, (DIMENSIONS[n].label(v) for n, v in values.items())))
            launch = tuple(f"{k}:={v}" for k, v in sorted(arguments.items()))
            configs.append(Configuration(label, json.dumps(values, sort_keys=True), launch))
        labels = [c.label for c in configs]
        if len(set(labels)) != len(labels):
            raise SpecError(f"matrix values repeat: {labels}")
        return configs

    def expand(self) -> list[Trial]:
        """Every trial, task-major, then configuration, axis, seed, repeat."""
        return [
            Trial(task, axis, seed, config, repeat)
            for task in self.tasks
            for config in self.configurations()
            for axis in self.axes
            for seed in self.seeds
            for repeat in range(self.trials)
        ]

    def graph_launch(self, config: Configuration) -> tuple[str, ...]:
        """Launch arguments of the graph that runs ``config``'s trials (a dimension wins over ``launch``)."""
        arguments = dict(self.launch)
        arguments.update(a.split(":=", 1) for a in config.launch)
        return tuple(f"{k}:={v}" for k, v in sorted(arguments.items()))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            matrix={k: list(v) for k, v in self.matrix}, launch=dict(self.launch), version=SPEC_VERSION
        )
        return data


def batches(spec: SweepSpec, trials: Sequence[Trial], workers: int = 1) -> list[Batch]:
    """Group ``trials`` by graph configuration; split groups so that ``workers`` graphs share the work."""
    groups: dict[tuple[str, ...], list[Trial]] = {}
    for trial in trials:
        groups.setdefault(spec.graph_launch(trial.config), []).append(trial)
    per_graph = math.ceil(len(trials) / max(1, workers)) if trials else 1
    if spec.trials_per_graph:
        per_graph = min(per_graph, spec.trials_per_graph)
    out = []
    for launch, members in groups.items():
        chunks = math.ceil(len(members) / per_graph)
        size = math.ceil(len(members) / chunks)  # even chunks
        for start in range(0, len(members), size):
            out.append(Batch(spec.robot, launch, tuple(members[start : start + size]), spec.namespace))
    return out


def load_spec(path: Path | str) -> SweepSpec:
    """Read and validate a sweep spec (tasks against the robot's task registry, launch arguments against
    its bringup spec)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read sweep spec {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a sweep spec is a mapping; see config/eval/ci.yaml")
    if data.get("version") != SPEC_VERSION:
        raise SpecError(f"{path}: version must be {SPEC_VERSION}; got {data.get('version')!r}")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise SpecError(f"{path}: unknown keys {unknown}; valid: {', '.join(sorted(KEYS))}")
    matrix = data.get("matrix") or {}
    if not isinstance(matrix, dict) or not all(isinstance(v, list) for v in matrix.values()):
        raise SpecError(f"{path}: matrix maps a dimension to a list of values")
    for name in matrix:
        if name not in DIMENSIONS:
            raise SpecError(f"{path}: unknown matrix dimension {name!r}; valid: {', '.join(DIMENSIONS)}")
    try:
        spec = SweepSpec(
            name=str(data.get("name") or path.stem),
            robot=str(data.get("robot", "franka")),
            tasks=tuple(str(t) for t in _list(data, "tasks")),
            axes=tuple(str(a) for a in _list(data, "axes", ["none"])),
            seeds=tuple(int(s) for s in _list(data, "seeds", [0])),
            trials=int(data.get("trials", 1)),
            matrix=tuple((k, tuple(DIMENSIONS[k].parse(v) for v in vs)) for k, vs in matrix.items()),
            launch=tuple((str(k), _text(v)) for k, v in (data.get("launch") or {}).items()),
            retries=int(data.get("retries", 2)),
            max_substeps=int(data.get("max_substeps", 0)),
            trials_per_graph=int(data.get("trials_per_graph", 0)),
            server_timeout_s=float(data.get("server_timeout_s", 180.0)),
            description=str(data.get("description", "")),
        )
    except (TypeError, ValueError) as exc:  # SpecError is a ValueError: each message gets the path
        raise SpecError(f"{path}: {exc}") from exc
    return _checked(spec)


def _list(data: dict[str, Any], key: str, default: list[Any] | None = None) -> list[Any]:
    value = data.get(key, default)
    if not isinstance(value, list):
        raise SpecError(f"{key} must be a list; got {value!r}")
    return value


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _checked(spec: SweepSpec) -> SweepSpec:
    """Check tasks and every graph's launch arguments; take the graph's namespace from the bringup."""
    import importlib

    from maestro_agent.bringup.launcher import resolve_commands, spec_for

    bringup = spec_for(spec.robot)  # unknown robot: NotFoundError naming the robots
    if spec.robot in TASK_REGISTRIES:
        module, _, attribute = TASK_REGISTRIES[spec.robot].partition(":")
        known = getattr(importlib.import_module(module), attribute)
        unknown = [t for t in spec.tasks if t not in known]
        if unknown:
            raise SpecError(f"unknown tasks {unknown} for {spec.robot}; valid: {', '.join(known)}")
    for config in spec.configurations():
        resolve_commands(spec.robot, list(spec.graph_launch(config)), require_executables=False)
    return replace(spec, namespace=bringup.namespace)
