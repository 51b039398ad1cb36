"""The tools' one ROS 2 node, in the agent process: service and action clients to the module nodes.

Calls block the calling thread (the sandbox serving a tool call) with short sleeps that check for the
run's cancel and deadline (``channel.check_interrupt``); a running action goal is then cancelled on
the way out, which is what stops the robot when a task is cancelled. Every client and every goal
passes the actuation gate (``gate``) when one is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.experimental.events_executor import EventsExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState

from maestro_agent.proxy.faults import FaultInjector
from maestro_agent.proxy.gate import ActuationGate
from maestro_agent.sandbox import channel
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.conversions import pose_to_matrix
from maestro_tools.common.errors import (
    CanceledError,
    MaestroError,
    MaestroTimeoutError,
    NoDataError,
    UnavailableError,
    error_from_code,
)
from maestro_tools.common.qos import LATCHED_QOS, STATE_QOS
from maestro_tools.common.spinning import report_callback_error
from maestro_tools.common.teardown import close_context, destroy_node
from maestro_tools.perception.objects import CameraFrame
from maestro_tools.perception.topic_source import TopicFrameSource
from maestro_tools.robots.profile import RobotProfile

POLL_S = 0.01


@dataclass(frozen=True)
class RobotInterface:
    """Where the robot's own interface is (sim: these defaults; franka_ros2: config/franka/sim_false.yaml)."""

    gripper_action: str
    joint_states_topic: str
    joint_prefix: str


