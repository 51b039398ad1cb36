"""The agent node's sandbox: its parameters, the tools it serves, the actuation gate and supervision.

The model's code runs in an isolated child with stubs; the tools themselves (and their ROS node) run
here, behind the gate. In supervised mode each motion waits for an operator: the request is shown in
the RunTask feedback (phase ``awaiting_confirmation``, the motion in ``stdout_tail``) and answered
with ``ros2 service call <agent>/confirm_motion std_srvs/srv/SetBool "{data: true}"``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from std_srvs.srv import SetBool

from maestro_agent.proxy.gate import GateLimits
from maestro_agent.proxy.registry import FULL_GROUP
from maestro_agent.proxy.ros_client import RosClient
from maestro_agent.proxy.session import make_host
from maestro_agent.sandbox import Sandbox, SandboxLimits, channel
from maestro_tools.common.params import declare


class Supervisor:
    """Asks the operator to confirm each motion (``confirm``); answers come through ``confirm_motion``."""

    def __init__(self, node: Node, publish: Callable[[str], None]) -> None:
        self.node, self.publish = node, publish
        self._answer: bool | None = None
        self._pending = threading.Event()
        self._answered = threading.Condition()
        node.create_service(SetBool, "~/confirm_motion", self._on_answer)

    def confirm(self, description: str, timeout_s: float) -> bool:
        with self._answered:
            self._answer = None
            self._pending.set()
        text = f"awaiting confirmation: {description} (call confirm_motion with data: true to go on)"
        self.node.get_logger().warning(text)
        self.publish(text)
        try:
            with self._answered:
                ok = self._answered.wait_for(
                    lambda: self._answer is not None or channel.cancel_pending(), timeout=timeout_s
                )
                return bool(ok and self._answer)
        finally:
            self._pending.clear()

    def _on_answer(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if not self._pending.is_set():
            response.success, response.message = False, "no motion is waiting for confirmation"
            return response
        with self._answered:
            self._answer = bool(request.data)
            self._answered.notify_all()
        response.success, response.message = True, "confirmed" if request.data else "refused"
        return response


def declare_sandbox(
    node: Node,
    robot: str,
    harness: bool,
    interface: dict[str, str],
    on_event: Callable[[dict], None],
    publish_request: Callable[[str], None],
    tool_group: str = FULL_GROUP,
) -> tuple[Sandbox, RosClient, str]:
    """The node's sandbox parameters, the tool host behind the gate, the (started) sandbox, and the limits
    the code runs under as text for the system prompt."""
    limits = SandboxLimits(
        wall_s=declare(
            node, "substep_wall_s", 180.0, "Wall-time limit of one substep's code, s", minimum=1.0
        ),
        cpu_s=declare(node, "substep_cpu_s", 60.0, "CPU-time limit of one substep's code, s", minimum=1.0),
        memory_mb=declare(
            node, "sandbox_memory_mb", 3072, "Address-space limit of the sandbox process, MiB", minimum=256
        ),
    )
    unsafe = declare(
        node,
        "unsafe_run_code_without_isolation",
        False,
        "DANGER: run model-written code without OS isolation (hosts without bubblewrap or user namespaces)",
        read_only=True,
    )
    gate = GateLimits(
        max_speed=declare(
            node, "max_speed", 1.0, "Cap on motion speed (fraction of the maximum)", minimum=0.01, maximum=1.0
        ),
        max_gripper_force=declare(
            node,
            "max_gripper_force",
            0.0,
            "Cap on gripper force, N (0: the robot profile's maximum)",
            minimum=0.0,
        ),
        motion_rate_hz=declare(
            node,
            "max_motion_rate",
            5.0,
            "Motion commands per second the tools may send (bursts: 2x)",
            minimum=0.1,
        ),
        supervised=declare(
            node, "supervised", False, "Each motion waits for confirm_motion (first runs on a real robot)"
        ),
        confirm_timeout_s=declare(
            node, "confirm_timeout_s", 120.0, "How long a motion waits for confirmation, s", minimum=1.0
        ),
    )
    allowed: list[str] = declare(
        node,
        "allowed_endpoints",
        [""],
        "Services/actions the tools may call besides move_arm, detect, point, plan_grasp and the gripper",
    )
    supervisor = Supervisor(node, publish_request) if gate.supervised else None
    host, ros = make_host(
        robot,
        namespace=node.get_namespace(),
        harness=harness,
        interface=interface,
        gate_limits=gate,
        allowed_endpoints=[a for a in allowed if a],
        confirm=supervisor.confirm if supervisor else None,
        tool_group=tool_group,
    )
    sandbox = Sandbox(host, limits=limits, on_event=on_event, isolate=not unsafe)
    try:
        sandbox.start()
    except BaseException:
        ros.close()
        raise
    report: dict[str, Any] = sandbox.isolation_report
    if unsafe:
        node.get_logger().error(
            "model-written code runs WITHOUT OS isolation (unsafe_run_code_without_isolation)"
        )
    else:
        node.get_logger().info(
            f"sandbox isolated: uid {report.get('uid')}, seccomp {report.get('seccomp')}, "
            f"network {report.get('net_devices')}, {len(report.get('pids', []))} processes visible"
        )
    return sandbox, ros, describe_limits(limits, gate)


def describe_limits(limits: SandboxLimits, gate: GateLimits) -> str:
    """What the model's code runs under, for the system prompt (every limit it can run into)."""
    lines = [
        f"- Each substep's code: at most {limits.wall_s:g} s of wall time and {limits.cpu_s:g} s of CPU "
        f"(SandboxTimeout), {limits.memory_mb} MiB of memory (MemoryError); long printed output reaches "
        "you with its middle cut (its first and last parts stay): print what matters, briefly.",
        f"- Motion: speed at most {gate.max_speed:g} of the maximum, at most {gate.motion_rate_hz:g} motion "
        "commands per second, targets inside the workspace and the joint limits; a refusal names the limit.",
    ]
    if gate.supervised:
        lines.append("- Each motion waits for an operator's confirmation: prefer few, purposeful moves.")
    return "\n".join(lines)
