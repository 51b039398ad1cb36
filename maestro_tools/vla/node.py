"""The ``vla_bridge`` node: the ``run_policy`` action (maestro_msgs/RunPolicy) runs a learned policy served
over the openpi protocol on the robot until a monitor says the subtask is done.

Per goal: connect to the policy server (the goal's ``policy``: a configured name, a ws:// URL, or the
default ``server_url``) and read its metadata; then, until a stop: build the observation from the
cameras and joint states (``RobotMapping``), ask for an action chunk, and execute its first
``replan_steps`` rows at the control rate as one FollowJointTrajectory goal to the arm controller, with
GripperCommand goals when the gripper column changes. The monitor (``until``: a VLM yes/no question at
about 2 Hz, the simulation's task progress, a detection, or none) runs alongside; feedback every step
carries the step, the chunk latency (and the server's ``server_timing``) and the monitor's verdict.

A policy whose metadata ``requires`` ``observation/object_positions`` (the warp policy) also gets the
detector's objects in the base frame (``objects.py``). Stops: DONE (the monitor, or a reply with
``done: true``: the policy ended its own plan), TIMEOUT, MAX_STEPS, NO_PROGRESS (the arm or the policy
idle for ``no_progress_window`` s of the robot's clock), CANCELED and PREEMPTED (a newer goal),
SERVER_GONE (refused, dropped or silent: the message names the URL), ERROR (the server's error frame, a
malformed reply). On every stop a running trajectory is cancelled, so the arm holds where it is.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from control_msgs.action import FollowJointTrajectory, GripperCommand
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState

from maestro_msgs.action import RunPolicy
from maestro_tools.common.action_client import ThreadSafeActionClient
from maestro_tools.common.errors import (
    CanceledError,
    ErrorCode,
    InvalidArgumentError,
    MaestroError,
    MaestroTimeoutError,
    NoDataError,
    PreemptedError,
    StalledError,
    UnavailableError,
)
from maestro_tools.common.node_main import run_node
from maestro_tools.common.preempting import PreemptingActionServer
from maestro_tools.common.qos import STATE_QOS
from maestro_tools.common.spinning import wait_future_blocking
from maestro_tools.common.validate import unexpected
from maestro_tools.perception.topic_source import SENSOR_QOS, colour_rgb
from maestro_tools.robots.model import RobotModel
from maestro_tools.robots.params import declare_robot
from maestro_tools.vla.checks import RosChecks
from maestro_tools.vla.client import PolicyClient
from maestro_tools.vla.errors import PolicyConnectionError, PolicyTimeoutError
from maestro_tools.vla.goals import TrajectoryClock, gripper_goal, trajectory_goal
from maestro_tools.vla.mapping import RobotMapping, Targets
from maestro_tools.vla.monitor import Monitor, NoProgressWatch
from maestro_tools.vla.objects import ObjectTracker
from maestro_tools.vla.params import declare_bridge_params, parse_until, resolve_server


@dataclass
class Run:
    """One goal's run: its handle, clock, monitor and counters."""

    handle: ServerGoalHandle
    started: float
    timeout: float = 0.0
    quiet: bool = False  # until none: the timeout and max_steps are how it ends, successfully
    monitor: Monitor = field(default_factory=lambda: Monitor(()))
    watch: NoProgressWatch = field(default_factory=NoProgressWatch)
    steps: int = 0
    chunks: int = 0
    latency: float = 0.0  # s, policy round trips summed
    verdict: str = ""
    gripper_target: float | None = None
    objects: ObjectTracker | None = None  # when the policy requires object positions


class Stop(Exception):  # noqa: N818 (control flow, not an error)
    """Ends a run: ``reason`` (DONE, TIMEOUT, ...) and the error it is on the wire (None = success)."""

    def __init__(self, reason: str, error: MaestroError | None, message: str) -> None:
        super().__init__(message)
        self.reason, self.error, self.message = reason, error, message


class VlaBridgeNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("vla_bridge", **kwargs)
        self.profile = declare_robot(self)
        for capability in ("arm", "gripper", "cameras"):
            self.profile.require(capability)
        self.params = params = declare_bridge_params(self, self.profile)
        self.names = self.profile.joint_names(params.joint_prefix)
        model = RobotModel(self.profile)
        self.mapping = RobotMapping(self.profile, params.spec, (model.lower, model.upper))
        self.monitor_camera = self.profile.camera(
            params.monitor_camera or self.mapping.cameras[next(iter(self.mapping.cameras))]
        ).name
        self.group = group = ReentrantCallbackGroup()
        self.arm = ThreadSafeActionClient(
            self, FollowJointTrajectory, params.arm_action, callback_group=group
        )
        self.gripper = ThreadSafeActionClient(
            self, GripperCommand, params.gripper_action, callback_group=group
        )
        self._joints: JointState | None = None
        self._images: dict[str, Image] = {}
        self.create_subscription(JointState, params.joint_states_topic, self._on_joints, STATE_QOS)
        self._run_lock = threading.Lock()
        self._closing = threading.Event()
        self.checks = RosChecks(self)
        self.goals = PreemptingActionServer(self, RunPolicy, "run_policy", self.execute, group)
        self.get_logger().info(
            f"vla_bridge ready: {self.profile.name}, {self.mapping.format.name} format "
            f"({', '.join(f'{r}: {c}' for r, c in self.mapping.cameras.items())}), default server "
            f"{params.server_url}, {params.spec.actions} at {params.spec.control_rate:g} Hz"
        )

    def close(self) -> None:
        """Called by run_node on SIGINT/SIGTERM: a running goal stops the arm and ends now."""
        self._closing.set()

    # -- inputs (subscription callbacks: store only) ----------------------------------------------
    def _on_joints(self, message: JointState) -> None:
        self._joints = message

    @contextmanager
    def _cameras(self) -> Iterator[None]:
        """The policy's cameras, subscribed while a goal runs (a simulated camera renders only then)."""
        self._images = {}
        cameras = dict.fromkeys([*self.mapping.camera_names, self.monitor_camera])
        subscriptions = [
            self.create_subscription(
                Image,
                f"{self.profile.camera(c).namespace}/color/image_raw",
                lambda m, c=c: self._images.__setitem__(c, m),
                SENSOR_QOS,
                callback_group=self.group,
            )
            for c in cameras
        ]
        try:
            yield
        finally:
            for subscription in subscriptions:
                self.destroy_subscription(subscription)

    def state(self) -> tuple[np.ndarray, float]:
        """The arm's joints (rad, profile order) and the gripper's opening (m) from the joint states."""
        message = self._joints
        if message is None:
            raise NoDataError(
                f"no joint states on {self.resolve_topic_name(self.params.joint_states_topic)}; is the robot "
                "interface running?"
            )
        joints = self.names.arm_positions(message.name, message.position)
        width = self.names.gripper_width(message.name, message.position)
        return joints, self.mapping.max_width if width is None else width

    def robot_time(self, fallback: float) -> float:
        """The robot's clock: the latest joint states' stamp (simulated time in the sim), so a simulation
        running slower than real time is not judged idle; ``fallback`` when the driver does not stamp."""
        message = self._joints
        stamp = message.header.stamp if message is not None else None
        if stamp is None or (stamp.sec == 0 and stamp.nanosec == 0):
            return fallback
        return stamp.sec + stamp.nanosec * 1e-9

    def image(self, camera: str) -> np.ndarray | None:
        message = self._images.get(camera)
        return None if message is None else colour_rgb(message)

    def _wait_inputs(self) -> None:
        deadline = time.monotonic() + self.params.observation_timeout
        cameras = set(self.mapping.camera_names)
        while time.monotonic() < deadline and (self._joints is None or not cameras <= set(self._images)):
            time.sleep(0.01)
        missing = sorted(cameras - set(self._images))
        if missing:
            raise NoDataError(
                f"no images from the {', '.join(missing)} camera(s) within "
                f"{self.params.observation_timeout:g} s"
            )
        self.state()

    # -- the action -------------------------------------------------------------------------------
    def execute(self, handle: ServerGoalHandle) -> RunPolicy.Result:
        """Every goal ends with a result; an error no check anticipated is BACKEND_ERROR."""
        run = Run(handle, time.monotonic())
        with self._run_lock:  # a preempted goal stops its arm before this one drives
            try:
                self._run(run)
                raise AssertionError("a run ends with a Stop")
            except Stop as stop:
                return self._end(run, stop)
            except (PolicyConnectionError, PolicyTimeoutError) as exc:
                return self._end(run, Stop("SERVER_GONE", exc, str(exc)))
            except MaestroError as exc:
                return self._end(run, Stop("ERROR", exc, str(exc)))
            except Exception as exc:  # a bad goal must never kill the node
                error = unexpected(self, exc, "run_policy")
                return self._end(run, Stop("ERROR", error, str(error)))

    def _end(self, run: Run, stop: Stop) -> RunPolicy.Result:
        error, handle = stop.error, run.handle
        result = RunPolicy.Result(
            success=error is None,
            error_code=int(error.code) if error is not None else 0,
            message=stop.message,
            steps=run.steps,
            duration=float(time.monotonic() - run.started),
            stop_reason=stop.reason,
            verdict=run.verdict,
            chunks=run.chunks,
            mean_chunk_latency=float(run.latency / run.chunks) if run.chunks else 0.0,
        )
        if stop.reason == "NO_PROGRESS" and handle.is_active:
            state = RunPolicy.Feedback.NO_PROGRESS
            handle.publish_feedback(RunPolicy.Feedback(state=state, step=run.steps, progress=-1.0))
        ended = (
            f"run_policy ended {stop.reason} ({run.chunks} chunks, {result.mean_chunk_latency * 1e3:.1f} ms"
        )
        ended += f" mean chunk latency): {stop.message}"
        if error is None:  # rclpy ties a call site to one severity
            self.get_logger().info(ended)
        else:
            self.get_logger().warning(ended)
        if handle.is_active:
            if error is None:
                handle.succeed()
            elif error.code == ErrorCode.CANCELED and handle.is_cancel_requested:
                handle.canceled()
            else:
                handle.abort()
        return result

    def _run(self, run: Run) -> None:
        goal, params = run.handle.request, self.params
        instruction = goal.instruction.strip()
        if not instruction:
            raise InvalidArgumentError("the goal needs an instruction, e.g. 'put the cup in the bowl'")
        until = parse_until(goal.until, params.monitor)
        url = resolve_server(goal.policy, params)
        run.quiet = until.kind == "none"  # nothing can say done: running out of time or steps is the plan
        run.timeout = float(goal.timeout) if goal.timeout > 0 else params.default_timeout
        for client, what in ((self.arm, params.arm_action), (self.gripper, params.gripper_action)):
            if not client.wait_for_server(timeout_sec=2.0):
                raise UnavailableError(
                    f"the action {self.resolve_topic_name(what)} is not available; is the robot running?"
                )
        run.monitor = Monitor(self.checks.make(until, instruction))
        run.watch = NoProgressWatch(params.no_progress_window, params.no_progress_tolerance)
        timeouts = {"connect_timeout": params.connect_timeout, "infer_timeout": params.infer_timeout}
        with self._cameras(), PolicyClient(url, connect_now=False, **timeouts) as policy:
            self._wait_inputs()
            policy.connect()
            run.objects = self.checks.objects(policy.metadata)
            self.get_logger().info(
                f"run_policy {instruction!r} on {url} until {until.kind}: {policy.metadata}"
            )
            run.monitor.start()
            try:
                self._loop(run, policy)
            finally:
                run.monitor.stop()

    def _stop_check(self, run: Run) -> None:
        """Raise Stop when the run must end now."""
        verdict, handle = run.monitor.verdict, run.handle
        run.verdict = str(verdict) if verdict.source else run.monitor.last_error
        limit = handle.request.max_steps
        if self._closing.is_set():
            raise Stop(
                "ERROR", UnavailableError("the vla_bridge is shutting down; the arm holds"), "shutting down"
            )
        if handle.is_cancel_requested:
            raise Stop(
                "CANCELED", CanceledError("canceled; the arm holds its position"), "canceled; the arm holds"
            )
        if self.goals.superseded(handle):
            raise Stop("PREEMPTED", PreemptedError("preempted by a newer run_policy goal"), "preempted")
        if verdict.done:
            raise Stop("DONE", None, f"done after {run.steps} steps: {verdict}")
        if time.monotonic() >= run.started + run.timeout:
            last = f" (last verdict: {run.verdict})" if run.verdict else ""
            message = f"ran the whole {run.timeout:g} s without the monitor saying done{last}"
            raise Stop("TIMEOUT", None if run.quiet else MaestroTimeoutError(message), message)
        if limit and run.steps >= limit:
            message = f"reached max_steps {limit} without the monitor saying done"
            raise Stop("MAX_STEPS", None if run.quiet else MaestroTimeoutError(message), message)
        stalled = run.watch.stalled()
        if stalled:
            raise Stop("NO_PROGRESS", StalledError(f"no progress: {stalled}"), f"no progress: {stalled}")

    def _loop(self, run: Run, policy: PolicyClient) -> None:
        """Observe, ask for a chunk, execute its first replan_steps rows; until a Stop."""
        limit = run.handle.request.max_steps
        while True:
            self._stop_check(run)
            joints, width = self.state()
            images = {c: self.image(c) for c in self.mapping.camera_names}
            observation = self.mapping.observation(
                {c: i for c, i in images.items() if i is not None},
                joints,
                width,
                run.handle.request.instruction,
                run.objects.current() if run.objects else None,
            )
            reply = policy.infer(observation)
            chunk = self.mapping.chunk(reply)
            run.chunks += 1
            run.latency += policy.last_latency or 0.0
            steps = min(self.params.replan_steps, len(chunk))
            if limit:
                steps = max(1, min(steps, limit - run.steps))
            self._execute_chunk(run, policy, self.mapping.targets(chunk, joints, steps))
            if bool(np.all(reply.get("done", False))):
                raise Stop("DONE", None, f"the policy reports its plan done after {run.steps} steps")

    def _execute_chunk(self, run: Run, policy: PolicyClient, targets: Targets) -> None:
        """Send the chunk's stretch to the arm and step through it; cancel the arm if the run must stop."""
        goal, clock = trajectory_goal(self.names.arm, targets.joints, targets.period), TrajectoryClock()
        sent = wait_future_blocking(self.arm.send_goal_async(goal, clock.on_feedback), 5.0)
        if sent is None or not sent.accepted:
            raise UnavailableError(
                f"the arm controller ({self.params.arm_action}) did not accept the trajectory"
            )
        outcome = sent.get_result_async()
        started, done = time.monotonic(), 0
        try:
            while done < targets.steps or not outcome.done():
                now = time.monotonic()
                elapsed = targets.steps * targets.period if outcome.done() else clock.elapsed()
                for k in range(done, min(targets.steps, int(elapsed / targets.period) + 1)):
                    self._step(run, policy, targets, k, now)
                    done = k + 1
                self._stop_check(run)
                if done >= targets.steps and now - started > targets.steps * targets.period + 2.0:
                    break  # the controller is slow to report: the next chunk's trajectory replaces this one
                time.sleep(0.005)
        except Stop:
            if not outcome.done():  # the arm holds where it is
                wait_future_blocking(sent.cancel_goal_async(), 2.0)
            raise

    def _step(self, run: Run, policy: PolicyClient, targets: Targets, k: int, now: float) -> None:
        """Step ``k`` of a chunk: the gripper when its target changes, the progress watch, feedback."""
        width_target = float(targets.widths[k])
        if run.gripper_target is None or abs(width_target - run.gripper_target) > 1e-3:
            run.gripper_target = width_target
            self.gripper.send_goal_async(gripper_goal(self.profile, width_target, self.params.gripper_force))
        joints, width = self.state()
        run.watch.update(self.robot_time(now), joints, width, float(targets.commanded[k]), width_target)
        run.steps += 1
        verdict = run.monitor.verdict
        infer_ms = (policy.last_server_timing or {}).get("infer_ms")
        run.handle.publish_feedback(
            RunPolicy.Feedback(
                state=RunPolicy.Feedback.DONE if verdict.done else RunPolicy.Feedback.RUNNING,
                step=run.steps,
                progress=float(verdict.progress),
                chunks=run.chunks,
                chunk_latency=float(policy.last_latency or 0.0),
                server_infer_ms=float(infer_ms) if isinstance(infer_ms, int | float) else -1.0,
                verdict=str(verdict) if verdict.source else (run.monitor.last_error or "no verdict yet"),
            )
        )


def main(args: Sequence[str] | None = None) -> int:
    return run_node(VlaBridgeNode, args)


if __name__ == "__main__":
    sys.exit(main())
