"""Declare node parameters with defaults, descriptions, ranges and choices, in one call each.

    speed = declare(node, "speed", 0.5, "Arm speed scaling", minimum=0.0, maximum=1.0)
    backend = declare(node, "backend", "sim", "Detector backend", choices=("sim", "geometric"))

A value outside its range or choices raises InvalidArgumentError naming the valid values, at
start-up (from a params file or ``-p``) and on later ``set_parameters`` calls (rejected).

Parameters are read-only unless declared with ``read_only=False``: the nodes read them once at
start-up, so a later ``ros2 param set`` is refused rather than accepted and silently ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from maestro_tools.common.errors import InvalidArgumentError

T = TypeVar("T")
_CHECKS = "_maestro_parameter_checks"


def _check(
    name: str, value: Any, minimum: float | None, maximum: float | None, choices: Sequence[Any] | None
) -> str | None:
    if choices is not None and value not in choices:
        return f"parameter {name!r} must be one of {', '.join(map(str, choices))}; got {value!r}"
    if minimum is not None and value < minimum:
        return f"parameter {name!r} must be >= {minimum}; got {value!r}"
    if maximum is not None and value > maximum:
        return f"parameter {name!r} must be <= {maximum}; got {value!r}"
    return None


def declare(
    node: Node,
    name: str,
    default: T,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[Any] | None = None,
    read_only: bool = True,
) -> T:
    """Declare ``name`` with a typed default and a description; return its (validated) value."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if choices is not None:
        descriptor.additional_constraints = "one of: " + ", ".join(map(str, choices))
    if isinstance(default, bool):
        pass
    elif isinstance(default, int) and (minimum is not None or maximum is not None):
        descriptor.integer_range = [
            IntegerRange(
                from_value=int(minimum if minimum is not None else -(2**62)),
                to_value=int(maximum if maximum is not None else 2**62),
                step=0,
            )
        ]
    elif isinstance(default, float) and (minimum is not None or maximum is not None):
        descriptor.floating_point_range = [
            FloatingPointRange(
                from_value=float(minimum if minimum is not None else -1e300),
                to_value=float(maximum if maximum is not None else 1e300),
                step=0.0,
            )
        ]
    value = node.declare_parameter(name, default, descriptor).value
    problem = _check(name, value, minimum, maximum, choices)
    if problem:
        raise InvalidArgumentError(problem)
    if choices is not None:
        _register_choice_check(node, name, choices)
    return value  # type: ignore[return-value]


def _register_choice_check(node: Node, name: str, choices: Sequence[Any]) -> None:
    """rcl checks ranges itself; choices are checked by one callback per node."""
    checks: dict[str, Sequence[Any]] | None = getattr(node, _CHECKS, None)
    if checks is None:
        checks = {}
        setattr(node, _CHECKS, checks)

        def validate(parameters: list[Parameter]) -> SetParametersResult:
            for parameter in parameters:
                allowed = checks.get(parameter.name)
                if allowed is not None and parameter.value not in allowed:
                    return SetParametersResult(
                        successful=False,
                        reason=_check(parameter.name, parameter.value, None, None, allowed) or "",
                    )
            return SetParametersResult(successful=True)

        node.add_on_set_parameters_callback(validate)
    checks[name] = tuple(choices)
