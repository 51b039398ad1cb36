"""The physics thread: owns the SimWorld, steps it in lock-step with the published clock, runs jobs.

Everything that touches MuJoCo (stepping, resets, rendering, scoring) happens in this one thread.
Other threads (ROS executor callbacks) submit work with ``call()`` and wait on the returned
future, so the executor is never blocked by rendering and MuJoCo is never used concurrently.
Plain Python: the node wires its publishers in through the ``Outputs`` callbacks.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from maestro_tools.common.errors import (
    ErrorCode,
    MaestroError,
    OutOfLimitsError,
    PreemptedError,
    StalledError,
)
from maestro_tools.sim.cameras import Frame
from maestro_tools.sim.control import GripperState, Trajectory
from maestro_tools.sim.world import SimWorld

T = TypeVar("T")


@dataclass
class Outputs:
    """Where the physics thread sends what it produces (the node's publishers)."""

    clock: Callable[[float], None] = lambda t: None
    joint_state: Callable[[float, list[str], np.ndarray, np.ndarray, np.ndarray], None] = lambda *a: None
    frame: Callable[[str, Frame, np.ndarray, np.ndarray], None] = lambda *a: None  # camera, frame, K, pose
    wants_camera: Callable[[str], bool] = lambda camera: False
    alive: Callable[[], bool] = lambda: True  # False once the node's context is shut down
    crashed: Callable[[BaseException], None] = lambda error: None  # the physics thread died


@dataclass
class Job:
    """A running trajectory or gripper command; ``done`` fires with an error code and message."""

    kind: str
    done: threading.Event = field(default_factory=threading.Event)
    code: ErrorCode = ErrorCode.OK
    message: str = ""
    progress: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def finish(self, code: ErrorCode, message: str, **details: Any) -> None:
        self.code, self.message = code, message
        self.details.update(details)
        self.done.set()


@dataclass(frozen=True)
class RunnerConfig:
    real_time_factor: float = 1.0  # 0 = as fast as possible
    steps_per_tick: int = 5  # physics steps between clock messages
    joint_state_rate: float = 100.0
    camera_rate: float = 10.0
    cameras: tuple[str, ...] = ("scene", "wrist")
    goal_tolerance: float = 0.02  # rad
    settle_timeout: float = 1.5  # s after the trajectory's end to reach the tolerance


class PhysicsRunner:
    def __init__(self, world: SimWorld, config: RunnerConfig, outputs: Outputs) -> None:
        self.world, self.config, self.outputs = world, config, outputs
        self._commands: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="physics", daemon=True)
        self.trajectory_job: Job | None = None
        self._trajectory_tolerance = config.goal_tolerance
        self.gripper_job: Job | None = None
        self._gripper: GripperState | None = None
        self._next_joint_state = 0.0
        self._next_frame = 0.0
        self.error: BaseException | None = None

    # -- thread control --------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def call(self, function: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``function`` in the physics thread and return its result (or raise its error)."""
        if not self._thread.is_alive():
            raise MaestroError("the physics thread is not running")
        future: Future[T] = Future()
        self._commands.put((function, future))
        return future.result(timeout=timeout)

    def _run(self) -> None:
        wall_start, sim_start = time.monotonic(), self.world.time
        try:
            while not self._stop.is_set():
                self._drain_commands()
                self.world.step(self.config.steps_per_tick)
                now = self.world.time
                self.outputs.clock(now)
                self._update_jobs(now)
                self._publish(now)
                if self.config.real_time_factor > 0:
                    ahead = (now - sim_start) / self.config.real_time_factor - (time.monotonic() - wall_start)
                    if ahead > 0:
                        self._stop.wait(ahead)
                    elif ahead < -0.05:  # fell behind (rendering, load): run on, do not burst to catch up
                        wall_start, sim_start = time.monotonic(), now
        except BaseException as exc:
            if self.outputs.alive():
                self.error = exc
                self.outputs.crashed(exc)
                raise
            # The process is shutting down (SIGINT/SIGTERM) and publishing failed: end quietly.
        finally:
            self.world.close()
            for job in (self.trajectory_job, self.gripper_job):
                if job is not None and not job.done.is_set():
                    job.finish(ErrorCode.CANCELED, "the simulation stopped")

    def _drain_commands(self) -> None:
        while True:
            try:
                function, future = self._commands.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function())
                except BaseException as exc:
                    future.set_exception(exc)

    # -- publishing ------------------------------------------------------------------------------
    def _publish(self, now: float) -> None:
        if now >= self._next_joint_state:
            self._next_joint_state = now + 1.0 / self.config.joint_state_rate
            self.outputs.joint_state(now, *self.world.joint_state())
        if self.config.camera_rate > 0 and now >= self._next_frame:
            self._next_frame = now + 1.0 / self.config.camera_rate
            wanted = [c for c in self.config.cameras if self.outputs.wants_camera(c)]
            if wanted:
                cameras = self.world.render_cameras()
                for camera in wanted:
                    frame = cameras.frame(self.world.data, camera)
                    self.outputs.frame(
                        camera, frame, cameras.intrinsics(camera), cameras.pose(self.world.data, camera)
                    )

    # -- jobs (run in the physics thread through call()) -----------------------------------------
    def preempt(self, reason: str) -> None:
        for job in (self.trajectory_job, self.gripper_job):
            if job is not None and not job.done.is_set():
                job.finish(ErrorCode.PREEMPTED, reason)
        self.trajectory_job = self.gripper_job = None
        self._gripper = None

    def start_trajectory(self, trajectory: Trajectory, tolerance: float) -> Job:
        if self.trajectory_job is not None and not self.trajectory_job.done.is_set():
            self.trajectory_job.finish(PreemptedError.code, "preempted by a newer trajectory goal")
        job = Job("trajectory")
        self.world.start_trajectory(trajectory)
        self.trajectory_job, self._trajectory_tolerance = job, tolerance or self.config.goal_tolerance
        return job

    def cancel_trajectory(self, job: Job) -> None:
        if self.trajectory_job is job:
            self.world.hold()
            self.trajectory_job = None
        if not job.done.is_set():
            job.finish(ErrorCode.CANCELED, "trajectory canceled; the arm holds its position")

    def start_gripper(self, width: float) -> Job:
        limit = self.world.gripper.max_width
        if not 0.0 <= width <= limit:
            raise OutOfLimitsError(f"gripper width {width:.4f} m is outside [0, {limit}] m")
        if self.gripper_job is not None and not self.gripper_job.done.is_set():
            self.gripper_job.finish(PreemptedError.code, "preempted by a newer gripper goal")
        self.world.set_gripper(width)
        self.gripper_job = Job("gripper")
        self._gripper = GripperState(width, self.world.time)
        return self.gripper_job

    def _update_jobs(self, now: float) -> None:
        job, trajectory = self.trajectory_job, self.world.trajectory
        if job is not None and trajectory is not None:
            elapsed = now - trajectory.start_time
            job.progress = min(1.0, elapsed / trajectory.duration)
            actual = self.world.arm_positions()[trajectory.indices]
            error = np.abs(actual - trajectory.positions[-1])
            job.details.update(desired=trajectory.target(now), actual=actual, elapsed=elapsed)
            if elapsed >= trajectory.duration and error.max() <= self._trajectory_tolerance:
                job.finish(ErrorCode.OK, "trajectory complete", final=actual, max_error=float(error.max()))
                self.trajectory_job = None
            elif elapsed >= trajectory.duration + self.config.settle_timeout:
                worst = int(np.argmax(error))
                name = self.world.limits.names[trajectory.indices[worst]]
                self.world.hold()
                job.finish(
                    StalledError.code,
                    f"the arm stalled: {name} is {error[worst]:.3f} rad from its goal "
                    f"{self.config.settle_timeout:.1f} s after the trajectory ended (blocked by contact?)",
                    final=actual,
                    max_error=float(error.max()),
                )
                self.trajectory_job = None
        gripper, state = self.gripper_job, self._gripper
        if gripper is not None and state is not None:
            width = self.world.gripper_width()
            gripper.details["width"] = width
            if state.update(now, width):
                held = [label for label in self.world.info.objects if self.world.grasped(label)]
                gripper.finish(ErrorCode.OK, f"gripper at {width:.4f} m", width=width, held=held)
                self.gripper_job, self._gripper = None, None