def _wait(done: Callable[[], bool], timeout: float, interruptible: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if interruptible:
            channel.check_interrupt()
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


class RosClient:
    """Clients for detect, point, plan_grasp, move_arm, gripper and the robot's state, in ``namespace``."""

    def __init__(
        self,
        profile: RobotProfile,
        namespace: str = "/maestro",
        node_name: str = "agent_proxy",
        gripper_action: str = "gripper_controller/gripper_cmd",
        joint_states_topic: str = "joint_states",
        joint_prefix: str = "",
        gate: ActuationGate | None = None,
    ) -> None:
        self.gate = gate
        self.faults: FaultInjector | None = None  # evaluation only: FaultInjector.attach sets it
        names = profile.joint_names(joint_prefix)
        own = profile.joint_names()
        self._own_names = dict(zip((*names.arm, *names.fingers), (*own.arm, *own.fingers), strict=True))
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(node_name, namespace=namespace, context=self.context)
        group = ReentrantCallbackGroup()
        self._group = group
        self._frames = TopicFrameSource(
            self.node, group, profile.camera_names, 5.0, on_demand=True, base_frame=profile.base_frame
        )
        self.interface = RobotInterface(gripper_action, joint_states_topic, joint_prefix)
        self._joints: JointState | None = None
        self._tcp: PoseStamped | None = None
        self.node.create_subscription(
            JointState, joint_states_topic, self._on_joints, STATE_QOS, callback_group=group
        )
        self.node.create_subscription(PoseStamped, "tcp_pose", self._on_tcp, STATE_QOS, callback_group=group)
        # Events, not a MultiThreadedExecutor: no callback here blocks (callers wait in their own threads)
        # and rclpy's wait-set executors spend 1-2 ms of Python per message (joint_states, tcp_pose).
        self.executor = EventsExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._destroyed = False
        self._spin = threading.Thread(target=self._spin_forever, name="proxy-ros", daemon=True)
        self._spin.start()

    def _spin_forever(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception as exc:  # a shutdown race at exit, or a callback's bug: the spin goes on
                if not self.context.ok():
                    return
                report_callback_error(exc)

    def _on_joints(self, message: JointState) -> None:
        self._joints = message

    def _on_tcp(self, message: PoseStamped) -> None:
        self._tcp = message

    def latest(self, msg_type: Any, topic: str, qos: QoSProfile = LATCHED_QOS) -> Callable[[], Any]:
        """Keep the newest message on ``topic``; returns its getter (None until one has come)."""
        kept: list[Any] = [None]
        self.node.create_subscription(
            msg_type, topic, lambda m: kept.__setitem__(0, m), qos, callback_group=self._group
        )
        return lambda: kept[0]

    def close(self) -> None:
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        self._spin.join(timeout=5.0)
        if not self._spin.is_alive() and not self._destroyed:  # nothing spins the node any more
            self._destroyed = True
            destroy_node(self.node)
            close_context(self.context)

    # -- state -----------------------------------------------------------------------------------
    def joints(self, timeout: float = 5.0) -> dict[str, float]:
        if not _wait(lambda: self._joints is not None, timeout):
            raise NoDataError(
                f"no joint_states within {timeout} s; is the robot (sim node or driver) running?"
            )
        message = self._joints
        return {self._own_names.get(n, n): p for n, p in zip(message.name, message.position, strict=False)}

    def tcp_pose(self, timeout: float = 5.0) -> np.ndarray:
        if not _wait(lambda: self._tcp is not None, timeout):
            raise NoDataError(f"no tcp_pose within {timeout} s; is the motion node running?")
        return pose_to_matrix(self._tcp.pose)

    def state_time(self) -> float | None:
        """The robot's time (s) of the latest tcp_pose (its joint states' stamp: simulated time in the
        sim), None before any or when unstamped."""
        message = self._tcp
        if message is None:
            return None
        stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
        return stamp if stamp > 0 else None

    def transform(self, target: str, source: str, timeout: float = 2.0) -> np.ndarray:
        """The latest 4x4 pose of frame ``source`` in ``target`` from TF (e.g. map -> base_link)."""
        return self._frames.tf.lookup(target, source, None, timeout=timeout)

    def frame(self, camera: str, timeout: float = 5.0) -> CameraFrame:
        """One matched colour + depth + pose frame from ``camera`` (subscribes only for the grab)."""
        return self._frames.grab(camera, timeout)

    # -- clients (the tools create theirs when they are built, before any code runs) ---------------
    def service(self, srv_type: Any, name: str) -> Any:
        if self.gate is not None:
            self.gate.allow(name)
        return self.node.create_client(srv_type, name, callback_group=self._group)

    def action(self, action_type: Any, name: str) -> ThreadSafeActionClient:
        if self.gate is not None:
            self.gate.allow(name)
        return ThreadSafeActionClient(self.node, action_type, name, callback_group=self._group)

    # -- calls -----------------------------------------------------------------------------------
    def call(self, client: Any, request: Any, timeout: float) -> Any:
        """Call a service; raise the typed error its response carries, or a timeout naming the service."""
        name = client.srv_name
        if self.faults is not None:
            self.faults.before_call(name)
        if not _wait(client.service_is_ready, min(timeout, 5.0)):
            raise UnavailableError(f"service {name} is not available; is its node running?")
        future = client.call_async(request)
        try:
            if not _wait(future.done, timeout):
                raise MaestroTimeoutError(f"{name} did not answer within {timeout:.0f} s")
        except BaseException:
            future.cancel()
            raise
        response = future.result()
        if hasattr(response, "success") and not response.success:
            raise error_from_code(response.error_code, response.message)
        return response

    def act(
        self,
        client: ThreadSafeActionClient,
        goal: Any,
        timeout: float,
        on_feedback: Callable[[Any], None] | None = None,
    ) -> Any:
        """Run an action goal to its result. ``on_feedback`` runs in this thread and may raise to abort.

        Any exception here (a timeout, a feedback check, the sandbox's cancel) cancels the goal before it
        propagates, so the robot does not go on moving for code that is no longer running.
        """
        name = client._action_name
        if self.faults is not None:
            self.faults.before_goal(name)
        if self.gate is not None:
            goal = self.gate.admit(goal)
        if not _wait(client.server_is_ready, min(timeout, 5.0)):
            raise UnavailableError(f"action {name} is not available; is its node running?")
        pending: list[Any] = []
        lock = threading.Lock()

        def queue(message: Any) -> None:
            with lock:
                pending.append(message.feedback)

        sent = client.send_goal_async(goal, feedback_callback=queue)
        handle = None
        try:
            if not _wait(sent.done, 10.0):
                raise UnavailableError(f"{name} did not answer the goal within 10 s")
            handle = sent.result()
            if not handle.accepted:
                raise UnavailableError(f"{name} rejected the goal")
            result = handle.get_result_async()
            deadline = time.monotonic() + timeout
            while not result.done():
                if time.monotonic() > deadline:
                    raise MaestroTimeoutError(
                        f"{name} did not finish within {timeout:.0f} s; it was cancelled"
                    )
                with lock:
                    batch, pending[:] = pending[:], []
                if on_feedback is not None:
                    for feedback in batch:
                        on_feedback(feedback)
                channel.check_interrupt()
                time.sleep(POLL_S)
        except BaseException:
            if handle is not None and handle.accepted:
                cancelling = handle.cancel_goal_async()
                _wait(cancelling.done, 1.0, interruptible=False)
            raise
        if self.faults is not None and name == self.interface.gripper_action:
            self.faults.after_gripper(goal, result.result().result)
        return result.result().result


def raise_for(result: Any) -> Any:
    """The result itself when it succeeded, else its typed error."""
    if not result.success:
        error = error_from_code(result.error_code, result.message)
        raise CanceledError(result.message) if isinstance(error, CanceledError) else error
    return result


__all__ = ["MaestroError", "RosClient", "raise_for"]
