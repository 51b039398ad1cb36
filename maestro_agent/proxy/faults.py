"""Fault injection for evaluation: the agent's calls to the module nodes fail at a given rate.

Evaluation only, off by default (``faults:=none``). The agent node's ``faults`` parameter (a bringup
launch argument; a sweep's ``faults`` dimension) is one ``kind:rate``:

- ``tool_error:R``: a call to a module node (detect, point, plan_grasp, move_arm, navigate, query_map,
  run_policy) raises that tool's typed error before it is sent, with probability R;
- ``empty:R``: a query (detect, point, plan_grasp) finds nothing: NotFoundError, as the node answers;
- ``grasp_slip:R``: after a gripper close that held something (the grasp reported success), the object
  slips: the gripper is opened just before the next arm motion (or base motion) starts.

Draws come from one generator reseeded at each goal from ``fault_seed`` (a sweep sets it per trial), so a
rerun injects the same faults at the same calls. Every injected fault is recorded as a ``fault_injected``
trace event, and an injected error's message starts with ``injected fault:``, so reports tell injected
failures from real ones. ``RosClient`` calls ``before_call`` / ``before_goal`` / ``after_goal``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from maestro_tools.common.errors import (
    BackendError,
    InvalidArgumentError,
    MaestroError,
    NotFoundError,
    UnreachableError,
)

if TYPE_CHECKING:  # the spec parser stays light: no robot models, no sandbox here
    from maestro_tools.robots.profile import GripperSpec

KINDS = ("tool_error", "empty", "grasp_slip")
EVENT = "fault_injected"
MARK = "injected fault:"
# Module endpoints a tool_error hits, and the typed error (and message) its node would answer with.
TOOL_ERRORS: dict[str, tuple[type[MaestroError], str]] = {
    "detect": (BackendError, "the detector failed on this frame"),
    "point": (BackendError, "the keypointer failed on this frame"),
    "plan_grasp": (BackendError, "the grasp planner failed"),
    "query_map": (BackendError, "the semantic map did not answer"),
    "move_arm": (UnreachableError, "the motion planner found no path to the goal"),
    "navigate": (UnreachableError, "the navigation planner found no path to the goal"),
    "run_policy": (BackendError, "the policy server failed"),
}
EMPTY = ("detect", "point", "plan_grasp")  # queries that can find nothing
SLIP_BEFORE = ("move_arm", "navigate")  # motions a pending slip happens before


@dataclass(frozen=True)
class FaultSpec:
    """``none`` or one fault kind with its rate (probability per eligible call)."""

    kind: str = "none"
    rate: float = 0.0

    def __post_init__(self) -> None:
        if self.kind != "none" and self.kind not in KINDS:
            raise InvalidArgumentError(f"unknown fault kind {self.kind!r}; valid: none, {', '.join(KINDS)}")
        if not 0.0 <= self.rate <= 1.0 or (self.kind == "none") != (self.rate == 0.0):
            raise InvalidArgumentError(f"a fault is 'none' or 'kind:rate' with 0 < rate <= 1; got {self}")

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        text = str(text).strip()
        if text in ("", "none"):
            return cls()
        kind, sep, rate = text.partition(":")
        try:
            value = float(rate) if sep else -1.0
        except ValueError:
            value = -1.0
        if value <= 0.0:
            raise InvalidArgumentError(
                f"a fault is 'none' or 'kind:rate' (kinds: {', '.join(KINDS)}; 0 < rate <= 1); got {text!r}"
            )
        return cls(kind, value)

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}:{self.rate:g}"


def _base(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


class FaultInjector:
    """Draws and injects one ``FaultSpec``'s faults; ``emit`` records each (default: the trace)."""

    def __init__(
        self,
        spec: FaultSpec,
        gripper: GripperSpec | None,
        seed: int = 0,
        emit: Callable[..., None] | None = None,
    ) -> None:
        if emit is None:
            from maestro_agent.sandbox.channel import emit_event as emit
        self.spec, self.gripper, self.emit = spec, gripper, emit
        self.injected = 0  # faults injected since the last start_trial
        self.release: Callable[[], Any] = lambda: None  # opens the gripper (attach sets it)
        self.start_trial(seed)

    def start_trial(self, seed: int) -> None:
        """Reseed (the same seed: the same draws at the same calls) and forget a pending slip."""
        self._rng = random.Random(f"maestro-faults:{self.spec}:{int(seed)}")
        self._slip_pending = False
        self.injected = 0

    def _draw(self, kind: str) -> bool:
        return self.spec.kind == kind and self._rng.random() < self.spec.rate

    def _record(self, kind: str, endpoint: str, message: str) -> None:
        self.injected += 1
        self.emit(EVENT, fault=kind, rate=self.spec.rate, endpoint=endpoint, message=message)

    def _raise(self, kind: str, endpoint: str, error: type[MaestroError], text: str) -> None:
        message = f"{MARK} {text} ({kind} at rate {self.spec.rate:g}, evaluation only)"
        self._record(kind, endpoint, message)
        raise error(message)

    def before_call(self, service: str) -> None:
        """Before a service call: raise an injected tool error or an empty answer."""
        name = _base(service)
        if name in TOOL_ERRORS and self._draw("tool_error"):
            self._raise("tool_error", name, *TOOL_ERRORS[name])
        if name in EMPTY and self._draw("empty"):
            self._raise("empty", name, NotFoundError, f"{name} found nothing")

    def attach(self, ros: Any, open_timeout_s: float = 30.0) -> FaultInjector:
        """Inject into ``ros`` (a RosClient: it calls the hooks below); a slip opens its gripper."""
        from control_msgs.action import GripperCommand
        from control_msgs.msg import GripperCommand as GripperGoal

        from maestro_tools.robots.gripper import command_position

        if self.gripper is not None:
            client = ros.action(GripperCommand, ros.interface.gripper_action)
            position = command_position(self.gripper.max_width, self.gripper)
            goal = GripperCommand.Goal(command=GripperGoal(position=position, max_effort=0.0))
            self.release = lambda: ros.act(client, goal, open_timeout_s)
        ros.faults = self
        return self

    def before_goal(self, action: str) -> None:
        """Before an action goal: a pending slip opens the gripper (``release``) before a motion; a tool
        error fails the goal before it is sent."""
        name = _base(action)
        if self._slip_pending and name in SLIP_BEFORE:
            self._slip_pending = False
            self._record("grasp_slip", name, f"{MARK} the grasped object slipped out as the {name} began")
            self.release()
        if name in TOOL_ERRORS and self._draw("tool_error"):
            self._raise("tool_error", name, *TOOL_ERRORS[name])

    def after_gripper(self, goal: Any, result: Any) -> None:
        """After a gripper goal: a close that held something may slip (at the next motion); any other
        gripper command (an open: the code let go itself) cancels a pending slip."""
        from maestro_tools.robots.gripper import holding, opening

        if self.gripper is None:
            return
        closing = float(goal.command.position) <= 1e-6
        width = opening(float(getattr(result, "position", 0.0)), self.gripper) if result is not None else 0.0
        held = closing and holding(width, self.gripper, 0.0)
        self._slip_pending = held and self._draw("grasp_slip")


def declare_faults(node: Any, ros: Any, gripper: GripperSpec | None) -> FaultInjector | None:
    """The agent node's ``faults`` and ``fault_seed`` parameters; the injector attached to ``ros`` when
    faults are on (None when off)."""
    from maestro_tools.common.params import declare

    text = declare(
        node,
        "faults",
        "none",
        "EVALUATION ONLY: inject faults into the tools' calls: none | tool_error:R | empty:R | "
        "grasp_slip:R (R: rate per eligible call, 0 < R <= 1)",
    )
    seed = declare(
        node,
        "fault_seed",
        0,
        "Seed of the injected faults, reapplied at each goal",
        minimum=0,
        read_only=False,
    )
    spec = FaultSpec.parse(text)
    if spec.kind == "none":
        return None
    if gripper is None and spec.kind == "grasp_slip":
        raise InvalidArgumentError("faults grasp_slip needs a robot with a gripper")
    node.get_logger().warning(f"fault injection on: {spec} (evaluation only)")
    return FaultInjector(spec, gripper, seed).attach(ros)
